/** Guest-physical RAM as native memory segments, with checked little-endian access. Depends on sys (the mapping). */
package org.jvisor.memory;
