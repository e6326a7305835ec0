/**
 * PCI: configuration spaces with BARs and capabilities, MSI-X, and the host bridge that decodes
 * configuration cycles (0xCF8/0xCFC and ECAM) and the BARs it placed in the PCI hole.
 */
package org.jvisor.devices.pci;
