//! Regression tests for defects found in review (idle timeout, data before a reset, listener
//! memory, SNTP port and lookups, bounded ingress, socket-set growth, API edge cases), over
//! smoltcp's `Loopback` device.

mod common;

use at_hal::net::conformance::{Harness, PeerRef};
use at_hal::net::{
    IpAddr, Ipv4Addr, KeepAlive, NetError, NetEvent, Network, SntpConfig, SocketAddr, SocketHandle,
    SocketOption,
};
use at_hal::time::Instant;
use at_smoltcp::Settings;
use at_smoltcp::smoltcp::socket::tcp;
use common::LoopbackHarness;

fn connect(h: &mut LoopbackHarness) -> (SocketHandle, PeerRef) {
    let now = h.now();
    let server = h.remote_server();
    let s = h.net.tcp_connect(server, 0, now).unwrap();
    let mut peer = None;
    h.step_until(100, |h| {
        peer = h.remote_accept();
        peer.is_some()
    });
    (s, peer.unwrap())
}

/// Let `secs` seconds of virtual time pass, polling once a second; the events.
fn idle(h: &mut LoopbackHarness, secs: u64) -> Vec<NetEvent> {
    let mut all = Vec::new();
    for _ in 0..secs {
        h.now = Instant::from_micros(h.now.as_micros() + 1_000_000);
        all.extend(h.step());
    }
    all
}

/// TCP sockets in the set that are not the harness's own (its listeners and peers).
fn backend_tcp_sockets(h: &mut LoopbackHarness, harness_tcp: usize) -> usize {
    let (_, set) = h.net.stack_mut();
    set.iter().filter(|(_, s)| matches!(s, at_smoltcp::smoltcp::socket::Socket::Tcp(_))).count() - harness_tcp
}

/// An idle established connection (nothing to send, no keep-alive) stays up, as with lwIP:
/// smoltcp's timeout counts from the last segment received, data queued or not, so it must
/// only run while data is unacknowledged. Checked with and without `tcp_timeout`.
#[test]
fn idle_connection_survives_ten_minutes() {
    for timeout in [Some(core::time::Duration::from_secs(120)), None] {
        let mut h = LoopbackHarness::with_settings(Settings { tcp_timeout: timeout, ..Settings::default() });
        h.link_up();
        let (s, peer) = connect(&mut h);
        assert_eq!(h.peer_send(peer, b"hi"), 2);
        for _ in 0..5 {
            h.step();
        }
        let mut buf = [0u8; 8];
        assert_eq!(h.net.recv(s, &mut buf), Ok(2));
        // Some data out and acknowledged too: the timeout armed for it must be disarmed.
        assert_eq!(h.net.send(s, b"ok"), Ok(2));
        for _ in 0..5 {
            h.step();
        }
        assert_eq!(h.peer_recv(peer), Some(b"ok".to_vec()));
        let all = idle(&mut h, 600);
        assert!(
            !all.iter().any(|e| matches!(e, NetEvent::Failed(..))),
            "idle link killed ({timeout:?}): {all:?}"
        );
        assert_eq!(h.peer_socket(peer).state(), tcp::State::Established);
        assert_eq!(h.net.send(s, b"x"), Ok(1));
        for _ in 0..5 {
            h.step();
        }
        assert_eq!(h.peer_recv(peer), Some(b"x".to_vec()));
    }
}

/// Bytes received just before the peer's RST are returned by `recv` before the error.
#[test]
fn data_received_before_a_reset_is_read_first() {
    let mut h = LoopbackHarness::new();
    h.link_up();
    let (s, peer) = connect(&mut h);
    h.step();
    assert_eq!(h.peer_send(peer, b"hello"), 5);
    for _ in 0..3 {
        h.step();
    }
    h.peer_reset(peer);
    let ev = h.step_until(20, |_| true);
    let ev2: Vec<_> = (0..3).flat_map(|_| h.step()).collect();
    assert!(
        ev.iter().chain(&ev2).any(|e| *e == NetEvent::Failed(s, NetError::Reset)),
        "no Failed event: {ev:?} {ev2:?}"
    );
    let mut buf = [0u8; 16];
    assert_eq!(h.net.recv(s, &mut buf), Ok(5), "the 5 bytes received before the RST are gone");
    assert_eq!(&buf[..5], b"hello");
    assert_eq!(h.net.recv(s, &mut buf), Err(NetError::Reset));
    assert_eq!(h.net.recv(s, &mut buf), Err(NetError::Reset), "sticky");
    h.net.close(s);
}

/// A UDP socket whose datagrams cannot leave (no route) reports `Writable` at most once, not
/// on every run: a free metadata slot is not room for the payload.
#[test]
fn udp_writable_is_not_repeated_while_the_payload_does_not_fit() {
    let mut h = LoopbackHarness::new();
    h.link_up();
    let u = h.net.udp_bind(5000).unwrap();
    // Unroutable: the datagrams stay queued (no route; smoltcp retries after 1 s).
    let to = SocketAddr::new(Ipv4Addr::new(10, 9, 9, 9).into(), 9);
    let d = vec![0u8; 1000];
    assert_eq!(h.net.send_to(u, &d, to), Ok(()));
    assert_eq!(h.net.send_to(u, &d, to), Ok(()));
    assert_eq!(h.net.send_to(u, &d, to), Err(NetError::WouldBlock));
    let mut spurious = 0;
    for _ in 0..50 {
        let ev = h.step();
        if ev.contains(&NetEvent::Writable(u)) && h.net.send_to(u, &d, to) == Err(NetError::WouldBlock) {
            spurious += 1;
        }
    }
    assert!(spurious <= 1, "{spurious} Writable events each followed by WouldBlock in 50 ms");
}

/// The SNTP client's UDP port comes from the ephemeral allocator and counts as in use: a
/// UDP socket bound to port 0 never shares it (the SNTP socket would take its datagrams).
#[test]
fn sntp_port_is_not_handed_to_udp_sockets() {
    let mut h = LoopbackHarness::new();
    h.link_up();
    let cfg = SntpConfig { enabled: true, servers: ["127.0.0.1", "", ""], interval_s: 3600 };
    let now = h.now();
    h.net.configure_sntp(&cfg, now).unwrap();
    for _ in 0..5 {
        h.step();
    }
    let a = h.net.udp_bind(0).unwrap();
    let b = h.net.udp_bind(0).unwrap();
    let pa = h.net.local_addr(a).unwrap().port();
    let pb = h.net.local_addr(b).unwrap().port();
    for p in [pa, pb] {
        h.udp_send(p, b"x");
    }
    let mut got = 0;
    let mut buf = [0u8; 8];
    for _ in 0..10 {
        h.step();
        for s in [a, b] {
            while h.net.recv_from(s, &mut buf).is_ok() {
                got += 1;
            }
        }
    }
    assert_eq!(got, 2, "a datagram to an ephemeral UDP port was lost (ports {pa}, {pb})");
    // Binding the SNTP client's port explicitly is refused: it is the first ephemeral port.
    let sntp_port = 49_152;
    assert!(pa != sntp_port && pb != sntp_port, "{pa} {pb}");
    assert_eq!(h.net.udp_bind(sntp_port).err(), Some(NetError::AddrInUse));
}

/// When the per-poll ingress cap leaves packets in the device, `next_deadline` says "now".
#[test]
fn capped_ingress_keeps_the_next_deadline_due() {
    let settings = Settings { max_ingress_per_poll: 2, ..Settings::default() };
    let mut h = LoopbackHarness::with_settings(settings);
    h.link_up();
    let u = h.net.udp_bind(5000).unwrap();
    h.step();
    for i in 0..6u8 {
        h.udp_send(5000, &[i]);
    }
    let now = h.now();
    while h.net.poll(now).is_some() {} // egress of the remote's datagrams
    while h.net.poll(now).is_some() {} // two in
    let mut buf = [0u8; 8];
    let mut got = 0;
    while h.net.recv_from(u, &mut buf).is_ok() {
        got += 1;
    }
    assert!(got < 6, "the cap did not apply");
    let dl = h.net.next_deadline();
    assert!(dl.is_some_and(|d| d <= now), "packets wait in the device but next_deadline is {dl:?}");
    // Polling when told to gets every datagram.
    for _ in 0..10 {
        if h.net.next_deadline().is_some_and(|d| d <= now) {
            while h.net.poll(now).is_some() {}
        }
        while h.net.recv_from(u, &mut buf).is_ok() {
            got += 1;
        }
    }
    assert_eq!(got, 6);
}

/// Hundreds of connect/close and accept/abort cycles leave the socket set as it was.
#[test]
fn connect_and_accept_cycles_do_not_grow_the_socket_set() {
    let mut h = LoopbackHarness::new();
    h.link_up();
    let base = h.net.stack_mut().1.iter().count();
    for _ in 0..300 {
        let (s, peer) = connect(&mut h);
        h.net.close(s);
        h.step_until(100, |h| h.peer_recv(peer).is_none());
        h.peer_close(peer);
        for _ in 0..3 {
            h.step();
        }
        let ph = h.peers[peer.0 as usize].h;
        h.net.stack_mut().1.remove(ph);
    }
    for _ in 0..10 {
        h.step();
    }
    let after = h.net.stack_mut().1.iter().count();
    assert!(after <= base + 1, "socket set grew from {base} to {after}");
    let l = h.net.tcp_listen(400, 2).unwrap();
    let base = h.net.stack_mut().1.iter().count();
    for _ in 0..300 {
        let peer = h.remote_dial(400);
        let mut c = None;
        h.step_until(100, |h| {
            c = h.net.tcp_accept(l).ok();
            c.is_some()
        });
        h.net.abort(c.unwrap().0);
        h.step_until(100, |h| h.peer_socket(peer).state() == tcp::State::Closed);
        let ph = h.peers[peer.0 as usize].h;
        h.net.stack_mut().1.remove(ph);
    }
    for _ in 0..10 {
        h.step();
    }
    let after = h.net.stack_mut().1.iter().count();
    assert!(after <= base + 1, "listener: socket set grew from {base} to {after}");
}

/// SNTP reconfigured while its server name resolves cancels that lookup: the caller never
/// sees `DnsDone` for a query it did not start, and the DNS slots are not used up.
#[test]
fn sntp_reconfigured_while_resolving_cancels_its_lookup() {
    let mut h = LoopbackHarness::new();
    h.link_up();
    h.net.set_dns_servers(&[IpAddr::V4(Ipv4Addr::LOCALHOST)]).unwrap();
    // More reconfigurations than DNS slots (4), each while the previous name resolves.
    for name in ["a.example", "b.example", "c.example", "d.example", "e.example", "pool.ntp.org"] {
        let now = h.now();
        let cfg = SntpConfig { enabled: true, servers: [name, "", ""], interval_s: 3600 };
        h.net.configure_sntp(&cfg, now).unwrap();
        for _ in 0..3 {
            h.step();
        }
    }
    let now = h.now();
    let q = h.net.dns_start("user.example", now).expect("a DNS slot is free");
    let mut all = Vec::new();
    for _ in 0..200 {
        h.now = Instant::from_micros(h.now.as_micros() + 200_000);
        all.extend(h.step());
    }
    let stray: Vec<_> = all.iter().filter(|e| matches!(e, NetEvent::DnsDone(x) if *x != q)).collect();
    assert!(stray.is_empty(), "DnsDone for queries the caller never started: {stray:?}");
    h.net.dns_cancel(q);
}

/// A half-open connection that the client resets (smoltcp turns it back into a listening
/// socket) leaves the queue; a new client is still accepted and announced.
#[test]
fn half_open_connection_reset_by_the_client_leaves_the_queue() {
    let mut h = LoopbackHarness::new();
    h.link_up();
    let harness_tcp = 2;
    let l = h.net.tcp_listen(401, 2).unwrap();
    let p = h.remote_dial(401);
    let now = h.now();
    while h.net.poll(now).is_some() {} // the peer's SYN out
    while h.net.poll(now).is_some() {} // SYN in, SYN-ACK out
    assert_eq!(h.peer_socket(p).state(), tcp::State::SynSent);
    h.peer_reset(p);
    for _ in 0..5 {
        h.step();
    }
    // Only the listening socket is left (the dialer is the harness's), not a second one.
    assert_eq!(backend_tcp_sockets(&mut h, harness_tcp + 1), 1);
    let _p2 = h.remote_dial(401);
    let mut c = None;
    let ev = h.step_until(100, |h| {
        c = h.net.tcp_accept(l).ok();
        c.is_some()
    });
    assert!(ev.contains(&NetEvent::Acceptable(l)), "{ev:?}");
    h.net.close(l);
}

/// A burst of 20 SYNs to a listener asking for a backlog of 16 never holds more than
/// `Settings::max_backlog` (4) backend sockets of `tcp_rx + tcp_tx` bytes each.
#[test]
fn connect_burst_holds_at_most_the_backlog_cap() {
    let mut h = LoopbackHarness::new();
    h.link_up();
    let harness_tcp = 2;
    let per_socket = Settings::default().tcp_rx + Settings::default().tcp_tx;
    let l = h.net.tcp_listen(402, 16).unwrap();
    for _ in 0..20 {
        h.remote_dial(402);
    }
    let mut most = 0;
    for _ in 0..50 {
        h.step();
        let n = backend_tcp_sockets(&mut h, harness_tcp + 20);
        most = most.max(n);
    }
    assert!(most <= 4, "{most} backend sockets = {} KiB of buffers", most * per_socket / 1024);
    assert!(most * per_socket < 48 * 1024);
    // The queued ones are accepted; the rest were refused.
    let mut accepted = 0;
    while h.net.tcp_accept(l).is_ok() {
        accepted += 1;
    }
    assert_eq!(accepted, 4);
}

/// `recv` into an empty buffer is an error, not `Ok(0)` (which means end of stream).
#[test]
fn recv_into_an_empty_buffer_is_not_end_of_stream() {
    let mut h = LoopbackHarness::new();
    h.link_up();
    let (s, peer) = connect(&mut h);
    assert_eq!(h.net.recv(s, &mut []), Err(NetError::InvalidArgument));
    h.peer_send(peer, b"x");
    for _ in 0..3 {
        h.step();
    }
    assert_eq!(h.net.recv(s, &mut []), Err(NetError::InvalidArgument));
    let mut buf = [0u8; 4];
    assert_eq!(h.net.recv(s, &mut buf), Ok(1));
}

/// Keep-alive set while a connect runs does not end it early: a SYN nobody answers still
/// times out at the connect timeout, as `TimedOut`, not `Refused`.
#[test]
fn keep_alive_set_while_connecting_keeps_the_connect_timeout() {
    let mut h = LoopbackHarness::new();
    h.link_up();
    let now = h.now();
    // Nothing answers: no route to it.
    let s = h.net.tcp_connect(SocketAddr::new(Ipv4Addr::new(10, 9, 9, 9).into(), 80), 0, now).unwrap();
    let ka = KeepAlive { idle_s: 1, interval_s: 1, count: 1 };
    h.net.set_option(s, SocketOption::KeepAlive(Some(ka))).unwrap();
    let ev = idle(&mut h, 35);
    let failed: Vec<_> =
        ev.iter().filter(|e| matches!(e, NetEvent::ConnectFailed(x, _) if *x == s)).collect();
    assert_eq!(failed, [&NetEvent::ConnectFailed(s, NetError::TimedOut)], "{ev:?}");
}

/// Keep-alive set on an established connection still drops a peer that went silent.
#[test]
fn keep_alive_drops_a_vanished_peer() {
    let mut h = LoopbackHarness::new();
    h.link_up();
    let (s, peer) = connect(&mut h);
    let ka = KeepAlive { idle_s: 5, interval_s: 1, count: 3 };
    h.net.set_option(s, SocketOption::KeepAlive(Some(ka))).unwrap();
    // The peer vanishes without a word.
    let ph = h.peers[peer.0 as usize].h;
    h.net.stack_mut().1.remove(ph);
    let ev = idle(&mut h, 30);
    assert!(ev.iter().any(|e| matches!(e, NetEvent::Failed(x, _) if *x == s)), "{ev:?}");
}

/// An explicit local port is refused for a second connection to the same remote endpoint (the
/// same 4-tuple), and accepted for another one.
#[test]
fn explicit_local_port_is_checked_against_the_same_connection() {
    let mut h = LoopbackHarness::new();
    h.link_up();
    let now = h.now();
    let server = h.remote_server();
    let a = h.net.tcp_connect(server, 45_000, now).unwrap();
    h.step_until(100, |h| h.remote_accept().is_some());
    assert_eq!(h.net.tcp_connect(server, 45_000, now).err(), Some(NetError::AddrInUse));
    let other = SocketAddr::new(server.ip(), common::CLOSED_PORT);
    let b = h.net.tcp_connect(other, 45_000, now).expect("another remote endpoint");
    h.net.abort(b);
    // Still refused while the first one closes in the background.
    h.net.close(a);
    assert_eq!(h.net.tcp_connect(server, 45_000, now).err(), Some(NetError::AddrInUse));
}
