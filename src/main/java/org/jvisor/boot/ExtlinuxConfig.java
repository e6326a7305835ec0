package org.jvisor.boot;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * An extlinux/syslinux config: the DEFAULT label (or MENU DEFAULT, or the first label), its
 * LINUX/KERNEL, INITRD and APPEND. Relative paths are relative to the config's directory.
 */
final class ExtlinuxConfig {
    private ExtlinuxConfig() {}

    private record Label(String name, String kernel, String initrd, String append, boolean menuDefault) {}

    /** The entry to boot, or null when the config names no kernel. */
    static ConfigEntry parse(String text, String dir) {
        List<Label> labels = new ArrayList<>();
        String def = null, name = null, kernel = null, initrd = null, append = null;
        boolean menuDefault = false;
        for (String raw : text.split("\r?\n")) {
            String line = raw.strip();
            if (line.isEmpty() || line.startsWith("#")) continue;
            String[] kv = line.split("\\s+", 2);
            String key = kv[0].toLowerCase(Locale.ROOT), value = kv.length > 1 ? kv[1].strip() : "";
            switch (key) {
                case "default" -> def = value;
                case "label" -> {
                    if (name != null) labels.add(new Label(name, kernel, initrd, append, menuDefault));
                    name = value;
                    kernel = initrd = append = null;
                    menuDefault = false;
                }
                case "linux", "kernel" -> kernel = value;
                case "initrd" -> initrd = value;
                case "append" -> append = value;
                case "menu" -> menuDefault |= value.toLowerCase(Locale.ROOT).equals("default");
                default -> {}
            }
        }
        if (name != null) labels.add(new Label(name, kernel, initrd, append, menuDefault));
        Label chosen = null;
        if (def != null) {
            for (Label l : labels) if (l.name().equals(def)) chosen = l;
        }
        if (chosen == null) for (Label l : labels) if (l.menuDefault() && chosen == null) chosen = l;
        if (labels.isEmpty() && def != null && !def.isEmpty()) {
            // syslinux treats a DEFAULT naming no label as a kernel with its arguments
            String[] p = def.split("\\s+", 2);
            return entry(p[0], null, p.length > 1 ? p[1] : null, dir);
        }
        if (chosen == null && !labels.isEmpty()) chosen = labels.getFirst();
        if (chosen == null || chosen.kernel() == null) return null;
        return entry(chosen.kernel(), chosen.initrd(), chosen.append(), dir);
    }

    private static ConfigEntry entry(String kernel, String initrd, String append, String dir) {
        List<String> initrds = new ArrayList<>();
        String cmdline = null;
        if (append != null) {
            List<String> kept = new ArrayList<>();
            for (String w : append.split("\\s+")) {
                if (w.startsWith("initrd=")) {
                    if (initrd == null) initrd = w.substring(7);
                } else if (!w.isEmpty()) {
                    kept.add(w);
                }
            }
            cmdline = String.join(" ", kept);
        }
        if (initrd != null) for (String i : initrd.split(",")) if (!i.isBlank()) initrds.add(resolve(i.strip(), dir));
        return new ConfigEntry(resolve(kernel.split("\\s+")[0], dir), initrds, cmdline);
    }

    private static String resolve(String path, String dir) {
        return path.startsWith("/") ? path : dir + "/" + path;
    }
}
