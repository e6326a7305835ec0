/**
 * virtio 1.x devices on the modern PCI transport: split virtqueues read defensively from guest
 * memory, and the block, entropy (and later network, console, balloon) devices behind them.
 * Device work runs on the device's own thread; the vCPU only posts notifications.
 */
package org.jvisor.devices.virtio;
