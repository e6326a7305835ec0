package org.jvisor.cli;

import java.util.Locale;

/** Parses sizes as qemu-img does: bytes, or a number with K, M, G, T, P, E (powers of 1024). */
final class Sizes {
    private Sizes() {}

    static long parse(String s) {
        String t = s.trim().toUpperCase(Locale.ROOT);
        if (t.endsWith("B") && t.length() > 1 && !Character.isDigit(t.charAt(t.length() - 2))) t = t.substring(0, t.length() - 1);
        if (t.isEmpty()) throw new IllegalArgumentException("empty size");
        char unit = t.charAt(t.length() - 1);
        int shift = switch (unit) {
            case 'K' -> 10;
            case 'M' -> 20;
            case 'G' -> 30;
            case 'T' -> 40;
            case 'P' -> 50;
            case 'E' -> 60;
            default -> 0;
        };
        String num = shift == 0 ? t : t.substring(0, t.length() - 1);
        double v;
        try {
            v = Double.parseDouble(num);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("invalid size '" + s + "'");
        }
        if (!(v >= 0) || Double.isInfinite(v)) throw new IllegalArgumentException("invalid size '" + s + "'");
        double bytes = v * Math.pow(2, shift);
        if (bytes > Long.MAX_VALUE / 2) throw new IllegalArgumentException("size '" + s + "' too large");
        return (long) bytes;
    }

    static String human(long bytes) {
        String[] u = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        double v = bytes;
        int k = 0;
        while (v >= 1024 && k < u.length - 1) {
            v /= 1024;
            k++;
        }
        return k == 0 ? bytes + " B" : String.format(Locale.ROOT, "%.3g %s", v, u[k]);
    }
}
