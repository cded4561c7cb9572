//! A host that reads the AT port at 115200 baud while a peer pushes 1 MB at a server link.
//!
//! The UART is ~45 times slower than the link, so the firmware must hold the peer back (stop
//! reading its socket; TCP flow control does the rest) instead of buffering or dropping: every
//! byte arrives in order inside well-formed `+IPD` frames, and the heap stays in budget the
//! whole time. Simulated time: 1 MB at 11.52 bytes per millisecond is ~91 s of it.
//!
//! One test in this binary (its counting allocator is global).

mod common;

use std::time::Duration;

use at_hal::net::{IpAddr, Ipv4Addr, SocketAddr};
use common::Bench;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// 115200 baud, 8N1: 11 520 bytes per second.
const BYTES_PER_SECOND: u64 = 11_520;
const TOTAL: usize = 1024 * 1024;
/// What the server, one busy link and the transfer may add to the heap: the AT transmit
/// queue (8 KiB), one link's buffers (README "RAM budget": 2 × 2920 bytes and bookkeeping),
/// and the simulated stack's buffers for this connection (its 5760-byte receive window),
/// which live in this heap too (on the chip they are lwIP's).
const BUDGET: usize = 8 * 1024 + 8 * 1024 + 8 * 1024;

#[test]
fn a_115200_baud_host_gets_every_byte_of_a_megabyte_in_order() {
    let data: Vec<u8> = (0..TOTAL as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    let mut b = Bench::new();
    assert_eq!(b.cmd("ATE0"), "ATE0\r\n\r\nOK\r\n");
    assert!(b.cmd("AT+CWJAP=\"HomeAP\",\"secret123\"").ends_with("WIFI GOT IP\r\n\r\nOK\r\n"));
    // Measured from here: the server, the link and the transfer.
    let mut wire = Vec::with_capacity(TOTAL + TOTAL / 64);
    let _profiler = dhat::Profiler::builder().testing().build();
    let base = dhat::HeapStats::get().curr_bytes;
    assert_eq!(b.cmd("AT+CIPMUX=1"), "\r\nOK\r\n");
    assert_eq!(b.cmd("AT+CIPSERVER=1,333"), "\r\nOK\r\n");
    let from = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 7, 7, 7)), 40_000);
    let peer = b.fw.platform().net.dial(from, 333).unwrap();
    b.advance(Duration::from_millis(10));
    assert_eq!(b.take(), "0,CONNECT\r\n");

    let mut sent = 0;
    let mut quiet_ms = 0;
    let mut credit = 0u64; // in 1/1000 bytes
    let mut uart = [0u8; 64];
    let mut ms = 0u64;
    let mut tx_peak = 0;
    // Until the peer sent everything and the port has been quiet for 100 ms.
    while quiet_ms < 100 {
        ms += 1;
        assert!(ms < 200_000, "stalled: sent {sent}, host got {} bytes on the wire", wire.len());
        // The peer pushes as fast as the stack takes it.
        if sent < TOTAL {
            sent += b.fw.platform().net.peer_send(peer, &data[sent..]);
        }
        b.now = b.now + Duration::from_millis(1);
        b.fw.poll(b.now);
        tx_peak = tx_peak.max(b.fw.tx_len());
        // The host reads what 1 ms of 115200 baud carries.
        credit += BYTES_PER_SECOND;
        let n = usize::try_from(credit / 1000).unwrap().min(uart.len());
        credit -= n as u64 * 1000;
        let got = b.fw.transmit(&mut uart[..n]);
        assert!(wire.len() + got <= wire.capacity(), "more output than a megabyte of +IPD frames");
        wire.extend_from_slice(&uart[..got]);
        quiet_ms = if got == 0 && sent >= TOTAL { quiet_ms + 1 } else { 0 };
    }
    let stats = dhat::HeapStats::get();
    let peak = stats.max_bytes.saturating_sub(base);
    println!(
        "{ms} ms simulated; transmit queue peak {tx_peak} B; heap peak from AT+CIPMUX=1 to the end {peak} B"
    );

    // Parse the +IPD frames: nothing else may appear, and the payloads are the megabyte.
    let mut payload = Vec::with_capacity(TOTAL);
    let mut rest = &wire[..];
    let mut frames = 0;
    while !rest.is_empty() {
        let head = b"\r\n+IPD,0,";
        assert!(rest.starts_with(head), "unexpected bytes after {} payload bytes", payload.len());
        rest = &rest[head.len()..];
        let colon = rest.iter().position(|&c| c == b':').expect("+IPD length");
        let len: usize = std::str::from_utf8(&rest[..colon]).unwrap().parse().unwrap();
        assert!((1..=2920).contains(&len), "+IPD of {len} bytes");
        rest = &rest[colon + 1..];
        assert!(rest.len() >= len + 2, "frame cut short");
        payload.extend_from_slice(&rest[..len]);
        assert_eq!(&rest[len..len + 2], b"\r\n");
        rest = &rest[len + 2..];
        frames += 1;
    }
    assert_eq!(payload.len(), TOTAL, "bytes lost or duplicated");
    assert!(payload == data, "bytes reordered or changed");
    // The wire time is what the UART allows (≈ 91 s plus framing), not more: the firmware
    // kept the UART busy.
    let wire_ms = (wire.len() as u64 * 1000).div_ceil(BYTES_PER_SECOND);
    assert!(ms <= wire_ms + 1000, "took {ms} ms for {wire_ms} ms of wire time");
    println!("{frames} +IPD frames, {} bytes on the wire", wire.len());
    assert!(tx_peak <= 8 * 1024, "transmit queue grew to {tx_peak} B");
    assert!(peak <= BUDGET, "heap peak {peak} B over the {BUDGET} B budget");
}
