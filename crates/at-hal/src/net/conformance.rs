//! The behaviour every [`Network`] implementation must show, as a test suite to instantiate
//! with a [`Harness`]: the backend under test plus a way to play the remote hosts (scripted
//! peers for a simulation, real sockets on loopback for a std backend).
//!
//! ```ignore
//! #[test]
//! fn conformance() {
//!     at_hal::net::conformance::run_all(|| MyHarness::new());
//! }
//! ```
//!
//! The suite panics (it is test code) on the first deviation, with a message naming the
//! check. It relies only on the trait's contract: non-blocking calls, partial writes,
//! edge-triggered events that may repeat, sticky errors.
//!
//! Checks that need virtual time (an idle connection outliving the backend's timeouts) run
//! only when [`Harness::advance`] supports it; a harness over real sockets and real time
//! leaves it at its default and skips them.

use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use super::{IpAddr, NetError, NetEvent, Network, SocketAddr, SocketHandle};

/// A remote end of a TCP connection, as the harness tracks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerRef(pub u32);

/// The backend under test, and the world around it.
pub trait Harness {
    /// The backend.
    type Net: Network;
    /// The backend.
    fn net(&mut self) -> &mut Self::Net;
    /// The current time (a simulation advances it in [`Harness::step`]).
    fn now(&self) -> crate::time::Instant;
    /// Let a little time pass (a few milliseconds) and poll the backend; return its events.
    fn step(&mut self) -> Vec<NetEvent>;
    /// Bring the link up and wait until the interface has an address.
    fn link_up(&mut self);
    /// A remote TCP server that accepts connections.
    fn remote_server(&mut self) -> SocketAddr;
    /// An address where nothing listens (connects are refused).
    fn refused_addr(&mut self) -> SocketAddr;
    /// The next connection the remote server accepted, if one arrived.
    fn remote_accept(&mut self) -> Option<PeerRef>;
    /// A remote client connects to the backend's listener on `port`.
    fn remote_dial(&mut self, port: u16) -> PeerRef;
    /// The peer sends what its side accepts now; returns how much.
    fn peer_send(&mut self, peer: PeerRef, data: &[u8]) -> usize;
    /// Everything the peer has received so far (taking it frees the backend's send window);
    /// `None` once the backend closed the connection and everything was read.
    fn peer_recv(&mut self, peer: PeerRef) -> Option<Vec<u8>>;
    /// The peer closes its side (FIN).
    fn peer_close(&mut self, peer: PeerRef);
    /// The peer resets the connection (RST).
    fn peer_reset(&mut self, peer: PeerRef);
    /// Whether the peer saw a reset from the backend.
    fn peer_was_reset(&mut self, peer: PeerRef) -> bool;
    /// A remote UDP endpoint; datagrams to the backend are sent from it.
    fn udp_remote(&mut self) -> SocketAddr;
    /// The remote UDP endpoint sends a datagram to the backend's `port`.
    fn udp_send(&mut self, to_port: u16, data: &[u8]);
    /// Datagrams the remote UDP endpoint received so far.
    fn udp_recv(&mut self) -> Vec<Vec<u8>>;
    /// Let `by` of virtual time pass, polling the backend along the way as a caller would
    /// (whenever [`Network::next_deadline`] is due, and at least once a second), and return
    /// its events. `None` (the default): the harness runs in real time, and the checks that
    /// need long stretches of time are skipped.
    fn advance(&mut self, by: Duration) -> Option<Vec<NetEvent>> {
        let _ = by;
        None
    }
}

/// Run every check, each against a fresh harness from `make`.
pub fn run_all<H: Harness>(mut make: impl FnMut() -> H) {
    no_address_no_sockets(&mut make());
    connect_send_receive_close(&mut make());
    refused(&mut make());
    listen_accept_both_ways(&mut make());
    partial_writes_and_writable(&mut make());
    backpressure_from_a_slow_reader(&mut make());
    reset_is_sticky(&mut make());
    close_and_abort(&mut make());
    udp_keeps_datagram_boundaries(&mut make());
    dns_numeric_and_localhost(&mut make());
    invalid_handles(&mut make());
    readable_and_acceptable_are_reported(&mut make());
    data_before_a_reset_is_read_first(&mut make());
    empty_recv_buffer_is_refused(&mut make());
    idle_connection_survives(&mut make());
}

fn wait<H: Harness>(h: &mut H, what: &str, mut done: impl FnMut(&mut H, &[NetEvent]) -> bool) {
    for _ in 0..2000 {
        let ev = h.step();
        if done(h, &ev) {
            return;
        }
    }
    panic!("timed out waiting for {what}");
}

fn connect<H: Harness>(h: &mut H) -> (SocketHandle, PeerRef) {
    let server = h.remote_server();
    let now = h.now();
    let s = h.net().tcp_connect(server, 0, now).expect("connect starts");
    let mut connected = false;
    wait(h, "Connected", |_, ev| {
        connected |= ev.contains(&NetEvent::Connected(s));
        assert!(!ev.iter().any(|e| matches!(e, NetEvent::ConnectFailed(x, _) if *x == s)), "connect failed");
        connected
    });
    let mut peer = None;
    wait(h, "the remote server to accept", |h, _| {
        peer = h.remote_accept();
        peer.is_some()
    });
    (s, peer.unwrap_or(PeerRef(0)))
}

/// Send all of `data` (partial writes are normal), stepping while the stack pushes back.
fn send_all<H: Harness>(h: &mut H, s: SocketHandle, data: &[u8]) {
    let mut sent = 0;
    wait(h, "the send to finish", |h, _| {
        while sent < data.len() {
            match h.net().send(s, &data[sent..]) {
                Ok(n) => {
                    assert!(n > 0 && n <= data.len() - sent, "send returned {n}");
                    sent += n;
                }
                Err(NetError::WouldBlock) => break,
                Err(e) => panic!("send: {e}"),
            }
        }
        sent == data.len()
    });
}

/// Read from `s` until `want` bytes arrived (or EOF); stepping meanwhile.
fn recv_exact<H: Harness>(h: &mut H, s: SocketHandle, want: usize) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 700];
    wait(h, "data", |h, _| {
        loop {
            match h.net().recv(s, &mut buf) {
                Ok(0) => return true,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(NetError::WouldBlock) => break,
                Err(e) => panic!("recv: {e}"),
            }
        }
        got.len() >= want
    });
    got
}

/// Without an address the interface cannot open connections.
pub fn no_address_no_sockets<H: Harness>(h: &mut H) {
    let server = h.remote_server();
    let now = h.now();
    assert!(h.net().ip_config().is_none(), "an address before the link is up");
    assert_eq!(h.net().tcp_connect(server, 0, now).err(), Some(NetError::Unreachable));
    h.link_up();
    assert!(h.net().ip_config().is_some());
}

/// A client connection: data both ways, partial reads, the peer's FIN as `Ok(0)`.
pub fn connect_send_receive_close<H: Harness>(h: &mut H) {
    h.link_up();
    let (s, peer) = connect(h);
    send_all(h, s, b"hello");
    let mut got = Vec::new();
    wait(h, "the peer to receive", |h, _| {
        got.extend(h.peer_recv(peer).unwrap_or_default());
        got.len() >= 5
    });
    assert_eq!(got, b"hello");
    assert_eq!(h.peer_send(peer, b"world!"), 6);
    assert_eq!(recv_exact(h, s, 6), b"world!");
    assert_eq!(h.net().send(s, b""), Err(NetError::InvalidArgument), "an empty send is refused");
    let mut buf = [0u8; 8];
    assert_eq!(h.net().recv(s, &mut buf), Err(NetError::WouldBlock), "nothing more yet");
    h.peer_close(peer);
    let mut eof = false;
    wait(h, "EOF", |h, _| {
        eof = h.net().recv(s, &mut buf) == Ok(0);
        eof
    });
    assert!(h.net().local_addr(s).is_ok());
    h.net().close(s);
}

/// A connect to a closed port ends in `ConnectFailed(Refused)`.
pub fn refused<H: Harness>(h: &mut H) {
    h.link_up();
    let addr = h.refused_addr();
    let now = h.now();
    let s = h.net().tcp_connect(addr, 0, now).expect("connect starts");
    let mut failed = None;
    wait(h, "ConnectFailed", |_, ev| {
        for e in ev {
            assert_ne!(*e, NetEvent::Connected(s), "a refused connect reported Connected");
            if let NetEvent::ConnectFailed(x, err) = e
                && *x == s
            {
                failed = Some(*err);
            }
        }
        failed.is_some()
    });
    assert_eq!(failed, Some(NetError::Refused));
    assert!(h.net().send(s, b"x").is_err());
    h.net().close(s);
}

/// A listener: `Acceptable`, accept, data both ways; a second listener on the port fails.
pub fn listen_accept_both_ways<H: Harness>(h: &mut H) {
    h.link_up();
    let port = 47_333;
    let l = h.net().tcp_listen(port, 4).expect("listen");
    assert_eq!(h.net().tcp_listen(port, 4).err(), Some(NetError::AddrInUse));
    assert_eq!(h.net().tcp_accept(l).err(), Some(NetError::WouldBlock));
    let peer = h.remote_dial(port);
    let mut accepted = None;
    wait(h, "a connection to accept", |h, _| {
        match h.net().tcp_accept(l) {
            Ok(c) => accepted = Some(c),
            Err(NetError::WouldBlock) => {}
            Err(e) => panic!("accept: {e}"),
        }
        accepted.is_some()
    });
    let (c, from) = accepted.unwrap_or((SocketHandle(0), h.udp_remote()));
    assert!(from.port() != 0);
    assert_eq!(h.peer_send(peer, b"ping"), 4);
    assert_eq!(recv_exact(h, c, 4), b"ping");
    send_all(h, c, b"pong");
    let mut got = Vec::new();
    wait(h, "pong", |h, _| {
        got.extend(h.peer_recv(peer).unwrap_or_default());
        got.len() >= 4
    });
    assert_eq!(got, b"pong");
    h.net().close(c);
    h.net().close(l);
    // The port is free again.
    let l2 = h.net().tcp_listen(port, 4).expect("listen again after close");
    h.net().close(l2);
}

/// `send` takes what fits: a peer that does not read makes it return `WouldBlock`; reading
/// brings `Writable`; every byte arrives once, in order.
pub fn partial_writes_and_writable<H: Harness>(h: &mut H) {
    h.link_up();
    let (s, peer) = connect(h);
    let data: Vec<u8> = (0..4_000_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let mut sent = 0;
    // Fill until the stack pushes back (it must, well before 4 MB).
    for _ in 0..10_000 {
        match h.net().send(s, &data[sent..(sent + 16 * 1024).min(data.len())]) {
            Ok(n) => {
                assert!(n > 0 && n <= 16 * 1024);
                sent += n;
            }
            Err(NetError::WouldBlock) => break,
            Err(e) => panic!("send: {e}"),
        }
        if sent == data.len() {
            break;
        }
    }
    assert!(sent < data.len(), "the send buffer never filled up");
    let mut got = Vec::new();
    let mut writable = false;
    wait(h, "everything to arrive", |h, ev| {
        writable |= ev.contains(&NetEvent::Writable(s));
        got.extend(h.peer_recv(peer).unwrap_or_default());
        while sent < data.len() {
            match h.net().send(s, &data[sent..(sent + 16 * 1024).min(data.len())]) {
                Ok(n) => sent += n,
                Err(NetError::WouldBlock) => break,
                Err(e) => panic!("send: {e}"),
            }
        }
        got.len() == data.len()
    });
    assert!(writable, "no Writable after WouldBlock and the peer reading");
    assert!(got == data, "bytes lost, duplicated or reordered");
    h.net().close(s);
}

/// A backend that stops reading stops the peer: its sends are limited by the receive window.
pub fn backpressure_from_a_slow_reader<H: Harness>(h: &mut H) {
    h.link_up();
    let (s, peer) = connect(h);
    let chunk = vec![7u8; 64 * 1024];
    let mut pushed = 0;
    for _ in 0..400 {
        pushed += h.peer_send(peer, &chunk);
        h.step();
    }
    assert!(pushed < 400 * chunk.len(), "the peer could send without limit to a socket nobody reads");
    // Readable was reported, and everything sent is readable, in order.
    let got = recv_exact(h, s, pushed);
    assert!(got.len() >= pushed && got.iter().all(|&b| b == 7));
    h.net().close(s);
}

/// A reset is reported and sticky.
pub fn reset_is_sticky<H: Harness>(h: &mut H) {
    h.link_up();
    let (s, peer) = connect(h);
    h.peer_reset(peer);
    let mut buf = [0u8; 16];
    let mut err = None;
    wait(h, "the reset", |h, _| {
        match h.net().recv(s, &mut buf) {
            Err(NetError::WouldBlock) => {}
            Err(e) => err = Some(e),
            Ok(0) => {}
            Ok(_) => panic!("data after a reset"),
        }
        // A send may be what discovers it.
        if err.is_none()
            && let Err(e @ (NetError::Reset | NetError::NotConnected)) = h.net().send(s, b"x")
        {
            err = Some(e);
        }
        err.is_some()
    });
    let first = err.unwrap_or(NetError::Io);
    assert!(matches!(first, NetError::Reset | NetError::NotConnected), "{first:?}");
    assert!(h.net().recv(s, &mut buf).is_err(), "the error is not sticky");
    h.net().close(s);
}

/// `close` ends the connection gracefully (the peer reads everything, then EOF); `abort`
/// resets it.
pub fn close_and_abort<H: Harness>(h: &mut H) {
    h.link_up();
    let (s, peer) = connect(h);
    send_all(h, s, b"last words");
    h.net().close(s);
    let mut got = Vec::new();
    let mut eof = false;
    wait(h, "EOF at the peer", |h, _| {
        match h.peer_recv(peer) {
            Some(d) => got.extend(d),
            None => eof = true,
        }
        eof
    });
    assert_eq!(got, b"last words");
    let (s, peer) = connect(h);
    h.net().abort(s);
    let mut reset = false;
    wait(h, "a reset at the peer", |h, _| {
        reset = h.peer_was_reset(peer);
        reset
    });
}

/// UDP: whole datagrams, boundaries kept, both ways.
pub fn udp_keeps_datagram_boundaries<H: Harness>(h: &mut H) {
    h.link_up();
    let port = 47_444;
    let u = h.net().udp_bind(port).expect("bind");
    assert_eq!(h.net().local_addr(u).map(|a| a.port()), Ok(port));
    h.udp_send(port, b"one");
    h.udp_send(port, b"two-two");
    let mut got: Vec<Vec<u8>> = Vec::new();
    let mut buf = [0u8; 64];
    let remote = h.udp_remote();
    wait(h, "two datagrams", |h, _| {
        while let Ok(d) = h.net().recv_from(u, &mut buf) {
            assert_eq!(d.from.port(), remote.port());
            got.push(buf[..d.len].to_vec());
        }
        got.len() >= 2
    });
    assert_eq!(got, [b"one".to_vec(), b"two-two".to_vec()]);
    h.net().send_to(u, b"back", remote).expect("send_to");
    h.net().send_to(u, b"again", remote).expect("send_to");
    let mut back = Vec::new();
    wait(h, "datagrams at the remote", |h, _| {
        back.extend(h.udp_recv());
        back.len() >= 2
    });
    assert_eq!(back, [b"back".to_vec(), b"again".to_vec()]);
    h.net().close(u);
}

/// DNS: numeric addresses and `localhost` resolve without blocking.
pub fn dns_numeric_and_localhost<H: Harness>(h: &mut H) {
    h.link_up();
    let now = h.now();
    let q = h.net().dns_start("127.0.0.1", now).expect("dns_start");
    let mut ip = None;
    wait(h, "a numeric lookup", |h, _| {
        match h.net().dns_result(q) {
            Ok(a) => ip = Some(a),
            Err(NetError::WouldBlock) => {}
            Err(e) => panic!("numeric lookup: {e}"),
        }
        ip.is_some()
    });
    assert_eq!(ip, Some(IpAddr::V4(super::Ipv4Addr::LOCALHOST)));
    let q = h.net().dns_start("localhost", now).expect("dns_start");
    let mut done = false;
    wait(h, "localhost", |h, _| {
        done = h.net().dns_result(q) != Err(NetError::WouldBlock);
        done
    });
    let long = "a".repeat(super::MAX_HOST_LEN + 1);
    assert!(h.net().dns_start(&long, now).is_err(), "an over-long name is refused");
}

/// Unknown handles fail cleanly.
pub fn invalid_handles<H: Harness>(h: &mut H) {
    h.link_up();
    let bogus = SocketHandle(0xdead_beef);
    let mut buf = [0u8; 4];
    assert_eq!(h.net().send(bogus, b"x"), Err(NetError::InvalidHandle));
    assert_eq!(h.net().recv(bogus, &mut buf), Err(NetError::InvalidHandle));
    assert!(h.net().tcp_accept(bogus).is_err());
    let remote = h.udp_remote();
    assert!(h.net().send_to(bogus, b"x", remote).is_err());
    h.net().close(bogus);
    h.net().abort(bogus);
}

/// Step until an event `want` is reported, without touching the socket meanwhile (a backend
/// that never reports it fails here, however readable the socket is).
fn wait_event<H: Harness>(h: &mut H, what: &str, want: NetEvent) {
    wait(h, what, |_, ev| ev.contains(&want));
}

/// `Acceptable` is reported for a waiting connection, and `Readable` for data that arrived
/// after a `recv` returned `WouldBlock` (on an accepted and on a connected socket), before
/// anything is read: callers sleep until these events.
pub fn readable_and_acceptable_are_reported<H: Harness>(h: &mut H) {
    h.link_up();
    let port = 47_555;
    let l = h.net().tcp_listen(port, 4).expect("listen");
    assert_eq!(h.net().tcp_accept(l).err(), Some(NetError::WouldBlock));
    let peer = h.remote_dial(port);
    wait_event(h, "Acceptable", NetEvent::Acceptable(l));
    let (c, _) = h.net().tcp_accept(l).expect("accept after Acceptable");
    let mut buf = [0u8; 64];
    for round in 0..2 {
        assert_eq!(h.net().recv(c, &mut buf), Err(NetError::WouldBlock), "round {round}: data too early");
        assert_eq!(h.peer_send(peer, b"data"), 4);
        wait_event(h, "Readable on the accepted socket", NetEvent::Readable(c));
        assert_eq!(recv_exact(h, c, 4), b"data");
    }
    h.net().close(c);
    h.net().close(l);
    let (s, peer) = connect(h);
    assert_eq!(h.net().recv(s, &mut buf), Err(NetError::WouldBlock));
    assert_eq!(h.peer_send(peer, b"more"), 4);
    wait_event(h, "Readable on the connected socket", NetEvent::Readable(s));
    assert_eq!(recv_exact(h, s, 4), b"more");
    // The end of the stream is readable too.
    assert_eq!(h.net().recv(s, &mut buf), Err(NetError::WouldBlock));
    h.peer_close(peer);
    wait_event(h, "Readable for the peer's FIN", NetEvent::Readable(s));
    assert_eq!(h.net().recv(s, &mut buf), Ok(0));
    h.net().close(s);
}

/// Bytes that arrived before the peer reset the connection are returned by `recv` first; then
/// the reset, sticky.
pub fn data_before_a_reset_is_read_first<H: Harness>(h: &mut H) {
    h.link_up();
    let (s, peer) = connect(h);
    let mut buf = [0u8; 64];
    assert_eq!(h.net().recv(s, &mut buf), Err(NetError::WouldBlock));
    assert_eq!(h.peer_send(peer, b"last words"), 10);
    wait_event(h, "Readable", NetEvent::Readable(s));
    h.peer_reset(peer);
    // Let the reset arrive without reading.
    for _ in 0..50 {
        h.step();
    }
    let mut got = Vec::new();
    let mut err = None;
    // A backend may only notice the reset when it reads: give it time, boundedly.
    for _ in 0..2000 {
        match h.net().recv(s, &mut buf) {
            Ok(0) => panic!("end of stream instead of a reset"),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(NetError::WouldBlock) => {
                h.step();
            }
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    assert_eq!(got, b"last words", "data received before the reset was lost");
    assert_eq!(err, Some(NetError::Reset), "no reset after the data");
    assert_eq!(h.net().recv(s, &mut buf), Err(NetError::Reset), "the error is not sticky");
    h.net().close(s);
}

/// `recv` into an empty buffer is refused: `Ok(0)` would mean the end of the stream.
pub fn empty_recv_buffer_is_refused<H: Harness>(h: &mut H) {
    h.link_up();
    let (s, peer) = connect(h);
    assert_eq!(h.net().recv(s, &mut []), Err(NetError::InvalidArgument));
    assert_eq!(h.peer_send(peer, b"x"), 1);
    assert_eq!(recv_exact(h, s, 1), b"x");
    h.peer_close(peer);
    let mut buf = [0u8; 4];
    wait(h, "EOF", |h, _| h.net().recv(s, &mut buf) == Ok(0));
    assert_eq!(h.net().recv(s, &mut []), Err(NetError::InvalidArgument));
    h.net().close(s);
}

/// An established connection with nothing to send and no keep-alive stays up however long it
/// is idle (lwIP never times it out): ten minutes of virtual time, past any retransmission
/// or idle timeout a backend has. Skipped when the harness has no virtual time.
pub fn idle_connection_survives<H: Harness>(h: &mut H) {
    h.link_up();
    let (s, peer) = connect(h);
    send_all(h, s, b"ping");
    let mut got = Vec::new();
    wait(h, "the peer to receive", |h, _| {
        got.extend(h.peer_recv(peer).unwrap_or_default());
        got.len() >= 4
    });
    assert_eq!(h.peer_send(peer, b"pong"), 4);
    assert_eq!(recv_exact(h, s, 4), b"pong");
    let Some(events) = h.advance(Duration::from_secs(600)) else {
        h.net().close(s);
        return;
    };
    assert!(
        !events.iter().any(|e| matches!(e, NetEvent::Failed(x, _) if *x == s)),
        "an idle connection failed: {events:?}"
    );
    assert!(!h.peer_was_reset(peer), "the backend reset an idle connection");
    send_all(h, s, b"still here");
    let mut got = Vec::new();
    wait(h, "the peer to receive after the idle time", |h, _| {
        got.extend(h.peer_recv(peer).unwrap_or_default());
        got.len() >= 10
    });
    assert_eq!(got, b"still here");
    assert_eq!(h.peer_send(peer, b"yes"), 3);
    assert_eq!(recv_exact(h, s, 3), b"yes");
    h.net().close(s);
}
