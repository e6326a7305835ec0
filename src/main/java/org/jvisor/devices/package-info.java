/** Emulated devices. Devices get guest memory and an interrupt line; they never see the CPU backend. */
package org.jvisor.devices;
