package org.jvisor.boot;

import java.util.ArrayList;
import java.util.List;

/**
 * The subset of grub.cfg that grub-mkconfig writes: {@code set default=}, {@code menuentry} and
 * {@code submenu} blocks, and their {@code linux} and {@code initrd} lines. Nothing is executed:
 * conditionals are read through, and a kernel path built from variables makes the entry unusable.
 */
final class GrubConfig {
    private GrubConfig() {}

    /** A menuentry, or a submenu with its own entries. */
    private record Item(String title, String id, ConfigEntry entry, List<Item> children) {}

    /** The default entry (a numeric default, "N>M" into submenus, a title or id), else the first usable one; null if none. */
    static ConfigEntry parse(String text) {
        List<Item> top = new ArrayList<>();
        List<List<Item>> stack = new ArrayList<>();
        stack.add(top);
        List<String> open = new ArrayList<>(); // what each '{' opened: "menuentry", "submenu" or "other"
        String def = null, title = null, id = null, kernel = null, cmdline = null;
        List<String> initrds = new ArrayList<>();
        for (String raw : text.split("\r?\n")) {
            String line = raw.strip();
            if (line.isEmpty() || line.startsWith("#")) continue;
            List<String> w = words(line);
            if (w.isEmpty()) continue;
            String cmd = w.getFirst();
            boolean opens = line.endsWith("{");
            if ((cmd.equals("menuentry") || cmd.equals("submenu")) && opens) {
                title = w.size() > 1 ? w.get(1) : "";
                id = null;
                for (int i = 2; i + 1 < w.size(); i++) if (w.get(i).equals("--id") || w.get(i).equals("$menuentry_id_option")) id = w.get(i + 1);
                if (cmd.equals("submenu")) {
                    List<Item> kids = new ArrayList<>();
                    stack.getLast().add(new Item(title, id, null, kids));
                    stack.add(kids);
                } else {
                    kernel = cmdline = null;
                    initrds = new ArrayList<>();
                }
                open.add(cmd);
                continue;
            }
            if (line.equals("}") || line.startsWith("}")) {
                String what = open.isEmpty() ? "other" : open.removeLast();
                if (what.equals("menuentry")) {
                    stack.getLast().add(new Item(title, id, kernel == null ? null : new ConfigEntry(kernel, initrds, cmdline), List.of()));
                } else if (what.equals("submenu") && stack.size() > 1) {
                    stack.removeLast();
                }
                continue;
            }
            if (opens) open.add("other");
            boolean inEntry = open.contains("menuentry");
            switch (cmd) {
                case "set" -> {
                    if (!inEntry && w.size() > 1 && w.get(1).startsWith("default=")) def = w.get(1).substring(8);
                }
                case "linux", "linux16", "linuxefi" -> {
                    if (inEntry && w.size() > 1) {
                        String path = stripDevice(w.get(1));
                        kernel = path.contains("$") ? null : path;
                        List<String> args = new ArrayList<>();
                        for (String a : w.subList(2, w.size())) if (!a.startsWith("$")) args.add(a);
                        cmdline = String.join(" ", args);
                    }
                }
                case "initrd", "initrd16", "initrdefi" -> {
                    if (inEntry) {
                        initrds = new ArrayList<>();
                        for (String a : w.subList(1, w.size())) {
                            String p = stripDevice(a);
                            if (p.contains("$")) {
                                kernel = null;
                                break;
                            }
                            initrds.add(p);
                        }
                    }
                }
                default -> {}
            }
        }
        Item chosen = pick(top, def);
        if (chosen != null) return chosen.entry();
        return first(top);
    }

    private static Item pick(List<Item> items, String def) {
        if (def == null || def.isEmpty() || def.contains("$")) return null;
        String[] path = def.split(">");
        List<Item> level = items;
        Item found = null;
        for (String p : path) {
            found = null;
            try {
                int n = Integer.parseInt(p);
                if (n >= 0 && n < level.size()) found = level.get(n);
            } catch (NumberFormatException e) {
                for (Item i : level) if (p.equals(i.title()) || p.equals(i.id())) found = i;
            }
            if (found == null) return null;
            level = found.children();
        }
        if (found.entry() != null) return found;
        ConfigEntry e = first(found.children());
        return e == null ? null : new Item(found.title(), found.id(), e, List.of());
    }

    private static ConfigEntry first(List<Item> items) {
        for (Item i : items) {
            if (i.entry() != null) return i.entry();
            ConfigEntry e = first(i.children());
            if (e != null) return e;
        }
        return null;
    }

    /** "(hd0,gpt1)/boot/x" and "($root)/x" name a path on the device the config came from, as far as we can tell. */
    private static String stripDevice(String p) {
        if (p.startsWith("(")) {
            int close = p.indexOf(')');
            if (close > 0) return p.substring(close + 1);
        }
        return p;
    }

    /** Shell-like words: single and double quotes, backslash escapes. */
    static List<String> words(String line) {
        List<String> out = new ArrayList<>();
        StringBuilder cur = null;
        char quote = 0;
        for (int i = 0; i < line.length(); i++) {
            char c = line.charAt(i);
            if (quote != 0) {
                if (c == quote) quote = 0;
                else if (c == '\\' && quote == '"' && i + 1 < line.length()) cur.append(line.charAt(++i));
                else cur.append(c);
            } else if (c == '\'' || c == '"') {
                if (cur == null) cur = new StringBuilder();
                quote = c;
            } else if (c == '\\' && i + 1 < line.length()) {
                if (cur == null) cur = new StringBuilder();
                cur.append(line.charAt(++i));
            } else if (Character.isWhitespace(c)) {
                if (cur != null) out.add(cur.toString());
                cur = null;
            } else {
                if (cur == null) cur = new StringBuilder();
                cur.append(c);
            }
        }
        if (cur != null) out.add(cur.toString());
        return out;
    }
}
