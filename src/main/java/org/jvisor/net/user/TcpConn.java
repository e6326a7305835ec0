package org.jvisor.net.user;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * One TCP connection of the guest, ended here: the guest talks TCP with this object, which
 * plays the far end (the address the guest connected to, or the gateway for a forwarded port)
 * and moves the bytes to and from a host socket. Sequence numbers are ints compared by their
 * difference, so they wrap as RFC 793's do.
 *
 * <p>What it does of TCP: the handshake both ways (the guest's SYN, or ours for a forwarded
 * port), MSS and window scaling (RFC 7323; no timestamps or SACK, so the guest sends neither),
 * flow control both ways (the guest's window bounds what is in flight; ours is the free room of
 * the buffer towards the host socket, so a slow host reader slows the guest, not the memory),
 * segments out of order kept until the gap fills, retransmission by timer (go-back-N from the
 * oldest unacknowledged byte, doubling from 200 ms), zero-window probes, half-close each way, and
 * RST both ways. Single-threaded: the stack's thread calls everything.
 */
final class TcpConn {
    static final int FIN = 1, SYN = 2, RST = 4, PSH = 8, ACK = 16;
    static final int SEND_CAP = 256 << 10, RECV_CAP = 256 << 10, OUR_WSCALE = 3, OUR_MSS = 1460;
    static final long RTO_MIN = 200_000_000L, RTO_MAX = 10_000_000_000L;
    static final int MAX_RETRIES = 12, MAX_OUT_OF_ORDER = 64;

    enum State { CONNECTING, SYN_SENT, ESTABLISHED, CLOSED }

    /** How segments reach the guest. */
    interface Link {
        /** A frame for a TCP segment of {@code tcpLen} bytes to the guest, its IP header filled; the segment goes at {@link Packets#IP} + 20. */
        byte[] frame(TcpConn c, int tcpLen);

        /** Sends the frame once its TCP header and payload are written (the link completes the checksum or leaves it to the guest's offload). */
        void emit(TcpConn c, byte[] frame, int tcpLen, int payloadLen);

        /** Payload bytes one frame may carry: the guest's MSS, or up to 64 KiB where the guest takes TSO frames. */
        int maxSegment(TcpConn c);

        long now();
    }

    /** The host socket's side. */
    interface Host {
        int read(ByteBuffer b) throws IOException;

        int write(ByteBuffer b) throws IOException;

        void shutdownOutput() throws IOException;

        /** Closes the socket; {@code abort}: with a reset rather than an orderly close. */
        void close(boolean abort);

        /** Which readiness the stack should wait for. */
        void want(boolean read, boolean write);
    }

    private record Pending(int seq, byte[] data) {}

    final int guestIp, guestPort, peerIp, peerPort;
    private final Link link;
    private Host host;
    State state;
    private int iss, sndUna, sndNxt, sndMax, rcvNxt;
    private long sndWnd;
    int guestMss = 536;
    private int guestWscale;
    private boolean wscaleOk;
    private final byte[] ring = new byte[SEND_CAP];
    private int ringHead, ringLen;
    private final ByteBuffer recv = ByteBuffer.allocate(RECV_CAP);
    private final List<Pending> outOfOrder = new ArrayList<>();
    private boolean synAcked, guestFin, hostEof, finSent, finAcked, hostShut;
    private long rtoAt, rto = RTO_MIN;
    private int retries, lastAdvertised;
    long closedAt;
    long segmentsIn, segmentsOut, retransmits;

    private TcpConn(int guestIp, int guestPort, int peerIp, int peerPort, Link link, int iss) {
        this.guestIp = guestIp;
        this.guestPort = guestPort;
        this.peerIp = peerIp;
        this.peerPort = peerPort;
        this.link = link;
        this.iss = iss;
        this.sndUna = this.sndNxt = this.sndMax = iss;
    }

    /** The guest's SYN: the host socket is being connected; {@link #connected} or {@link #connectFailed} follows. */
    static TcpConn passive(int guestIp, int guestPort, int peerIp, int peerPort, Link link, int iss, int guestIss, int window, byte[] f, int optOff, int optLen) {
        TcpConn c = new TcpConn(guestIp, guestPort, peerIp, peerPort, link, iss);
        c.state = State.CONNECTING;
        c.rcvNxt = guestIss + 1;
        c.options(f, optOff, optLen);
        c.sndWnd = window;
        return c;
    }

    /** A forwarded port's client arrived: we send the guest a SYN from the gateway. */
    static TcpConn active(int guestIp, int guestPort, int peerIp, int peerPort, Link link, int iss, Host host) {
        TcpConn c = new TcpConn(guestIp, guestPort, peerIp, peerPort, link, iss);
        c.state = State.SYN_SENT;
        c.host = host;
        host.want(false, false);
        c.sndNxt = c.sndMax = iss + 1;
        c.send(SYN, iss, 0, 0, true);
        c.arm();
        return c;
    }

    private void options(byte[] f, int off, int len) {
        guestWscale = -1;
        for (int i = off; i < off + len; ) {
            int kind = Packets.u8(f, i);
            if (kind == 0) break;
            if (kind == 1) {
                i++;
                continue;
            }
            if (i + 1 >= off + len) break;
            int l = Packets.u8(f, i + 1);
            if (l < 2 || i + l > off + len) break;
            if (kind == 2 && l == 4) guestMss = Math.max(64, Math.min(Packets.u16(f, i + 2), 65495));
            if (kind == 3 && l == 3) guestWscale = Math.min(Packets.u8(f, i + 2), 14);
            i += l;
        }
        wscaleOk = guestWscale >= 0;
        if (!wscaleOk) guestWscale = 0;
    }

    void connected(Host h) {
        host = h;
        state = State.ESTABLISHED;
        sndNxt = sndMax = iss + 1;
        send(SYN | ACK, iss, 0, 0, true);
        arm();
        interest();
    }

    void connectFailed() {
        send(RST | ACK, 0, 0, 0, false);
        state = State.CLOSED;
        closedAt = link.now();
    }

    /** A segment from the guest for this connection. */
    void segment(int flags, int seq, int ack, int window, byte[] f, int optOff, int optLen, int dataOff, int dataLen) {
        segmentsIn++;
        if (state == State.CLOSED) {
            // lingering: the guest's last FIN or data gets an ACK, so it need not time out
            if ((flags & RST) == 0 && ((flags & FIN) != 0 || dataLen > 0)) send(ACK, sndNxt, 0, 0, false);
            return;
        }
        if ((flags & RST) != 0) {
            if (state == State.SYN_SENT ? (flags & ACK) != 0 && ack == iss + 1 : inWindow(seq)) abort(false);
            return;
        }
        if (state == State.SYN_SENT) {
            if ((flags & (SYN | ACK)) == (SYN | ACK) && ack == iss + 1) {
                rcvNxt = seq + 1;
                options(f, optOff, optLen);
                sndUna = iss + 1;
                synAcked = true;
                sndWnd = window;
                state = State.ESTABLISHED;
                rtoAt = 0;
                retries = 0;
                send(ACK, sndNxt, 0, 0, false);
                interest();
            }
            return;
        }
        if (state == State.CONNECTING) return; // the guest's SYN again, while the host connects
        if ((flags & SYN) != 0) {
            if (!synAcked) send(SYN | ACK, iss, 0, 0, true); // our SYN-ACK was lost
            return;
        }
        if ((flags & ACK) == 0) return;
        int acked = ack - sndUna;
        if (acked > 0 && acked <= sndMax - sndUna) {
            boolean wasFull = ringLen == SEND_CAP;
            if (!synAcked) {
                synAcked = true;
                sndUna++;
                acked--;
            }
            int d = Math.min(acked, ringLen);
            ringHead = (ringHead + d) % SEND_CAP;
            ringLen -= d;
            sndUna += d;
            acked -= d;
            if (acked > 0 && hostEof && ringLen == 0 && !finAcked) {
                finAcked = true;
                sndUna++;
            }
            if (sndNxt - sndUna < 0) sndNxt = sndUna;
            retries = 0;
            rto = RTO_MIN;
            rtoAt = sndUna == sndMax ? 0 : link.now() + rto;
            if (wasFull) interest();
        }
        sndWnd = (long) window << guestWscale;
        boolean ackNow = false;
        if (dataLen > 0 || (flags & FIN) != 0) {
            ackNow = true;
            int skip = rcvNxt - seq;
            if (skip >= 0) {
                if (skip < dataLen) {
                    int take = Math.min(dataLen - skip, recv.remaining());
                    recv.put(f, dataOff + skip, take);
                    rcvNxt += take;
                    if (take == dataLen - skip && (flags & FIN) != 0 && !guestFin) {
                        rcvNxt++;
                        guestFin = true;
                    }
                } else if (skip == dataLen && (flags & FIN) != 0 && !guestFin) {
                    rcvNxt++;
                    guestFin = true;
                }
                drainOutOfOrder();
            } else if (-skip < RECV_CAP && dataLen > 0 && outOfOrder.size() < MAX_OUT_OF_ORDER) {
                byte[] d = new byte[dataLen];
                System.arraycopy(f, dataOff, d, 0, dataLen);
                outOfOrder.add(new Pending(seq, d));
            }
        }
        flushToHost();
        if (state == State.CLOSED) return;
        if (ackNow) send(ACK, sndNxt, 0, 0, false);
        pump();
        maybeClose();
    }

    private boolean inWindow(int seq) {
        int d = seq - rcvNxt;
        return d >= 0 && d <= Math.max(1, RECV_CAP);
    }

    private void drainOutOfOrder() {
        boolean progress = true;
        while (progress && !outOfOrder.isEmpty()) {
            progress = false;
            for (int i = 0; i < outOfOrder.size(); i++) {
                Pending p = outOfOrder.get(i);
                int skip = rcvNxt - p.seq();
                if (skip < 0) continue;
                outOfOrder.remove(i);
                if (skip < p.data().length) {
                    int take = Math.min(p.data().length - skip, recv.remaining());
                    recv.put(p.data(), skip, take);
                    rcvNxt += take;
                }
                progress = true;
                break;
            }
        }
    }

    /** The host socket can take more. */
    void hostWritable() {
        flushToHost();
        if (state != State.CLOSED) maybeClose();
    }

    private void flushToHost() {
        if (host == null || state == State.CLOSED) return;
        if (recv.position() > 0) {
            recv.flip();
            try {
                host.write(recv);
            } catch (IOException e) {
                recv.compact();
                abort(true);
                return;
            }
            recv.compact();
            // tell the guest of the room it made once it is worth a segment or two
            if (free() - lastAdvertised >= 2 * OUR_MSS || lastAdvertised < OUR_MSS && free() >= OUR_MSS) send(ACK, sndNxt, 0, 0, false);
        }
        if (guestFin && recv.position() == 0 && !hostShut) {
            hostShut = true;
            try {
                host.shutdownOutput();
            } catch (IOException e) {
                // the host side is gone: it reads nothing more either way
            }
        }
        interest();
    }

    /** The host socket has bytes (or its end). */
    void hostReadable() {
        if (host == null || state == State.CLOSED) return;
        while (ringLen < SEND_CAP && !hostEof) {
            int tail = (ringHead + ringLen) % SEND_CAP;
            int n = Math.min(SEND_CAP - ringLen, SEND_CAP - tail);
            int r;
            try {
                r = host.read(ByteBuffer.wrap(ring, tail, n));
            } catch (IOException e) {
                abort(true);
                return;
            }
            if (r < 0) hostEof = true;
            if (r <= 0) break;
            ringLen += r;
        }
        pump();
        interest();
        maybeClose();
    }

    /** Sends what the guest's window allows of what the host sent, then our FIN once the host's side ended. */
    private void pump() {
        if (!synAcked || state != State.ESTABLISHED) return;
        for (;;) {
            int inFlight = sndNxt - sndUna;
            if (finSent || inFlight >= ringLen) break;
            long room = sndWnd - inFlight;
            if (room <= 0) {
                if (rtoAt == 0) rtoAt = link.now() + rto; // the probe
                break;
            }
            int n = (int) Math.min(ringLen - inFlight, Math.min(room, link.maxSegment(this)));
            send(ACK | PSH, sndNxt, inFlight, n, false);
            sndNxt += n;
            if (sndNxt - sndMax > 0) sndMax = sndNxt;
            if (rtoAt == 0) arm();
        }
        if (hostEof && !finSent && !finAcked && sndNxt - sndUna == ringLen) {
            send(FIN | ACK, sndNxt, 0, 0, false);
            sndNxt++;
            if (sndNxt - sndMax > 0) sndMax = sndNxt;
            finSent = true;
            if (rtoAt == 0) arm();
        }
    }

    private void arm() {
        rtoAt = link.now() + rto;
    }

    /** Retransmission and probing, called by the stack's clock. */
    void tick(long now) {
        if (state == State.CLOSED || rtoAt == 0 || now < rtoAt) return;
        if (++retries > MAX_RETRIES) {
            abort(true);
            return;
        }
        rto = Math.min(rto * 2, RTO_MAX);
        rtoAt = now + rto;
        retransmits++;
        if (state == State.SYN_SENT) {
            send(SYN, iss, 0, 0, true);
        } else if (!synAcked) {
            send(SYN | ACK, iss, 0, 0, true);
        } else if (sndMax != sndUna) {
            sndNxt = sndUna; // go back to the oldest byte the guest has not acknowledged
            finSent = false;
            pump();
        } else if (ringLen > 0 && sndWnd == 0) {
            send(ACK, sndUna - 1, 0, 0, false); // an old sequence number: the guest answers with its window
        } else {
            rtoAt = 0;
        }
    }

    private void maybeClose() {
        if (state == State.CLOSED) return;
        if (finAcked && guestFin && recv.position() == 0) {
            state = State.CLOSED;
            closedAt = link.now();
            if (host != null) host.close(false);
        }
    }

    /** Ends the connection at once: {@code tellGuest} sends it a RST (the host side failed), else the guest sent one. */
    void abort(boolean tellGuest) {
        if (state == State.CLOSED) return;
        if (tellGuest) send(RST | ACK, sndNxt, 0, 0, false);
        state = State.CLOSED;
        closedAt = link.now();
        if (host != null) host.close(true);
    }

    private int free() {
        return recv.remaining();
    }

    private int window(boolean syn) {
        int free = free();
        lastAdvertised = free;
        if (syn || !wscaleOk) return Math.min(free, 65535);
        return Math.min(free >> OUR_WSCALE, 65535);
    }

    private void send(int flags, int seq, int ringOffset, int len, boolean synOptions) {
        int optLen = synOptions ? (offerWscale() ? 8 : 4) : 0;
        int tcpLen = 20 + optLen + len;
        byte[] f = link.frame(this, tcpLen);
        int t = Packets.IP + 20;
        Packets.put16(f, t, peerPort);
        Packets.put16(f, t + 2, guestPort);
        Packets.put32(f, t + 4, seq);
        Packets.put32(f, t + 8, (flags & ACK) != 0 ? rcvNxt : 0);
        f[t + 12] = (byte) ((20 + optLen) / 4 << 4);
        f[t + 13] = (byte) flags;
        Packets.put16(f, t + 14, (flags & RST) != 0 ? 0 : window((flags & SYN) != 0));
        if (synOptions) {
            int o = t + 20;
            f[o] = 2;
            f[o + 1] = 4;
            Packets.put16(f, o + 2, OUR_MSS);
            if (optLen == 8) {
                f[o + 4] = 1;
                f[o + 5] = 3;
                f[o + 6] = 3;
                f[o + 7] = (byte) OUR_WSCALE;
            }
        }
        if (len > 0) {
            int from = (ringHead + ringOffset) % SEND_CAP, first = Math.min(len, SEND_CAP - from);
            System.arraycopy(ring, from, f, t + 20 + optLen, first);
            if (first < len) System.arraycopy(ring, 0, f, t + 20 + optLen + first, len - first);
        }
        segmentsOut++;
        link.emit(this, f, tcpLen, len);
    }

    /** We offer window scaling in our SYN, and in a SYN-ACK only when the guest offered it. */
    private boolean offerWscale() {
        return state == State.SYN_SENT || wscaleOk;
    }

    private void interest() {
        if (host == null || state != State.ESTABLISHED) return;
        host.want(!hostEof && ringLen < SEND_CAP, recv.position() > 0);
    }

    // for the tests and the counters
    int rcvNxt() {
        return rcvNxt;
    }

    int sndUna() {
        return sndUna;
    }

    int inFlight() {
        return sndMax - sndUna;
    }

    int buffered() {
        return recv.position();
    }

    boolean guestClosed() {
        return guestFin;
    }
}
