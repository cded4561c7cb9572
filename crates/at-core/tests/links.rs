//! TCP/UDP links as whole AT sessions on the simulated network: exact bytes on the AT port,
//! scripted peers on the other side.

mod common;

use std::time::Duration;

use at_hal::net::{IpAddr, Ipv4Addr, SocketAddr};
use at_mock::{PeerState, SimNet};
use common::Bench;

const SERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 1, 1, 1)), 8080);
const CLIENT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 7, 7, 7)), 40_000);
const UDP_PEER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 9, 9, 9)), 5555);

/// A bench joined to the AP, echo off, with a remote server at [`SERVER`].
fn online() -> Bench {
    let mut b = Bench::new();
    b.fw.platform().net.add_server(SERVER);
    assert_eq!(b.cmd("ATE0"), "ATE0\r\n\r\nOK\r\n");
    assert!(b.cmd("AT+CWJAP=\"HomeAP\",\"secret123\"").ends_with("WIFI GOT IP\r\n\r\nOK\r\n"));
    b
}

fn net(b: &mut Bench) -> &mut SimNet {
    &mut b.fw.platform().net
}

#[test]
fn server_accept_ipd_send_and_close() {
    let mut b = online();
    assert_eq!(b.cmd("AT+CIPSERVER=1,333"), "\r\nERROR\r\n", "a server needs CIPMUX=1");
    assert_eq!(b.cmd("AT+CIPMUX=1"), "\r\nOK\r\n");
    assert_eq!(b.cmd("AT+CIPSERVER=1,333"), "\r\nOK\r\n");
    assert_eq!(b.cmd("AT+CIPSERVER?"), "+CIPSERVER:1,333,\"TCP\",0,0\r\n\r\nOK\r\n");
    let peer = net(&mut b).dial(CLIENT, 333).unwrap();
    b.advance(Duration::from_millis(10));
    assert_eq!(b.take(), "0,CONNECT\r\n");
    net(&mut b).peer_send(peer, b"hello");
    b.advance(Duration::from_millis(10));
    assert_eq!(b.take(), "\r\n+IPD,0,5:hello\r\n");
    assert_eq!(b.cmd("AT+CIPSTATE?"), "+CIPSTATE:0,\"TCP\",\"10.7.7.7\",40000,333,1\r\n\r\nOK\r\n");
    b.send(b"AT+CIPSEND=0,3\r\n");
    assert_eq!(b.take(), "\r\nOK\r\n\r\n>");
    b.send(b"abc");
    assert_eq!(b.settle(), "\r\nRecv 3 bytes\r\n\r\nSEND OK\r\n");
    assert_eq!(net(&mut b).peer_take(peer), b"abc");
    net(&mut b).peer_close(peer);
    b.advance(Duration::from_millis(10));
    assert_eq!(b.take(), "0,CLOSED\r\n");
    assert_eq!(b.cmd("AT+CIPSTATE?"), "\r\nOK\r\n");
    // Deleting the server while a client is up, closing it.
    let peer = net(&mut b).dial(CLIENT, 333).unwrap();
    b.advance(Duration::from_millis(10));
    assert_eq!(b.take(), "0,CONNECT\r\n");
    assert_eq!(b.cmd("AT+CIPSERVER=0,1"), "0,CLOSED\r\n\r\nOK\r\n");
    assert_eq!(net(&mut b).peer_state(peer), Some(PeerState::ClosedByFirmware));
    assert_eq!(b.cmd("AT+CIPSERVER?"), "+CIPSERVER:0\r\n\r\nOK\r\n");
    assert_eq!(net(&mut b).open_sockets(), 0, "no socket leaked");
}

#[test]
fn single_link_client_and_messages() {
    let mut b = online();
    assert_eq!(b.cmd("AT+CIPSTART=\"TCP\",\"10.1.1.1\",8080"), "CONNECT\r\n\r\nOK\r\n");
    assert_eq!(b.cmd("AT+CIPSTART=\"TCP\",\"10.1.1.1\",8080"), "\r\nERROR\r\n", "ALREADY CONNECTED");
    let peer = net(&mut b).accepted(SERVER)[0];
    net(&mut b).peer_send(peer, b"hi");
    b.advance(Duration::from_millis(10));
    assert_eq!(b.take(), "\r\n+IPD,2:hi\r\n");
    assert_eq!(b.cmd("AT+CIPDINFO=1"), "\r\nOK\r\n");
    assert_eq!(b.cmd("AT+CIPDINFO?"), "+CIPDINFO:true\r\nOK\r\n");
    net(&mut b).peer_send(peer, b"there");
    b.advance(Duration::from_millis(10));
    assert_eq!(b.take(), "\r\n+IPD,5,\"10.1.1.1\",8080:there\r\n");
    assert_eq!(b.cmd("AT+CIPCLOSE=0"), "\r\nERROR\r\n", "=<id> needs CIPMUX=1");
    assert_eq!(b.cmd("AT+CIPCLOSE"), "CLOSED\r\n\r\nOK\r\n");
    assert_eq!(net(&mut b).peer_state(peer), Some(PeerState::ClosedByFirmware));
    assert_eq!(b.cmd("AT+CIPCLOSE"), "\r\nERROR\r\n");
    // AT+SYSMSG bit 1: +LINK_CONN instead of CONNECT.
    assert_eq!(b.cmd("AT+SYSMSG=2"), "\r\nOK\r\n");
    let out = b.cmd("AT+CIPSTART=\"TCP\",\"10.1.1.1\",8080");
    assert!(
        out.starts_with("+LINK_CONN:0,0,\"TCP\",0,\"10.1.1.1\",8080,") && out.ends_with("\r\n\r\nOK\r\n"),
        "{out}"
    );
}

#[test]
fn connect_failures() {
    let mut b = Bench::new();
    b.cmd("ATE0");
    assert_eq!(b.cmd("AT+CIPSTART=\"TCP\",\"10.1.1.1\",8080"), "\r\nERROR\r\n", "no IP yet");
    let mut b = online();
    b.cmd("AT+SYSLOG=1");
    // Refused: +ERRNO with the lwIP errno (ECONNRESET), no CLOSED.
    let out = b.cmd("AT+CIPSTART=\"TCP\",\"10.1.1.1\",9");
    assert!(
        out.starts_with("+ERRNO:0x68\r\n") && out.ends_with("\r\nERROR\r\n") && !out.contains("CLOSED"),
        "{out}"
    );
    for bad in [
        "AT+CIPSTART=\"tcp\",\"10.1.1.1\",80",
        "AT+CIPSTART=\"TCP\",\"\",80",
        "AT+CIPSTART=\"TCP\",\"10.1.1.1\",0",
        "AT+CIPSTART=\"TCP\",\"10.1.1.1\",80,7201",
        "AT+CIPSTART=\"TCP\",\"10.1.1.1\",80,,\"\"",
        "AT+CIPSTART=\"TCP\",\"10.1.1.1\",80,1,\"0.0.0.0\",60001",
        "AT+CIPSTART=\"TCP\"",
    ] {
        assert!(b.cmd(bad).ends_with("\r\nERROR\r\n"), "{bad}");
    }
    // An unknown name, then a known one.
    assert!(b.cmd("AT+CIPSTART=\"TCP\",\"nowhere.example\",80").ends_with("\r\nERROR\r\n"));
    net(&mut b).add_host("server.example", IpAddr::V4(Ipv4Addr::new(10, 1, 1, 1)));
    assert_eq!(b.cmd("AT+CIPSTART=\"TCP\",\"server.example\",8080"), "CONNECT\r\n\r\nOK\r\n");
    // A connect timeout (<timeout> in ms).
    b.cmd("AT+CIPCLOSE");
    net(&mut b).set_faults(at_mock::Faults { delay: Duration::ZERO, ..at_mock::Faults::default() });
    assert_eq!(net(&mut b).open_sockets(), 0);
}

#[test]
fn passthrough_both_ways_and_plus_plus_plus() {
    let mut b = online();
    assert_eq!(b.cmd("AT+CIPSTART=\"TCP\",\"10.1.1.1\",8080"), "CONNECT\r\n\r\nOK\r\n");
    let peer = net(&mut b).accepted(SERVER)[0];
    assert_eq!(b.cmd("AT+CIPSEND"), "\r\nERROR\r\n", "passthrough needs CIPMODE=1");
    assert_eq!(b.cmd("AT+CIPMODE=1"), "\r\nOK\r\n");
    b.send(b"AT+CIPSEND\r\n");
    assert_eq!(b.take(), "\r\nOK\r\n\r\n>");
    let up: Vec<u8> = (0..16 * 1024u32).map(|i| (i * 7 + 3) as u8).collect();
    let down: Vec<u8> = (0..16 * 1024u32).map(|i| (i * 13 + 1) as u8).collect();
    let mut got_up = Vec::new();
    let mut got_down = Vec::new();
    let (mut i, mut j) = (0, 0);
    for _ in 0..2000 {
        if i < up.len() {
            let n = b.fw.receive(&up[i..(i + 700).min(up.len())], b.now);
            i += n;
        }
        if j < down.len() {
            j += net(&mut b).peer_send(peer, &down[j..(j + 1000).min(down.len())]);
        }
        b.advance(Duration::from_millis(5));
        got_up.extend(net(&mut b).peer_take(peer));
        let mut out = vec![0u8; 65536];
        let n = b.fw.transmit(&mut out);
        got_down.extend_from_slice(&out[..n]);
        if got_up.len() == up.len() && got_down.len() == down.len() {
            break;
        }
    }
    assert!(got_up == up, "host → peer: {} of {} bytes", got_up.len(), up.len());
    assert!(got_down == down, "peer → host: {} of {} bytes", got_down.len(), down.len());
    // +++ with guard times: back to commands, the link stays up, no reply.
    b.advance(Duration::from_millis(30));
    b.send(b"+++");
    b.advance(Duration::from_millis(30));
    assert_eq!(b.take(), "");
    assert_eq!(b.cmd("AT"), "\r\nOK\r\n");
    assert_eq!(net(&mut b).peer_state(peer), Some(PeerState::Open));
    // With AT+SYSMSG bit 0, leaving passthrough prints +QUITT.
    b.cmd("AT+SYSMSG=1");
    b.send(b"AT+CIPSEND\r\n");
    assert_eq!(b.take(), "\r\nOK\r\n\r\n>");
    b.advance(Duration::from_millis(30));
    b.send(b"+++");
    b.advance(Duration::from_millis(30));
    assert_eq!(b.take(), "\r\n+QUITT\r\n");
}

#[test]
fn passive_receive() {
    let mut b = online();
    b.cmd("AT+CIPMUX=1");
    b.cmd("AT+CIPSERVER=1,333");
    assert_eq!(b.cmd("AT+CIPRECVTYPE=0,1"), "\r\nOK\r\n");
    let peer = net(&mut b).dial(CLIENT, 333).unwrap();
    b.advance(Duration::from_millis(10));
    assert_eq!(b.take(), "0,CONNECT\r\n");
    net(&mut b).peer_send(peer, b"0123456789");
    b.advance(Duration::from_millis(10));
    assert_eq!(b.take(), "\r\n+IPD,0,10\r\n");
    net(&mut b).peer_send(peer, b"ab");
    b.advance(Duration::from_millis(10));
    assert_eq!(b.take(), "", "one notice until the data is read");
    assert_eq!(b.cmd("AT+CIPRECVLEN?"), "+CIPRECVLEN:12,0,0,0,0\r\n\r\nOK\r\n");
    // More waits: a new notice right after the OK (as ESP-AT prints it).
    assert_eq!(b.cmd("AT+CIPRECVDATA=0,5"), "+CIPRECVDATA:5,01234\r\nOK\r\n\r\n+IPD,0,7\r\n");
    // The peer closes: CLOSED is withheld until everything is read.
    net(&mut b).peer_close(peer);
    b.advance(Duration::from_millis(50));
    assert_eq!(b.take(), "");
    assert_eq!(b.cmd("AT+CIPRECVDATA=0,100"), "+CIPRECVDATA:7,56789ab\r\nOK\r\n0,CLOSED\r\n");
    assert_eq!(b.cmd("AT+CIPRECVDATA=0,100"), "\r\nERROR\r\n");
    assert_eq!(
        b.cmd("AT+CIPRECVTYPE?"),
        "+CIPRECVTYPE:0,1,0\r\n+CIPRECVTYPE:1,0,0\r\n+CIPRECVTYPE:2,0,0\r\n+CIPRECVTYPE:3,0,0\r\n+CIPRECVTYPE:4,0,0\r\n\r\nOK\r\n"
    );
}

#[test]
fn udp_send_and_receive_keep_datagrams() {
    let mut b = online();
    assert_eq!(b.cmd("AT+CIPSTART=\"UDP\",\"10.9.9.9\",5555,1005,0"), "CONNECT\r\n\r\nOK\r\n");
    b.send(b"AT+CIPSEND=4\r\n");
    assert_eq!(b.take(), "\r\nOK\r\n\r\n>");
    b.send(b"ping");
    assert_eq!(b.settle(), "\r\nRecv 4 bytes\r\n\r\nSEND OK\r\n");
    let got = net(&mut b).udp_take(UDP_PEER);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, b"ping");
    assert_eq!(got[0].0.port(), 1005);
    assert!(net(&mut b).udp_send(UDP_PEER, 1005, b"one"));
    assert!(net(&mut b).udp_send(UDP_PEER, 1005, b"two!"));
    b.advance(Duration::from_millis(20));
    assert_eq!(b.take(), "\r\n+IPD,3:one\r\n\r\n+IPD,4:two!\r\n");
    assert_eq!(b.cmd("AT+CIPCLOSE"), "CLOSED\r\n\r\nOK\r\n");
}

#[test]
fn cipsend_edges() {
    let mut b = online();
    b.cmd("AT+CIPSTART=\"TCP\",\"10.1.1.1\",8080");
    let peer = net(&mut b).accepted(SERVER)[0];
    assert_eq!(b.cmd("AT+CIPSEND=0"), "\r\nERROR\r\n");
    assert_eq!(b.cmd("AT+CIPSEND=8193"), "\r\nERROR\r\n");
    // Excess bytes: busy p..., and only the declared bytes are sent.
    b.send(b"AT+CIPSEND=3\r\n");
    assert_eq!(b.take(), "\r\nOK\r\n\r\n>");
    b.send(b"abcdef");
    assert_eq!(b.settle(), "\r\nbusy p...\r\n\r\nRecv 3 bytes\r\n\r\nSEND OK\r\n");
    assert_eq!(net(&mut b).peer_take(peer), b"abc");
    // +++ cancels.
    b.send(b"AT+CIPSEND=10\r\n");
    b.take();
    b.send(b"xy");
    b.advance(Duration::from_millis(30));
    b.send(b"+++");
    b.advance(Duration::from_millis(30));
    assert_eq!(b.take(), "\r\nSEND Canceled\r\n");
    assert_eq!(b.cmd("AT"), "\r\nOK\r\n");
    // CIPSENDEX: `\0` ends early; `\\` is a backslash.
    net(&mut b).peer_take(peer);
    b.send(b"AT+CIPSENDEX=20\r\n");
    assert_eq!(b.take(), "\r\nOK\r\n\r\n>");
    b.send(b"a\\\\b\\0");
    assert_eq!(b.settle(), "\r\nRecv 3 bytes\r\n\r\nSEND OK\r\n");
    assert_eq!(net(&mut b).peer_take(peer), b"a\\b");
    // The link goes away mid-send: SEND FAIL.
    b.send(b"AT+CIPSEND=5\r\n");
    b.take();
    net(&mut b).peer_reset(peer);
    b.advance(Duration::from_millis(10));
    b.send(b"12345");
    let out = b.settle();
    assert!(out.contains("\r\nSEND FAIL\r\n"), "{out}");
}

#[test]
fn large_data_is_split_into_ipd_of_2920() {
    let mut b = online();
    b.cmd("AT+CIPSTART=\"TCP\",\"10.1.1.1\",8080");
    let peer = net(&mut b).accepted(SERVER)[0];
    let data = vec![b'z'; 5000];
    assert_eq!(net(&mut b).peer_send(peer, &data), 5000);
    b.advance(Duration::from_millis(20));
    let out = b.take();
    let heads: Vec<&str> = out.split("\r\n").filter(|l| l.starts_with("+IPD")).collect();
    assert!(
        heads.iter().all(|h| {
            let n: usize = h[5..h.find(':').unwrap()].parse().unwrap();
            n <= 2920
        }),
        "{heads:?}"
    );
    assert_eq!(out.matches('z').count(), 5000);
}

#[test]
fn server_limits_and_timeout() {
    let mut b = online();
    b.cmd("AT+CIPMUX=1");
    assert_eq!(b.cmd("AT+CIPSTO=10"), "\r\nERROR\r\n", "needs a server");
    assert_eq!(b.cmd("AT+CIPSERVERMAXCONN=2"), "\r\nOK\r\n");
    b.cmd("AT+CIPSERVER=1,333");
    assert_eq!(b.cmd("AT+CIPSERVERMAXCONN=3"), "\r\nERROR\r\n", "not while the server runs");
    assert_eq!(b.cmd("AT+CIPSTO=1"), "\r\nOK\r\n");
    assert_eq!(b.cmd("AT+CIPSTO?"), "+CIPSTO:1\r\n\r\nOK\r\n");
    let p0 = net(&mut b).dial(CLIENT, 333).unwrap();
    let p1 = net(&mut b).dial(SocketAddr::new(CLIENT.ip(), 40_001), 333).unwrap();
    b.advance(Duration::from_millis(20));
    assert_eq!(b.take(), "0,CONNECT\r\n1,CONNECT\r\n");
    let p2 = net(&mut b).dial(SocketAddr::new(CLIENT.ip(), 40_002), 333).unwrap();
    b.advance(Duration::from_millis(20));
    assert_eq!(b.take(), "");
    assert_eq!(net(&mut b).peer_state(p2), Some(PeerState::ResetByFirmware), "beyond the maximum: refused");
    // Idle for a second: both close.
    b.advance(Duration::from_millis(1100));
    assert_eq!(b.take(), "0,CLOSED\r\n1,CLOSED\r\n");
    assert_eq!(net(&mut b).peer_state(p0), Some(PeerState::ClosedByFirmware));
    assert_eq!(net(&mut b).peer_state(p1), Some(PeerState::ClosedByFirmware));
}

#[test]
fn cipmux_rules_and_queries() {
    let mut b = online();
    assert_eq!(b.cmd("AT+CIPMUX?"), "+CIPMUX:0\r\n\r\nOK\r\n");
    b.cmd("AT+CIPSTART=\"TCP\",\"10.1.1.1\",8080");
    assert_eq!(b.cmd("AT+CIPMUX=1"), "\r\nERROR\r\n", "a TCP link is open");
    b.cmd("AT+CIPCLOSE");
    assert_eq!(b.cmd("AT+CIPMUX=1"), "\r\nOK\r\n");
    // CIPSTARTEX picks the lowest free id.
    assert_eq!(b.cmd("AT+CIPSTART=1,\"TCP\",\"10.1.1.1\",8080"), "1,CONNECT\r\n\r\nOK\r\n");
    assert_eq!(b.cmd("AT+CIPSTARTEX=\"TCP\",\"10.1.1.1\",8080"), "0,CONNECT\r\n\r\nOK\r\n");
    assert_eq!(b.cmd("AT+CIPSTARTEX=\"TCP\",\"10.1.1.1\",8080"), "2,CONNECT\r\n\r\nOK\r\n");
    assert_eq!(b.cmd("AT+CIPCLOSE=5"), "0,CLOSED\r\n1,CLOSED\r\n2,CLOSED\r\n\r\nOK\r\n");
    assert_eq!(b.cmd("AT+CIPTCPOPT=0,5,1,100,60"), "\r\nOK\r\n");
    let q = b.cmd("AT+CIPTCPOPT?");
    assert!(q.starts_with("+CIPTCPOPT:0,5,1,100,60\r\n+CIPTCPOPT:1,-1,0,0,0\r\n"), "{q}");
    assert_eq!(b.cmd("AT+CIPTCPOPT=0,5,1"), "\r\nERROR\r\n");
    let s = b.cmd("AT+CIPSTATUS");
    assert!(s.starts_with("STATUS:"), "{s}");
}

#[test]
fn dns_and_ping() {
    let mut b = online();
    net(&mut b).add_host("iot.example", IpAddr::V4(Ipv4Addr::new(93, 184, 216, 34)));
    assert_eq!(b.cmd("AT+CIPDOMAIN=\"iot.example\""), "+CIPDOMAIN:\"93.184.216.34\"\r\n\r\nOK\r\n");
    assert_eq!(b.cmd("AT+CIPDOMAIN=\"missing.example\""), "\r\nERROR\r\n");
    net(&mut b).add_ping_host(IpAddr::V4(Ipv4Addr::new(10, 1, 1, 1)), Duration::from_millis(12));
    assert_eq!(b.cmd("AT+PING=\"10.1.1.1\""), "+PING:12\r\n\r\nOK\r\n");
    assert_eq!(b.cmd("AT+PING=\"10.2.2.2\""), "+PING:TIMEOUT\r\n\r\nERROR\r\n");
    assert_eq!(b.cmd("AT+CIPDNS=1,\"1.1.1.1\",\"8.8.8.8\""), "\r\nOK\r\n");
    assert_eq!(b.cmd("AT+CIPDNS?"), "+CIPDNS:1,\"1.1.1.1\",\"8.8.8.8\"\r\n\r\nOK\r\n");
    assert_eq!(b.cmd("AT+CIPDNS=1,\"1.1.1.1\",\"1.1.1.1\""), "\r\nERROR\r\n");
}

#[test]
fn pluses_that_reach_a_full_link_after_a_pause_are_data_not_lost() {
    // The peer stops reading; the host fills the link, pauses (a guard time), then sends
    // bytes that start with '+'. The pluses are let in for the escape check although the link
    // is full; when the next byte shows they are data, the link takes them — nothing is lost.
    let mut b = online();
    assert_eq!(b.cmd("AT+CIPSTART=\"TCP\",\"10.1.1.1\",8080"), "CONNECT\r\n\r\nOK\r\n");
    let peer = net(&mut b).accepted(SERVER)[0];
    assert_eq!(b.cmd("AT+CIPMODE=1"), "\r\nOK\r\n");
    b.send(b"AT+CIPSEND\r\n");
    assert_eq!(b.take(), "\r\nOK\r\n\r\n>");
    let mut up: Vec<u8> = Vec::new();
    let mut got = Vec::new();
    // Fill the peer's window and the link's buffer.
    let fill: Vec<u8> = (0..64 * 1024u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut i = 0;
    for _ in 0..200 {
        i += b.fw.receive(&fill[i..], b.now);
        b.advance(Duration::from_millis(1));
    }
    assert!(i < fill.len(), "the link never filled");
    up.extend_from_slice(&fill[..i]);
    // A pause longer than the guard time, then "+Gc..." and "++x" with the link still full.
    for tail in [&b"+Gc-1"[..], b"++x-2", b"+++y"] {
        b.advance(Duration::from_millis(30));
        let mut k = 0;
        for _ in 0..20 {
            k += b.fw.receive(&tail[k..], b.now);
            b.advance(Duration::from_millis(1));
        }
        // Let the peer read so the rest of the tail gets in.
        for _ in 0..50 {
            got.extend(net(&mut b).peer_take(peer));
            b.advance(Duration::from_millis(1));
            k += b.fw.receive(&tail[k..], b.now);
        }
        assert_eq!(k, tail.len(), "the tail {tail:?} was not all taken");
        up.extend_from_slice(tail);
    }
    for _ in 0..100 {
        got.extend(net(&mut b).peer_take(peer));
        b.advance(Duration::from_millis(5));
    }
    assert_eq!(got.len(), up.len(), "bytes lost or added");
    assert!(got == up, "bytes changed");
    assert!(b.fw.in_data_phase(), "+++ followed by data is not an escape");
}

#[test]
fn an_empty_datagram_is_ignored_and_the_next_one_arrives() {
    let mut b = online();
    assert_eq!(b.cmd("AT+CIPSTART=\"UDP\",\"10.9.9.9\",5555,1005,0"), "CONNECT\r\n\r\nOK\r\n");
    for _ in 0..50 {
        let _ = net(&mut b).udp_send(UDP_PEER, 1005, b"");
        b.advance(Duration::from_millis(1));
    }
    assert!(net(&mut b).udp_send(UDP_PEER, 1005, b"hello"));
    b.advance(Duration::from_millis(20));
    assert_eq!(b.take(), "\r\n+IPD,5:hello\r\n");
}

#[test]
fn udp_passthrough_sends_datagrams_both_ways() {
    let mut b = online();
    assert_eq!(b.cmd("AT+CIPMODE=1"), "\r\nOK\r\n");
    assert_eq!(b.cmd("AT+CIPSTART=\"UDP\",\"10.9.9.9\",5555,1005,0"), "CONNECT\r\n\r\nOK\r\n");
    b.send(b"AT+CIPSEND\r\n");
    assert_eq!(b.take(), "\r\nOK\r\n\r\n>");
    b.send(b"hello over udp");
    // AT+TRANSINTVL (20 ms) after the first byte, the batch leaves as one datagram.
    b.advance(Duration::from_millis(40));
    let got = net(&mut b).udp_take(UDP_PEER);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].1, b"hello over udp");
    assert!(net(&mut b).udp_send(UDP_PEER, 1005, b"reply"));
    b.advance(Duration::from_millis(20));
    assert_eq!(b.take(), "reply", "raw bytes, no +IPD, in passthrough");
}

#[test]
fn a_send_whose_link_was_replaced_fails_and_the_new_peer_gets_nothing() {
    let mut b = online();
    assert_eq!(b.cmd("AT+CIPMUX=1"), "\r\nOK\r\n");
    assert_eq!(b.cmd("AT+CIPSERVER=1,333"), "\r\nOK\r\n");
    let first = net(&mut b).dial(CLIENT, 333).unwrap();
    b.advance(Duration::from_millis(10));
    assert_eq!(b.take(), "0,CONNECT\r\n");
    b.send(b"AT+CIPSEND=0,10\r\n");
    assert_eq!(b.take(), "\r\nOK\r\n\r\n>");
    b.send(b"AAAAA");
    b.advance(Duration::from_millis(10));
    net(&mut b).peer_close(first);
    b.advance(Duration::from_millis(10));
    let second_addr = SocketAddr::new(CLIENT.ip(), 40_001);
    let second = net(&mut b).dial(second_addr, 333).unwrap();
    b.advance(Duration::from_millis(10));
    assert_eq!(b.take(), "0,CLOSED\r\n0,CONNECT\r\n");
    b.send(b"BBBBB");
    assert_eq!(b.settle(), "\r\nRecv 10 bytes\r\n\r\nSEND FAIL\r\n");
    assert_eq!(net(&mut b).peer_take(second), b"", "the new link got the old send's bytes");
}

#[test]
fn data_sent_just_before_a_reset_is_delivered_before_closed() {
    let mut b = online();
    assert_eq!(b.cmd("AT+CIPSTART=\"TCP\",\"10.1.1.1\",8080"), "CONNECT\r\n\r\nOK\r\n");
    let peer = net(&mut b).accepted(SERVER)[0];
    net(&mut b).peer_send(peer, b"RESPONSE");
    net(&mut b).peer_reset(peer);
    b.advance(Duration::from_millis(20));
    assert_eq!(b.take(), "\r\n+IPD,8:RESPONSE\r\nCLOSED\r\n");
}

#[test]
fn unread_passive_data_does_not_keep_the_firmware_busy() {
    let mut b = online();
    assert_eq!(b.cmd("AT+CIPRECVTYPE=1"), "\r\nOK\r\n");
    assert_eq!(b.cmd("AT+CIPSTART=\"TCP\",\"10.1.1.1\",8080"), "CONNECT\r\n\r\nOK\r\n");
    let peer = net(&mut b).accepted(SERVER)[0];
    net(&mut b).peer_send(peer, b"12345");
    b.advance(Duration::from_millis(20));
    assert_eq!(b.take(), "\r\n+IPD,5\r\n");
    // Nothing to do until the host reads: the next deadline is not "now".
    let now = b.now;
    let next = b.fw.poll(now);
    assert!(next.is_none_or(|t| t > now), "poll asks to be called again at once: {next:?}");
}

#[test]
fn bytes_past_a_cipsendl_length_get_busy_and_are_dropped() {
    let mut b = online();
    assert_eq!(b.cmd("AT+CIPSTART=\"TCP\",\"10.1.1.1\",8080"), "CONNECT\r\n\r\nOK\r\n");
    let peer = net(&mut b).accepted(SERVER)[0];
    b.send(b"AT+CIPSENDL=3\r\n");
    assert_eq!(b.take(), "\r\nOK\r\n\r\n>");
    b.send(b"abcXYZ");
    let out = b.settle();
    assert!(out.contains("busy p...") && out.ends_with("SEND OK\r\n"), "{out:?}");
    assert_eq!(net(&mut b).peer_take(peer), b"abc");
    assert_eq!(b.cmd("AT"), "\r\nOK\r\n", "the surplus did not prefix the next command");
}
