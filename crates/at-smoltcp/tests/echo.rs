//! TCP echo both ways, listener backlog, ping, SNTP, DNS edge cases and bounded work, over
//! smoltcp's `Loopback` device.

mod common;

use at_hal::net::conformance::Harness;
use at_hal::net::{IpAddr, Ipv4Addr, NetError, NetEvent, Network, SntpConfig, SocketAddr, SocketOption};
use at_hal::time::UnixTime;
use at_smoltcp::smoltcp::socket::{tcp, udp};
use at_smoltcp::smoltcp::wire::IpAddress;
use at_smoltcp::{Settings, sntp};
use common::{LoopbackHarness, SERVER_PORT};

/// A remote echo server: whatever a peer received it sends back.
fn echo_peers(h: &mut LoopbackHarness) {
    for i in 0..h.peers.len() {
        let p = at_hal::net::conformance::PeerRef(i as u32);
        let s = h.peer_socket(p);
        let mut buf = [0u8; 2048];
        while s.can_send() {
            let free = s.send_capacity() - s.send_queue();
            let n = match s.recv_slice(&mut buf[..free.min(2048)]) {
                Ok(n) if n > 0 => n,
                _ => break,
            };
            s.send_slice(&buf[..n]).unwrap();
        }
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 253) as u8).collect()
}

#[test]
fn tcp_echo_through_a_remote_server() {
    let mut h = LoopbackHarness::new();
    h.link_up();
    let now = h.now();
    let server = h.remote_server();
    let s = h.net.tcp_connect(server, 0, now).unwrap();
    let mut peer = None;
    h.step_until(100, |h| {
        peer = h.remote_accept();
        peer.is_some()
    });
    let data = pattern(200_000);
    let (mut sent, mut got) = (0, Vec::new());
    let mut buf = [0u8; 1500];
    for _ in 0..3000 {
        while sent < data.len() {
            match h.net.send(s, &data[sent..(sent + 3000).min(data.len())]) {
                Ok(n) => sent += n,
                Err(NetError::WouldBlock) => break,
                Err(e) => panic!("send: {e}"),
            }
        }
        h.step();
        echo_peers(&mut h);
        loop {
            match h.net.recv(s, &mut buf) {
                Ok(0) => panic!("EOF from an echo server"),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(NetError::WouldBlock) => break,
                Err(e) => panic!("recv: {e}"),
            }
        }
        if got.len() == data.len() {
            break;
        }
    }
    assert!(got == data, "echo differs: {} of {} bytes back", got.len(), data.len());
    h.net.close(s);
    // The remote reads to EOF and closes too: the backend's socket is then freed.
    let peer = peer.unwrap();
    h.step_until(100, |h| h.peer_recv(peer).is_none());
    h.peer_close(peer);
    h.step_until(100, |h| h.net.closing_sockets() == 0);
}

#[test]
fn tcp_echo_server_on_the_backend() {
    let mut h = LoopbackHarness::new();
    h.link_up();
    let l = h.net.tcp_listen(333, 2).unwrap();
    let peer = h.remote_dial(333);
    let mut conn = None;
    let ev = h.step_until(100, |h| {
        conn = h.net.tcp_accept(l).ok();
        conn.is_some()
    });
    assert!(ev.contains(&NetEvent::Acceptable(l)), "{ev:?}");
    let (c, from) = conn.unwrap();
    assert_eq!(from.port(), 40_000);
    assert_eq!(h.net.local_addr(c).unwrap(), SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 333));
    let data = pattern(50_000);
    let (mut pushed, mut back) = (0, Vec::new());
    let mut buf = [0u8; 1024];
    for _ in 0..3000 {
        if pushed < data.len() {
            pushed += h.peer_send(peer, &data[pushed..]);
        }
        h.step();
        // The backend echoes what it reads (partial writes: put back what did not fit).
        loop {
            let n = match h.net.recv(c, &mut buf) {
                Ok(n) if n > 0 => n,
                Ok(_) => break,
                Err(NetError::WouldBlock) => break,
                Err(e) => panic!("recv: {e}"),
            };
            let mut off = 0;
            while off < n {
                match h.net.send(c, &buf[off..n]) {
                    Ok(k) => off += k,
                    Err(NetError::WouldBlock) => {
                        h.step();
                        back.extend(h.peer_recv(peer).unwrap_or_default());
                    }
                    Err(e) => panic!("send: {e}"),
                }
            }
        }
        back.extend(h.peer_recv(peer).unwrap_or_default());
        if back.len() == data.len() {
            break;
        }
    }
    assert!(back == data, "echo differs: {} of {} bytes back", back.len(), data.len());
    h.net.close(c);
    h.net.close(l);
    assert_eq!(h.net.open_sockets(), 0);
}

#[test]
fn a_full_backlog_refuses_and_accepting_makes_room() {
    let mut h = LoopbackHarness::new();
    h.link_up();
    let l = h.net.tcp_listen(334, 1).unwrap();
    let first = h.remote_dial(334);
    h.step_until(50, |h| h.peer_socket(first).state() == tcp::State::Established);
    let second = h.remote_dial(334);
    h.step_until(50, |h| h.peer_socket(second).state() == tcp::State::Closed);
    let (c, _) = h.net.tcp_accept(l).unwrap();
    assert_eq!(h.net.tcp_accept(l), Err(NetError::WouldBlock));
    let third = h.remote_dial(334);
    h.step_until(50, |h| h.peer_socket(third).state() == tcp::State::Established);
    h.net.close(c);
    h.net.close(l);
}

#[test]
fn connect_times_out_and_linger_zero_resets() {
    let settings = Settings { connect_timeout: core::time::Duration::from_millis(50), ..Settings::default() };
    let mut h = LoopbackHarness::with_settings(settings);
    h.link_up();
    // 10.9.9.9 is off the interface's subnet and there is no gateway.
    let now = h.now();
    let s = h.net.tcp_connect(SocketAddr::new(Ipv4Addr::new(10, 9, 9, 9).into(), 80), 0, now);
    // smoltcp takes the connect; its SYN has no route, and the deadline ends it.
    {
        let s = s.expect("connect starts");
        let mut all = Vec::new();
        for _ in 0..200 {
            all.extend(h.step());
        }
        assert!(
            all.iter().any(|e| matches!(e, NetEvent::ConnectFailed(x, NetError::TimedOut) if *x == s)),
            "{all:?}"
        );
        h.net.close(s);
    }
    // Linger 0: close resets.
    let now = h.now();
    let server = h.remote_server();
    let s = h.net.tcp_connect(server, 0, now).unwrap();
    let mut peer = None;
    h.step_until(100, |h| {
        peer = h.remote_accept();
        peer.is_some()
    });
    h.net.set_option(s, SocketOption::Linger(Some(0))).unwrap();
    h.net.set_option(s, SocketOption::NoDelay(true)).unwrap();
    h.net.close(s);
    let peer = peer.unwrap();
    h.step_until(20, |h| h.peer_was_reset(peer));
    h.step_until(20, |h| h.net.closing_sockets() == 0);
}

#[test]
fn ping_localhost() {
    let mut h = LoopbackHarness::new();
    let now = h.now();
    assert_eq!(h.net.ping_start(IpAddr::V4(Ipv4Addr::LOCALHOST), now).err(), Some(NetError::Unreachable));
    h.link_up();
    let now = h.now();
    let p = h.net.ping_start(IpAddr::V4(Ipv4Addr::LOCALHOST), now).unwrap();
    let mut rtt = None;
    h.step_until(20, |h| {
        let now = h.now();
        rtt = h.net.ping_result(p, now).ok();
        rtt.is_some()
    });
    assert!(rtt.unwrap() <= core::time::Duration::from_millis(5));
    assert_eq!(h.net.ping_result(p, h.now()).err(), Some(NetError::InvalidHandle));
}

#[test]
fn sntp_syncs_from_a_server_then_after_the_interval() {
    let mut h = LoopbackHarness::new();
    // A remote SNTP server on 127.0.0.1:123.
    let server = {
        let (_, sockets) = h.net.stack_mut();
        let mut u = udp::Socket::new(
            udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 4], vec![0u8; 512]),
            udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 4], vec![0u8; 512]),
        );
        u.bind(sntp::PORT).unwrap();
        sockets.add(u)
    };
    let answer = |h: &mut LoopbackHarness| {
        let (_, sockets) = h.net.stack_mut();
        let s = sockets.get_mut::<udp::Socket>(server);
        let mut replies = Vec::new();
        while let Ok((req, meta)) = s.recv() {
            assert_eq!(req.len(), sntp::PACKET_LEN);
            assert_eq!(req[0], 0x23);
            let mut r = [0u8; sntp::PACKET_LEN];
            r[0] = 0x24;
            r[1] = 1;
            r[24..32].copy_from_slice(&req[40..48]);
            r[40..44].copy_from_slice(&3_913_056_000u32.to_be_bytes()); // 2024-01-01
            replies.push((r, meta.endpoint));
        }
        for (r, to) in replies {
            s.send_slice(&r, to).unwrap();
        }
    };
    let cfg = SntpConfig { enabled: true, servers: ["", "127.0.0.1", ""], interval_s: 15 };
    let now = h.now();
    h.net.configure_sntp(&cfg, now).unwrap();
    // No address: nothing is sent.
    for _ in 0..10 {
        h.step();
        answer(&mut h);
    }
    h.link_up();
    // Run until a sync is reported.
    let mut events = Vec::new();
    for _ in 0..100 {
        events.extend(h.step());
        answer(&mut h);
    }
    events.extend(h.step());
    let updates: Vec<_> = events.iter().filter(|e| matches!(e, NetEvent::TimeUpdated(_))).collect();
    assert_eq!(updates, [&NetEvent::TimeUpdated(UnixTime(1_704_067_200))], "{events:?}");
    // The next one comes after the interval (15 s of virtual time), not before.
    let deadline = h.net.next_deadline().unwrap();
    assert!(deadline.as_millis() >= h.now().as_millis() + 14_000, "{deadline:?}");
    h.now = deadline;
    let mut events = Vec::new();
    for _ in 0..20 {
        events.extend(h.step());
        answer(&mut h);
    }
    assert!(events.iter().any(|e| matches!(e, NetEvent::TimeUpdated(_))), "{events:?}");
    // Off: the socket goes.
    let off = SntpConfig { enabled: false, servers: ["", "", ""], interval_s: 15 };
    h.net.configure_sntp(&off, h.now()).unwrap();
}

#[test]
fn dns_without_servers_and_bad_names() {
    let mut h = LoopbackHarness::new();
    let now = h.now();
    let q = h.net.dns_start("example.com", now).unwrap();
    assert_eq!(h.net.dns_result(q), Err(NetError::Unreachable), "no address yet");
    h.link_up();
    let q = h.net.dns_start("example.com", now).unwrap();
    assert_eq!(h.net.dns_result(q), Err(NetError::HostNotFound), "no DNS server known");
    h.net.set_dns_servers(&[IpAddr::V4(Ipv4Addr::LOCALHOST)]).unwrap();
    let q = h.net.dns_start("example.com", now).unwrap();
    assert_eq!(h.net.dns_result(q), Err(NetError::WouldBlock));
    h.net.dns_cancel(q);
    assert_eq!(h.net.dns_result(q), Err(NetError::InvalidHandle));
    assert_eq!(h.net.dns_start("a..b", now).err(), Some(NetError::InvalidArgument));
    let q = h.net.dns_start("10.1.2.3", now).unwrap();
    let ev = h.step();
    assert!(ev.contains(&NetEvent::DnsDone(q)));
    assert_eq!(h.net.dns_result(q), Ok(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3))));
}

#[test]
fn link_down_drops_the_address_and_static_config_returns() {
    let mut h = LoopbackHarness::new();
    h.link_up();
    let now = h.now();
    assert_eq!(h.net.poll(now), Some(NetEvent::GotIp(common::loopback_ip())));
    h.net.set_link(false, now);
    assert_eq!(h.net.poll(now), Some(NetEvent::LostIp));
    assert!(h.net.ip_config().is_none());
    h.net.set_link(true, now);
    assert_eq!(h.net.poll(now), Some(NetEvent::GotIp(common::loopback_ip())));
    assert!(h.net.set_hostname("esp-at-rs").is_ok());
    assert!(h.net.set_hostname(&"x".repeat(33)).is_err());
}

#[test]
fn poll_work_is_bounded() {
    let settings = Settings { max_ingress_per_poll: 2, ..Settings::default() };
    let mut h = LoopbackHarness::with_settings(settings);
    h.link_up();
    let u = h.net.udp_bind(5000).unwrap();
    for i in 0..6u8 {
        h.udp_send(5000, &[i]);
    }
    // Egress of the remote's datagrams, then at most two of them per run.
    let now = h.now();
    while h.net.poll(now).is_some() {}
    let mut buf = [0u8; 8];
    let mut got = Vec::new();
    while let Ok(d) = h.net.recv_from(u, &mut buf) {
        got.push(buf[..d.len][0]);
    }
    assert!(got.len() <= 2, "one run took {} datagrams", got.len());
    for _ in 0..5 {
        h.step();
    }
    while let Ok(d) = h.net.recv_from(u, &mut buf) {
        got.push(buf[..d.len][0]);
    }
    assert_eq!(got, [0, 1, 2, 3, 4, 5]);
    let big = vec![0u8; 1473];
    let remote = h.udp_remote();
    assert_eq!(h.net.send_to(u, &big, remote), Err(NetError::MessageTooLong));
    let _ = (SERVER_PORT, IpAddress::v4(0, 0, 0, 0));
}
