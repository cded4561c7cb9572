//! [`StdNet`] against the network conformance suite, with real sockets on loopback as the
//! remote hosts.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant as StdInstant};

use at_hal::net::conformance::{self, Harness, PeerRef};
use at_hal::net::{NetEvent, Network, SocketAddr};
use at_hal::time::Instant;
use at_host::{StdNet, StdNetConfig};

struct Peer {
    /// `None` after the peer reset the connection.
    stream: Option<TcpStream>,
    eof: bool,
    reset: bool,
}

struct Loopback {
    net: StdNet,
    start: StdInstant,
    server: TcpListener,
    peers: Vec<Peer>,
    udp: UdpSocket,
}

impl Loopback {
    fn new() -> Self {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        server.set_nonblocking(true).unwrap();
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        udp.set_nonblocking(true).unwrap();
        Loopback {
            net: StdNet::new(StdNetConfig::default()).unwrap(),
            start: StdInstant::now(),
            server,
            peers: Vec::new(),
            udp,
        }
    }

    fn add(&mut self, stream: TcpStream) -> PeerRef {
        stream.set_nonblocking(true).unwrap();
        self.peers.push(Peer { stream: Some(stream), eof: false, reset: false });
        PeerRef(self.peers.len() as u32 - 1)
    }

    fn peer(&mut self, p: PeerRef) -> &mut Peer {
        &mut self.peers[p.0 as usize]
    }
}

impl Harness for Loopback {
    type Net = StdNet;
    fn net(&mut self) -> &mut StdNet {
        &mut self.net
    }
    fn now(&self) -> Instant {
        Instant::from_micros(self.start.elapsed().as_micros() as u64)
    }
    fn step(&mut self) -> Vec<NetEvent> {
        self.net.wait(Some(Duration::from_millis(2)));
        let now = self.now();
        let mut out = Vec::new();
        while let Some(e) = self.net.poll(now) {
            out.push(e);
        }
        out
    }
    fn link_up(&mut self) {
        let now = self.now();
        self.net.set_link(true, now);
        while self.net.ip_config().is_none() {
            self.step();
        }
    }
    fn remote_server(&mut self) -> SocketAddr {
        self.server.local_addr().unwrap()
    }
    fn refused_addr(&mut self) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    }
    fn remote_accept(&mut self) -> Option<PeerRef> {
        match self.server.accept() {
            Ok((s, _)) => Some(self.add(s)),
            Err(e) if e.kind() == ErrorKind::WouldBlock => None,
            Err(e) => panic!("accept: {e}"),
        }
    }
    fn remote_dial(&mut self, port: u16) -> PeerRef {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("dial the listener");
        self.add(s)
    }
    fn peer_send(&mut self, peer: PeerRef, data: &[u8]) -> usize {
        let Some(stream) = self.peer(peer).stream.as_mut() else { return 0 };
        match stream.write(data) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => 0,
            Err(e) => panic!("peer write: {e}"),
        }
    }
    fn peer_recv(&mut self, peer: PeerRef) -> Option<Vec<u8>> {
        let p = self.peer(peer);
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        let stream = p.stream.as_mut()?;
        loop {
            match stream.read(&mut buf) {
                Ok(0) => {
                    p.eof = true;
                    break;
                }
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                    p.reset = true;
                    p.eof = true;
                    break;
                }
                Err(e) => panic!("peer read: {e}"),
            }
        }
        if out.is_empty() && p.eof { None } else { Some(out) }
    }
    fn peer_close(&mut self, peer: PeerRef) {
        if let Some(s) = &self.peer(peer).stream {
            s.shutdown(Shutdown::Write).unwrap();
        }
    }
    fn peer_reset(&mut self, peer: PeerRef) {
        // Closing with linger 0 sends RST.
        if let Some(s) = self.peer(peer).stream.take() {
            socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO)).unwrap();
        }
    }
    fn peer_was_reset(&mut self, peer: PeerRef) -> bool {
        let _ = self.peer_recv(peer);
        self.peer(peer).reset
    }
    fn udp_remote(&mut self) -> SocketAddr {
        self.udp.local_addr().unwrap()
    }
    fn udp_send(&mut self, to_port: u16, data: &[u8]) {
        self.udp.send_to(data, ("127.0.0.1", to_port)).unwrap();
    }
    fn udp_recv(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [0u8; 2048];
        while let Ok((n, _)) = self.udp.recv_from(&mut buf) {
            out.push(buf[..n].to_vec());
        }
        out
    }
}

#[test]
fn std_net_conforms() {
    conformance::run_all(Loopback::new);
}

#[test]
fn listening_ports_shift_by_the_offset() {
    let mut net = StdNet::new(StdNetConfig { port_offset: 10_000, ..StdNetConfig::default() }).unwrap();
    net.set_link(true, Instant::ZERO);
    while net.ip_config().is_none() {
        net.wait(Some(Duration::from_millis(5)));
        let _ = net.poll(Instant::from_millis(1000));
    }
    let l = net.tcp_listen(333, 2).unwrap();
    assert_eq!(net.local_addr(l).unwrap().port(), 333, "the firmware sees the port it asked for");
    TcpStream::connect(("127.0.0.1", 10_333)).expect("listening on 333 + offset");
    net.close(l);
}

#[test]
fn many_short_connections_keep_being_accepted() {
    let mut h = Loopback::new();
    h.link_up();
    let l = h.net.tcp_listen(47_555, 5).unwrap();
    let mut accepted = 0;
    for round in 0..20 {
        let s = TcpStream::connect(("127.0.0.1", 47_555)).unwrap_or_else(|e| panic!("round {round}: {e}"));
        drop(s);
        let end = StdInstant::now() + Duration::from_secs(2);
        loop {
            let ev = h.step();
            let mut got = false;
            if ev.iter().any(|e| matches!(e, NetEvent::Acceptable(x) if *x == l)) {
                while let Ok((c, _)) = h.net.tcp_accept(l) {
                    h.net.close(c);
                    accepted += 1;
                    got = true;
                }
            }
            if got {
                break;
            }
            assert!(StdInstant::now() < end, "round {round}: no Acceptable ({accepted} accepted)");
        }
    }
    assert_eq!(accepted, 20);
}
