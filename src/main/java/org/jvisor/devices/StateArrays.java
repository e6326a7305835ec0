package org.jvisor.devices;

/**
 * Copies of the arrays a device's saved state holds, checked for the size the device needs: a
 * damaged or hostile state file ends in an {@link IllegalArgumentException} naming the field,
 * never in an index past an array.
 */
public final class StateArrays {
    private StateArrays() {}

    public static int[] ints(int[] a, int n, String what) {
        check(a == null ? -1 : a.length, n, what);
        return a.clone();
    }

    public static long[] longs(long[] a, int n, String what) {
        check(a == null ? -1 : a.length, n, what);
        return a.clone();
    }

    public static boolean[] booleans(boolean[] a, int n, String what) {
        check(a == null ? -1 : a.length, n, what);
        return a.clone();
    }

    public static byte[] bytes(byte[] a, int n, String what) {
        check(a == null ? -1 : a.length, n, what);
        return a.clone();
    }

    /** A value that must lie in [min, max]. */
    public static int range(int v, int min, int max, String what) {
        if (v < min || v > max) throw new IllegalArgumentException(what + " " + v + " is not within " + min + "-" + max);
        return v;
    }

    private static void check(int len, int n, String what) {
        if (len != n) throw new IllegalArgumentException(what + " needs " + n + " entries, has " + (len < 0 ? "none" : len));
    }
}
