/**
 * Interrupt controllers of the software backend: the local APIC of each vCPU (with its timer)
 * and the IOAPIC that turns device lines into APIC messages.
 */
package org.jvisor.devices.irq;
