//! A [`Harness`] for [`SmolNet`] over smoltcp's `Loopback` device: the backend's interface is
//! `127.0.0.1/8`, and the remote hosts are more smoltcp sockets in the same socket set (so the
//! backend's own `poll` drives them), on ports the backend never hands out.
#![allow(dead_code, missing_docs)]

use at_hal::net::conformance::{Harness, PeerRef};
use at_hal::net::{IpConfig, Ipv4Addr, NetEvent, Network, SocketAddr};
use at_hal::time::Instant;
use at_smoltcp::smoltcp::iface::SocketHandle as SmolHandle;
use at_smoltcp::smoltcp::phy::{Loopback, Medium};
use at_smoltcp::smoltcp::socket::{tcp, udp};
use at_smoltcp::smoltcp::wire::{HardwareAddress, IpAddress};
use at_smoltcp::{Settings, SmolNet};
use core::time::Duration;

pub const SERVER_PORT: u16 = 7000;
pub const UDP_PORT: u16 = 7001;
pub const CLOSED_PORT: u16 = 7002;
/// Virtual time per step.
pub const STEP_US: u64 = 1000;

pub struct Peer {
    pub h: SmolHandle,
    /// The harness reset it.
    pub aborted: bool,
}

pub struct LoopbackHarness {
    pub net: SmolNet<Loopback>,
    pub now: Instant,
    /// Listening sockets of the remote server.
    listeners: Vec<SmolHandle>,
    pub peers: Vec<Peer>,
    udp: SmolHandle,
    next_peer_port: u16,
}

pub fn loopback_ip() -> IpConfig {
    IpConfig { ip: Ipv4Addr::LOCALHOST, gateway: Ipv4Addr::UNSPECIFIED, netmask: Ipv4Addr::new(255, 0, 0, 0) }
}

fn peer_socket() -> tcp::Socket<'static> {
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0u8; 64 * 1024]),
        tcp::SocketBuffer::new(vec![0u8; 16 * 1024]),
    );
    s.set_ack_delay(None);
    s
}

impl LoopbackHarness {
    pub fn new() -> Self {
        Self::with_settings(Settings::default())
    }

    pub fn with_settings(settings: Settings) -> Self {
        let now = Instant::from_millis(1);
        let mut net =
            SmolNet::new(Loopback::new(Medium::Ip), HardwareAddress::Ip, 0x1234_5678, settings, now);
        // The static address the harness's `link_up` applies.
        net.set_static_ip(loopback_ip(), now).unwrap();
        let (_, sockets) = net.stack_mut();
        let mut listeners = Vec::new();
        for _ in 0..2 {
            let mut s = peer_socket();
            s.listen(SERVER_PORT).unwrap();
            listeners.push(sockets.add(s));
        }
        let mut u = udp::Socket::new(
            udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 16], vec![0u8; 8192]),
            udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 16], vec![0u8; 8192]),
        );
        u.bind(UDP_PORT).unwrap();
        let udp = sockets.add(u);
        LoopbackHarness { net, now, listeners, peers: Vec::new(), udp, next_peer_port: 40_000 }
    }

    pub fn peer_socket(&mut self, p: PeerRef) -> &mut tcp::Socket<'static> {
        let h = self.peers[p.0 as usize].h;
        self.net.stack_mut().1.get_mut::<tcp::Socket>(h)
    }

    fn add_peer(&mut self, h: SmolHandle) -> PeerRef {
        self.peers.push(Peer { h, aborted: false });
        PeerRef(self.peers.len() as u32 - 1)
    }

    /// Step until `f` holds (at most `n` steps); the events seen.
    pub fn step_until(&mut self, n: usize, mut f: impl FnMut(&mut Self) -> bool) -> Vec<NetEvent> {
        let mut all = Vec::new();
        for _ in 0..n {
            all.extend(self.step());
            if f(self) {
                return all;
            }
        }
        panic!("condition not reached in {n} steps; events {all:?}");
    }
}

impl Harness for LoopbackHarness {
    type Net = SmolNet<Loopback>;

    fn net(&mut self) -> &mut Self::Net {
        &mut self.net
    }

    fn now(&self) -> Instant {
        self.now
    }

    fn step(&mut self) -> Vec<NetEvent> {
        self.now = Instant::from_micros(self.now.as_micros() + STEP_US);
        let mut out = Vec::new();
        // Three runs of the stack: a segment, its ACK and the sender's next segment.
        for _ in 0..3 {
            while let Some(e) = self.net.poll(self.now) {
                out.push(e);
            }
        }
        out
    }

    fn link_up(&mut self) {
        let now = self.now;
        self.net.set_link(true, now);
        while self.net.ip_config().is_none() {
            self.step();
        }
    }

    fn remote_server(&mut self) -> SocketAddr {
        SocketAddr::new(Ipv4Addr::LOCALHOST.into(), SERVER_PORT)
    }

    fn refused_addr(&mut self) -> SocketAddr {
        SocketAddr::new(Ipv4Addr::LOCALHOST.into(), CLOSED_PORT)
    }

    fn remote_accept(&mut self) -> Option<PeerRef> {
        let (_, sockets) = self.net.stack_mut();
        let i = self
            .listeners
            .iter()
            .position(|&h| sockets.get::<tcp::Socket>(h).state() == tcp::State::Established)?;
        let h = self.listeners.remove(i);
        let mut s = peer_socket();
        s.listen(SERVER_PORT).unwrap();
        self.listeners.push(sockets.add(s));
        Some(self.add_peer(h))
    }

    fn remote_dial(&mut self, port: u16) -> PeerRef {
        let local = self.next_peer_port;
        self.next_peer_port += 1;
        let (iface, sockets) = self.net.stack_mut();
        let mut s = peer_socket();
        s.connect(iface.context(), (IpAddress::v4(127, 0, 0, 1), port), local).unwrap();
        let h = sockets.add(s);
        self.add_peer(h)
    }

    fn peer_send(&mut self, peer: PeerRef, data: &[u8]) -> usize {
        let s = self.peer_socket(peer);
        if !s.may_send() {
            // Not established yet (a dial): nothing is taken.
            return 0;
        }
        s.send_slice(data).unwrap_or(0)
    }

    fn peer_recv(&mut self, peer: PeerRef) -> Option<Vec<u8>> {
        let s = self.peer_socket(peer);
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match s.recv_slice(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(tcp::RecvError::Finished) => return if out.is_empty() { None } else { Some(out) },
                Err(tcp::RecvError::InvalidState) => {
                    return if out.is_empty() && s.state() == tcp::State::Closed { None } else { Some(out) };
                }
            }
        }
        Some(out)
    }

    fn peer_close(&mut self, peer: PeerRef) {
        self.peer_socket(peer).close();
    }

    fn peer_reset(&mut self, peer: PeerRef) {
        self.peers[peer.0 as usize].aborted = true;
        self.peer_socket(peer).abort();
    }

    fn peer_was_reset(&mut self, peer: PeerRef) -> bool {
        let aborted = self.peers[peer.0 as usize].aborted;
        // A RST moves the peer straight to CLOSED; a graceful close passes TIME-WAIT/LAST-ACK.
        !aborted && self.peer_socket(peer).state() == tcp::State::Closed
    }

    fn udp_remote(&mut self) -> SocketAddr {
        SocketAddr::new(Ipv4Addr::LOCALHOST.into(), UDP_PORT)
    }

    fn udp_send(&mut self, to_port: u16, data: &[u8]) {
        let h = self.udp;
        let (_, sockets) = self.net.stack_mut();
        sockets.get_mut::<udp::Socket>(h).send_slice(data, (IpAddress::v4(127, 0, 0, 1), to_port)).unwrap();
    }

    fn udp_recv(&mut self) -> Vec<Vec<u8>> {
        let h = self.udp;
        let (_, sockets) = self.net.stack_mut();
        let s = sockets.get_mut::<udp::Socket>(h);
        let mut out = Vec::new();
        while let Ok((d, _)) = s.recv() {
            out.push(d.to_vec());
        }
        out
    }

    fn advance(&mut self, by: Duration) -> Option<Vec<NetEvent>> {
        let end = self.now + by;
        let mut out = Vec::new();
        while self.now < end {
            let soonest = self.now + Duration::from_millis(1);
            let next = self.net.next_deadline().map_or(end, |d| d.max(soonest));
            self.now = next.min(self.now + Duration::from_secs(1)).min(end);
            for _ in 0..3 {
                while let Some(e) = self.net.poll(self.now) {
                    out.push(e);
                }
            }
        }
        Some(out)
    }
}
