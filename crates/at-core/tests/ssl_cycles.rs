//! 1,000 SSL connections to the firmware's SSL server on the simulated network, each a full
//! handshake (a rustls client as the peer), a message, and a close: every one is announced and
//! closed, and the heap returns to its baseline (nothing leaks per connection).
//!
//! One test in this binary (its counting allocator is global).

use std::time::Duration;

use at_core::{Firmware, Options};
use at_hal::kv::MemKv;
use at_hal::net::{IpAddr, Ipv4Addr, SocketAddr};
use at_hal::time::Instant;
use at_hal::tls::{ClientParams, Tls};
use at_mock::{MockPlatform, SimAp};
use at_tls_rustls::RustlsTls;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

struct Dev {
    fw: Firmware<MockPlatform>,
    now: Instant,
    out: Vec<u8>,
}

impl Dev {
    fn step(&mut self) -> String {
        self.now = self.now + Duration::from_millis(1);
        self.fw.poll(self.now);
        let mut s = String::new();
        loop {
            let n = self.fw.transmit(&mut self.out);
            if n == 0 {
                return s;
            }
            s.push_str(&String::from_utf8_lossy(&self.out[..n]));
        }
    }

    fn cmd(&mut self, line: &str) -> String {
        self.fw.receive(format!("{line}\r\n").as_bytes(), self.now);
        let mut s = String::new();
        for _ in 0..3000 {
            s += &self.step();
            if s.ends_with("OK\r\n") || s.ends_with("ERROR\r\n") {
                break;
            }
        }
        s
    }
}

/// One connection: handshake, a message each way, the peer closes.
fn cycle(d: &mut Dev, tls: &mut RustlsTls, ca: &[&[u8]], k: u32) {
    let from = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 20_000 + (k % 40_000) as u16);
    let peer = d.fw.platform().net.dial(from, 443).expect("dial");
    let params = ClientParams {
        host: "localhost",
        sni: None,
        alpn: &[],
        identity: None,
        server_ca: Some(ca),
        common_name: None,
        cipher_suites: None,
        unix_time: None,
    };
    let mut client = tls.client(&params).expect("client session");
    let mut printed = String::new();
    let mut sent_hello = false;
    for _ in 0..2000 {
        // Peer side: its TLS bytes out, the firmware's in.
        client.process().expect("client TLS");
        if !client.outgoing().is_empty() {
            let n = d.fw.platform().net.peer_send(peer, client.outgoing());
            client.sent(n);
        }
        let got = d.fw.platform().net.peer_take(peer);
        let mut rest = &got[..];
        while !rest.is_empty() {
            let space = client.incoming_space();
            let n = rest.len().min(space.len());
            space[..n].copy_from_slice(&rest[..n]);
            client.received(n);
            rest = &rest[n..];
            client.process().expect("client TLS");
        }
        if !client.is_handshaking() && !sent_hello {
            assert_eq!(client.write(b"ping").unwrap(), 4);
            sent_hello = true;
        }
        printed += &d.step();
        if printed.contains(":ping\r\n") {
            break;
        }
    }
    assert!(printed.contains(",CONNECT\r\n") && printed.contains(",4:ping\r\n"), "cycle {k}: {printed:?}");
    d.fw.platform().net.peer_close(peer);
    for _ in 0..50 {
        printed += &d.step();
        if printed.contains(",CLOSED\r\n") {
            break;
        }
    }
    assert!(printed.contains(",CLOSED\r\n"), "cycle {k}: {printed:?}");
    // The simulated stack's record of the connection is the test's, not the firmware's.
    d.fw.platform().net.forget(peer);
}

#[test]
fn a_thousand_ssl_connections_leak_nothing() {
    let mut mfg = MemKv::new();
    at_certstore::demo::provision(&mut mfg).unwrap();
    let mut platform =
        MockPlatform::with_stores(vec![SimAp::new(b"HomeAP", b"secret123")], MemKv::new(), mfg);
    platform.tls = Box::new(RustlsTls::default());
    let mut d = Dev {
        fw: Firmware::new(platform, Options::default(), Instant::ZERO),
        now: Instant::ZERO,
        out: vec![0; 8192],
    };
    d.step();
    assert!(d.cmd("AT+CWJAP=\"HomeAP\",\"secret123\"").ends_with("OK\r\n"));
    assert_eq!(d.cmd("AT+CIPMUX=1"), "AT+CIPMUX=1\r\n\r\nOK\r\n");
    assert_eq!(d.cmd("AT+CIPSERVER=1,443,\"SSL\",0"), "AT+CIPSERVER=1,443,\"SSL\",0\r\n\r\nOK\r\n");
    let ca_der: Vec<Vec<u8>> = at_certstore::format::parse_certificates(at_certstore::demo::CA_CERT)
        .unwrap()
        .into_iter()
        .map(|c| c.to_vec())
        .collect();
    let ca: Vec<&[u8]> = ca_der.iter().map(Vec::as_slice).collect();
    let mut tls = RustlsTls::default();
    let _profiler = dhat::Profiler::builder().testing().build();
    // Warm up (one-time allocations: buffers that grow to their working size).
    for k in 0..10 {
        cycle(&mut d, &mut tls, &ca, k);
    }
    let baseline = dhat::HeapStats::get().curr_bytes;
    for k in 10..1000 {
        cycle(&mut d, &mut tls, &ca, k);
    }
    let after = dhat::HeapStats::get().curr_bytes;
    println!("heap: baseline {baseline} B, after 990 more SSL connections {after} B");
    assert!(after <= baseline + 1024, "heap grew from {baseline} to {after} B over 990 connections");
    assert_eq!(d.fw.platform().net.open_sockets(), 1, "only the listener is left");
}
