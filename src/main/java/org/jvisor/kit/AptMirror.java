package org.jvisor.kit;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * The Debian archive this host's apt already uses, so an image is built from the same mirror the
 * host trusts (no mirror is written into jvisor). Reads one-line {@code sources.list} entries and
 * deb822 {@code *.sources} files; a security or ports archive is not the main archive.
 */
public final class AptMirror {
    private AptMirror() {}

    /** The main archive's URI from /etc/apt, if one is configured. */
    public static Optional<String> find() throws IOException {
        return find(Path.of("/etc/apt"));
    }

    static Optional<String> find(Path etcApt) throws IOException {
        List<Path> files = new ArrayList<>();
        if (Files.isRegularFile(etcApt.resolve("sources.list"))) files.add(etcApt.resolve("sources.list"));
        Path d = etcApt.resolve("sources.list.d");
        if (Files.isDirectory(d)) {
            try (Stream<Path> s = Files.list(d)) {
                s.filter(p -> p.toString().endsWith(".list") || p.toString().endsWith(".sources")).sorted().forEach(files::add);
            }
        }
        for (Path f : files) {
            for (String uri : f.toString().endsWith(".sources") ? deb822(Files.readString(f)) : oneLine(Files.readString(f))) {
                if (isMainArchive(uri)) return Optional.of(uri.replaceAll("/+$", ""));
            }
        }
        return Optional.empty();
    }

    /** URIs of "deb" lines (not deb-src) in the one-line format; options in [brackets] are skipped. */
    static List<String> oneLine(String text) {
        List<String> out = new ArrayList<>();
        for (String line : text.lines().toList()) {
            String l = line.strip();
            if (!l.startsWith("deb ")) continue;
            l = l.substring(4).strip();
            if (l.startsWith("[")) l = l.substring(l.indexOf(']') + 1).strip();
            String[] f = l.split("\\s+");
            if (f.length >= 2) out.add(f[0]);
        }
        return out;
    }

    /** URIs of the stanzas whose Types include deb, with Enabled not set to no. */
    static List<String> deb822(String text) {
        List<String> out = new ArrayList<>();
        for (String stanza : text.split("\\n\\s*\\n")) {
            String types = "", uris = "", enabled = "yes";
            for (String line : stanza.lines().toList()) {
                if (line.startsWith("#")) continue;
                int c = line.indexOf(':');
                if (c < 0) continue;
                String k = line.substring(0, c).strip().toLowerCase(), v = line.substring(c + 1).strip();
                switch (k) {
                    case "types" -> types = v;
                    case "uris" -> uris = v;
                    case "enabled" -> enabled = v;
                    default -> { }
                }
            }
            if (List.of(types.split("\\s+")).contains("deb") && !enabled.equalsIgnoreCase("no")) {
                for (String u : uris.split("\\s+")) if (!u.isEmpty()) out.add(u);
            }
        }
        return out;
    }

    private static boolean isMainArchive(String uri) {
        return (uri.startsWith("http://") || uri.startsWith("https://") || uri.startsWith("file:/"))
                && !uri.contains("security") && !uri.contains("-ports") && uri.replaceAll("/+$", "").endsWith("/debian");
    }
}
