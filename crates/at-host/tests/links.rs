//! `at-sim` with real loopback peers: the link manager over std sockets, driven over the AT
//! port (TCP) as a host would.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use common::{Client, Sim};

const T: Duration = Duration::from_secs(10);

fn online(args: &[&str]) -> (Sim, Client) {
    let sim = Sim::start(args);
    let mut c = sim.connect();
    c.until("ready\r\n", T);
    assert_eq!(c.cmd("ATE0"), "ATE0\r\n\r\nOK\r\n");
    c.send(b"AT+CWJAP=\"esp-at-sim\",\"12345678\"\r\n");
    assert!(c.until("OK\r\n", T).ends_with("WIFI GOT IP\r\n\r\nOK\r\n"));
    (sim, c)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn read_exact_timeout(s: &mut TcpStream, n: usize) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let end = Instant::now() + T;
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    while got.len() < n {
        assert!(Instant::now() < end, "peer got {} of {n} bytes", got.len());
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => got.extend_from_slice(&buf[..k]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("{e}"),
        }
    }
    got
}

#[test]
fn server_with_a_loopback_client() {
    let (_sim, mut c) = online(&[]);
    let port = free_port();
    assert_eq!(c.cmd("AT+CIPMUX=1"), "\r\nOK\r\n");
    assert_eq!(c.cmd(&format!("AT+CIPSERVER=1,{port}")), "\r\nOK\r\n");
    let mut peer = TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert_eq!(c.until("CONNECT\r\n", T), "0,CONNECT\r\n");
    peer.write_all(b"hello").unwrap();
    assert_eq!(c.until("hello\r\n", T), "\r\n+IPD,0,5:hello\r\n");
    c.send(b"AT+CIPSEND=0,3\r\n");
    assert_eq!(c.until(">", T), "\r\nOK\r\n\r\n>");
    c.send(b"abc");
    assert_eq!(c.until("SEND OK\r\n", T), "\r\nRecv 3 bytes\r\n\r\nSEND OK\r\n");
    assert_eq!(read_exact_timeout(&mut peer, 3), b"abc");
    drop(peer);
    assert_eq!(c.until("CLOSED\r\n", T), "0,CLOSED\r\n");
}

#[test]
fn passthrough_16k_both_ways_then_plus_plus_plus() {
    let (_sim, mut c) = online(&[]);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    assert_eq!(c.cmd(&format!("AT+CIPSTART=\"TCP\",\"127.0.0.1\",{port}")), "CONNECT\r\n\r\nOK\r\n");
    let (mut peer, _) = listener.accept().unwrap();
    assert_eq!(c.cmd("AT+CIPMODE=1"), "\r\nOK\r\n");
    c.send(b"AT+CIPSEND\r\n");
    assert_eq!(c.until(">", T), "\r\nOK\r\n\r\n>");
    let up: Vec<u8> = (0..16 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let down: Vec<u8> = (0..16 * 1024u32).map(|i| (i.wrapping_mul(40_503) >> 7) as u8).collect();
    let mut w = peer.try_clone().unwrap();
    let down_copy = down.clone();
    let writer = std::thread::spawn(move || w.write_all(&down_copy).unwrap());
    c.send(&up);
    assert!(read_exact_timeout(&mut peer, up.len()) == up, "host → peer bytes differ");
    let got = c.read_n(down.len(), T);
    assert!(got == down, "peer → host bytes differ");
    writer.join().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    c.send(b"+++");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(c.cmd("AT"), "\r\nOK\r\n", "back in command mode, no reply to +++");
    // The link is still up; its local port is the ephemeral port the peer sees.
    let local = peer.peer_addr().unwrap().port();
    assert_eq!(
        c.cmd("AT+CIPSTATE?"),
        format!("+CIPSTATE:0,\"TCP\",\"127.0.0.1\",{port},{local},0\r\n\r\nOK\r\n")
    );
}

#[test]
fn passive_mode_and_udp() {
    let (_sim, mut c) = online(&[]);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    assert_eq!(c.cmd("AT+CIPRECVTYPE=1"), "\r\nOK\r\n");
    assert_eq!(c.cmd(&format!("AT+CIPSTART=\"TCP\",\"127.0.0.1\",{port}")), "CONNECT\r\n\r\nOK\r\n");
    let (mut peer, _) = listener.accept().unwrap();
    peer.write_all(b"passive!").unwrap();
    assert_eq!(c.until("\r\n+IPD,8\r\n", T), "\r\n+IPD,8\r\n");
    assert_eq!(c.cmd("AT+CIPRECVLEN?"), "+CIPRECVLEN:8\r\n\r\nOK\r\n");
    assert_eq!(c.cmd("AT+CIPRECVDATA=8"), "+CIPRECVDATA:8,passive!\r\nOK\r\n");
    assert_eq!(c.cmd("AT+CIPRECVDATA=8"), "\r\nERROR\r\n", "exactly once");
    assert_eq!(c.cmd("AT+CIPCLOSE"), "CLOSED\r\n\r\nOK\r\n");
    assert_eq!(c.cmd("AT+CIPRECVTYPE=0"), "\r\nOK\r\n");
    // UDP, single link.
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(T)).unwrap();
    let uport = udp.local_addr().unwrap().port();
    let local = free_port();
    assert_eq!(
        c.cmd(&format!("AT+CIPSTART=\"UDP\",\"127.0.0.1\",{uport},{local},0")),
        "CONNECT\r\n\r\nOK\r\n"
    );
    c.send(b"AT+CIPSEND=5\r\n");
    c.until(">", T);
    c.send(b"datag");
    assert_eq!(c.until("SEND OK\r\n", T), "\r\nRecv 5 bytes\r\n\r\nSEND OK\r\n");
    let mut buf = [0u8; 64];
    let (n, from) = udp.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"datag");
    assert_eq!(from.port(), local);
    udp.send_to(b"back!", from).unwrap();
    assert_eq!(c.until("back!\r\n", T), "\r\n+IPD,5:back!\r\n");
}

#[test]
fn connect_close_cycles_leak_nothing() {
    let (sim, mut c) = online(&[]);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let fds = || std::fs::read_dir(format!("/proc/{}/fd", sim.child.id())).map(|d| d.count()).ok();
    let before = fds();
    let mut peers = Vec::new();
    for i in 0..500 {
        let out = c.cmd(&format!("AT+CIPSTART=\"TCP\",\"127.0.0.1\",{port}"));
        assert_eq!(out, "CONNECT\r\n\r\nOK\r\n", "cycle {i}");
        while let Ok((s, _)) = listener.accept() {
            peers.push(s);
        }
        assert_eq!(c.cmd("AT+CIPCLOSE"), "CLOSED\r\n\r\nOK\r\n", "cycle {i}");
        peers.clear();
    }
    if let (Some(b), Some(a)) = (before, fds()) {
        assert!(a <= b + 2, "file descriptors {b} → {a} after 500 cycles");
    }
    assert_eq!(c.cmd("AT+CIPSTATE?"), "\r\nOK\r\n");
}

#[test]
fn a_flood_of_connections_never_starves_the_at_port() {
    let (_sim, mut c) = online(&[]);
    let port = free_port();
    c.cmd("AT+CIPMUX=1");
    assert_eq!(c.cmd(&format!("AT+CIPSERVER=1,{port}")), "\r\nOK\r\n");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let flood = std::thread::spawn(move || {
        let mut n = 0;
        while !flag.load(std::sync::atomic::Ordering::SeqCst) && n < 600 {
            if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
                drop(s);
                n += 1;
            }
            // A connect every millisecond: far above what a modem serves, well within what
            // the stack's accept queue takes.
            std::thread::sleep(Duration::from_millis(1));
        }
        n
    });
    let mut worst = Duration::ZERO;
    for _ in 0..60 {
        let t0 = Instant::now();
        c.send(b"AT\r\n");
        // Connects and closes print messages meanwhile; the OK must come quickly.
        c.until("\r\nOK\r\n", T);
        worst = worst.max(t0.elapsed());
        std::thread::sleep(Duration::from_millis(15));
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let n = flood.join().unwrap();
    assert!(n >= 200, "only {n} connects in the flood");
    assert!(worst < Duration::from_millis(100), "an AT took {worst:?} during {n} connects");
}

#[test]
fn a_server_behind_port_offset_reports_the_port_the_host_asked_for() {
    // AT+CIPSERVER=1,333 without root: at-sim listens on 333 + offset, and the firmware still
    // reports 333 as the link's local port, as the device would.
    let real = free_port();
    assert!(real > 333);
    let offset = (real - 333).to_string();
    let (_sim, mut c) = online(&["--port-offset", &offset]);
    assert_eq!(c.cmd("AT+CIPMUX=1"), "\r\nOK\r\n");
    assert_eq!(c.cmd("AT+CIPSERVER=1,333"), "\r\nOK\r\n");
    let peer = TcpStream::connect(("127.0.0.1", real)).unwrap();
    assert_eq!(c.until("CONNECT\r\n", T), "0,CONNECT\r\n");
    let from = peer.local_addr().unwrap().port();
    assert_eq!(
        c.cmd("AT+CIPSTATE?"),
        format!("+CIPSTATE:0,\"TCP\",\"127.0.0.1\",{from},333,1\r\n\r\nOK\r\n")
    );
}
