package org.jvisor.boot;

import java.util.List;

/** What a bootloader config names: a kernel path, initrd paths (concatenated, as Linux allows) and a cmdline (null: none given). */
record ConfigEntry(String kernel, List<String> initrds, String cmdline) {}
