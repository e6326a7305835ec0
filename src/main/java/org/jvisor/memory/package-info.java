/** Guest-physical RAM as native memory segments, with checked little-endian access. Depends on nothing. */
package org.jvisor.memory;
