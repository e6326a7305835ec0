package org.jvisor.cli;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A TCP client for the network tests, run in the test's network namespace ({@code ip netns exec}):
 * sends a numbered line every 100 ms to an echo server in the guest until a stop file appears,
 * and checks every line came back, in order. Prints one line:
 * {@code echo: sent=N received=M in-order=true longest-silence-ms=S}; exits 0 when all came back.
 */
public final class EchoClient {
    public static void main(String[] args) throws Exception {
        String host = args[0];
        int port = Integer.parseInt(args[1]);
        Path stop = Path.of(args[2]);
        Socket s = null;
        long until = System.nanoTime() + 120_000_000_000L;
        while (s == null) {
            try {
                s = new Socket();
                s.connect(new InetSocketAddress(host, port), 5000);
            } catch (java.io.IOException e) {
                s = null;
                if (System.nanoTime() > until) throw e;
                Thread.sleep(500);
            }
        }
        System.out.println("echo: connected");
        System.out.flush();
        Socket sock = s;
        int[] received = {0};
        boolean[] inOrder = {true};
        long[] last = {System.nanoTime()}, longest = {0};
        String[] ended = {"open"};
        Thread reader = Thread.ofPlatform().start(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(sock.getInputStream(), StandardCharsets.US_ASCII))) {
                for (String line; (line = in.readLine()) != null; ) {
                    long now = System.nanoTime();
                    synchronized (received) {
                        if (!line.equals("msg " + received[0])) inOrder[0] = false;
                        received[0]++;
                        longest[0] = Math.max(longest[0], now - last[0]);
                        last[0] = now;
                    }
                }
                ended[0] = "closed by the guest";
            } catch (java.io.IOException e) {
                ended[0] = "broken: " + e; // counted below
            }
        });
        OutputStream out = sock.getOutputStream();
        int sent = 0;
        try {
            while (!Files.exists(stop) && reader.isAlive()) {
                out.write(("msg " + sent + "\n").getBytes(StandardCharsets.US_ASCII));
                out.flush();
                sent++;
                Thread.sleep(100);
            }
        } catch (java.io.IOException e) {
            ended[0] = "broken while sending: " + e;
        }
        long wait = System.nanoTime() + 30_000_000_000L;
        while (System.nanoTime() < wait && reader.isAlive()) {
            synchronized (received) {
                if (received[0] >= sent) break;
            }
            Thread.sleep(50);
        }
        if (!sock.isClosed()) sock.shutdownOutput();
        reader.join(5000);
        synchronized (received) {
            System.out.printf("echo: sent=%d received=%d in-order=%b longest-silence-ms=%d connection=%s%n", sent, received[0], inOrder[0],
                    longest[0] / 1_000_000, ended[0]);
            System.exit(received[0] == sent && inOrder[0] ? 0 : 1);
        }
    }
}
