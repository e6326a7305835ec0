/** The vCPU contract shared by every CPU backend: exits and register state. Depends on memory only. */
package org.jvisor.cpu;
