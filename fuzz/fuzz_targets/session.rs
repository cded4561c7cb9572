//! Arbitrary AT sessions against the whole firmware on the mock platform. Must never panic,
//! and afterwards the firmware must still answer `AT` with `OK` (no stuck state).
#![no_main]

use std::time::Duration;

use at_core::{Firmware, Options};
use at_hal::net::{IpAddr, Ipv4Addr, SocketAddr};
use at_hal::time::Instant;
use at_mock::{MockPlatform, PeerId, SimAp};
use libfuzzer_sys::fuzz_target;

/// Remote ends the session can talk to: a TCP server for AT+CIPSTART (also as a name), UDP
/// senders, and clients that dial the firmware's server.
const SERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 1, 1, 1)), 8080);

fuzz_target!(|data: &[u8]| {
    let mut platform = MockPlatform::new(vec![SimAp::new(b"HomeAP", b"secret123"), SimAp::new(b"Open", b"")]);
    platform.net.add_server(SERVER);
    platform.net.add_host("example.com", SERVER.ip());
    let mut now = Instant::from_millis(0);
    let mut fw = Firmware::new(platform, Options::default(), now);
    let mut sink = vec![0u8; 4096];
    let mut rest = data;
    let mut peers: Vec<PeerId> = Vec::new();
    // Each chunk: [len, dt_ms/8, bytes...] is AT-port input; [0xFF, dt_ms/8, op, arg] is a
    // network event.
    while let [len, dt, tail @ ..] = rest {
        now = now + Duration::from_millis(u64::from(*dt) * 8);
        if *len == 0xFF {
            let [op, arg, next @ ..] = tail else { break };
            rest = next;
            network_event(&mut fw, &mut peers, *op, *arg);
            fw.poll(now);
            while fw.transmit(&mut sink) > 0 {}
            continue;
        }
        let n = usize::from(*len).min(tail.len());
        let (chunk, next) = tail.split_at(n);
        rest = next;
        let mut input = chunk;
        while !input.is_empty() {
            let used = fw.receive(input, now);
            input = &input[used..];
            while fw.transmit(&mut sink) > 0 {}
            if used == 0 {
                // Backpressure with nothing left to drain would be a hang: a bug.
                fw.poll(now);
                while fw.transmit(&mut sink) > 0 {}
                assert!(fw.receive(input, now) > 0 || input.is_empty(), "input refused with an empty queue");
            }
        }
        fw.poll(now);
        while fw.transmit(&mut sink) > 0 {}
    }
    // A session may end inside a data phase: cancel it with `+++` and its guard times (the
    // payload would otherwise swallow the final AT). Then end any partial line (it may itself
    // start a command), and let every running command finish (AT+CWJAP's timeout is at most
    // 600 s).
    if fw.in_data_phase() {
        now = now + Duration::from_millis(30);
        fw.poll(now);
        fw.receive(b"+++", now);
        now = now + Duration::from_millis(30);
        fw.poll(now);
        while fw.transmit(&mut sink) > 0 {}
        assert!(!fw.in_data_phase(), "+++ did not end the data phase");
    }
    fw.receive(b"\r\n", now);
    for _ in 0..700 {
        now = now + Duration::from_secs(1);
        fw.poll(now);
        while fw.transmit(&mut sink) > 0 {}
    }
    assert!(!fw.is_busy(), "a command is still running after 700 s");
    fw.receive(b"AT\r\n", now);
    fw.poll(now);
    let mut out = Vec::new();
    loop {
        let n = fw.transmit(&mut sink);
        if n == 0 {
            break;
        }
        out.extend_from_slice(&sink[..n]);
    }
    assert!(out.ends_with(b"\r\nOK\r\n"), "AT after the session: {:?}", String::from_utf8_lossy(&out));
});

/// One network event picked by `op`, shaped by `arg`.
fn network_event(fw: &mut Firmware<MockPlatform>, peers: &mut Vec<PeerId>, op: u8, arg: u8) {
    let net = &mut fw.platform().net;
    let peer = |peers: &Vec<PeerId>| (!peers.is_empty()).then(|| peers[usize::from(arg) % peers.len()]);
    match op % 8 {
        // A client dials the firmware's server (on a port the session may have chosen).
        0 => {
            let from = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 7, 7, 7)), 40_000 + u16::from(arg));
            let port = [333, 80, 8080, 1][usize::from(arg) % 4];
            if let Ok(p) = net.dial(from, port) {
                peers.push(p);
            }
        }
        // A peer sends up to 4 KiB (+IPD splitting, backpressure).
        1 => {
            if let Some(p) = peer(peers) {
                let len = usize::from(arg) * 16 + 1;
                let bytes: Vec<u8> = (0..len).map(|i| (i as u8) ^ arg).collect();
                net.peer_send(p, &bytes);
            }
        }
        2 => {
            if let Some(p) = peer(peers) {
                net.peer_close(p);
            }
        }
        3 => {
            if let Some(p) = peer(peers) {
                net.peer_reset(p);
            }
        }
        // The peer reads (frees the firmware's send window).
        4 => {
            if let Some(p) = peer(peers) {
                net.peer_take(p);
            }
        }
        // A datagram to a UDP port the session may have opened.
        5 => {
            let from = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 9, 9, 9)), 5555);
            let port = [5555, 1000, 8080, 333][usize::from(arg) % 4];
            net.udp_send(from, port, &vec![arg; usize::from(arg) * 8 + 1]);
        }
        // Connections the remote server accepted become peers the session can drive.
        6 => {
            for &p in net.accepted(SERVER) {
                if !peers.contains(&p) {
                    peers.push(p);
                }
            }
        }
        // Nothing: time passes.
        _ => {}
    }
}
