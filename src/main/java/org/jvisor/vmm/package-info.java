/** Assembles a machine (memory, vCPU, devices, boot) and runs it. The only place CPUs meet devices. */
package org.jvisor.vmm;
