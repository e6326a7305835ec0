package org.jvisor.daemon;

import java.util.Locale;

/** What a token may do; each role may do all that the ones before it may. */
public enum Role {
    /** Reads everything but the consoles. */
    AUDITOR,
    /** And powers VMs on and off, pauses them, and uses their consoles. */
    OPERATOR,
    /** And defines and deletes VMs and manages tokens. */
    ADMIN;

    public boolean allows(Role needed) {
        return compareTo(needed) >= 0;
    }

    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The role of a wire name, or null for an unknown one. */
    public static Role parse(String s) {
        for (Role r : values()) if (r.wireName().equals(s)) return r;
        return null;
    }
}
