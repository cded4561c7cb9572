//! Random interleavings of host commands and network events on the simulated network.
//!
//! Whatever the order — peers dialing, sending, closing and resetting; the host connecting,
//! queueing, reading and closing; time passing in uneven steps; partial writes — the link
//! table must hold its invariants (at most 5 links, buffers within their capacities, one
//! `Closed` per link) and no byte may be lost, duplicated or reordered on a connection that
//! was not reset or closed by the host.

use std::collections::BTreeMap;
use std::time::Duration;

use at_hal::net::{IpAddr, IpConfig, Ipv4Addr, NetEvent, Network, SocketAddr};
use at_hal::time::Instant;
use at_links::{
    Buffers, Connect, ConnectState, Host, LinkEvent, Links, MAX_LINKS, Proto, SEND_SLACK, UdpMode,
};
use at_mock::{Faults, PeerId, SimNet};
use proptest::prelude::*;

const SERVER_PORT: u16 = 333;

fn remote_server() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 7000)
}

#[derive(Debug, Clone)]
enum Op {
    /// A remote client dials the firmware's server.
    Dial,
    /// The host starts a TCP client link in slot `id` (if free).
    Connect(u8),
    /// Peer number `p` (modulo the peers so far) sends `n` bytes.
    PeerSend(usize, usize),
    /// The peer reads what the firmware sent it.
    PeerTake(usize),
    /// The peer closes gracefully.
    PeerClose(usize),
    /// The peer resets.
    PeerReset(usize),
    /// The host queues `n` bytes on link `id`.
    HostSend(u8, usize),
    /// The host takes up to `n` received bytes of link `id` (one `+IPD`).
    Deliver(u8, usize),
    /// `AT+CIPCLOSE=<id>`.
    Close(u8),
    /// Time passes; the stack and the links are polled.
    Poll(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::Dial),
        1 => (0u8..5).prop_map(Op::Connect),
        4 => (0usize..8, 1usize..6000).prop_map(|(p, n)| Op::PeerSend(p, n)),
        3 => (0usize..8).prop_map(Op::PeerTake),
        1 => (0usize..8).prop_map(Op::PeerClose),
        1 => (0usize..8).prop_map(Op::PeerReset),
        3 => (0u8..5, 1usize..6000).prop_map(|(id, n)| Op::HostSend(id, n)),
        4 => (0u8..5, 1usize..4000).prop_map(|(id, n)| Op::Deliver(id, n)),
        1 => (0u8..5).prop_map(Op::Close),
        6 => (0u64..30).prop_map(Op::Poll),
    ]
}

/// One connection as both ends see it.
#[derive(Debug, Default)]
struct Conn {
    /// The link id while the link is up.
    link: Option<u8>,
    /// Everything the peer's sends were accepted for, in order.
    peer_sent: Vec<u8>,
    /// What the host got from the link.
    delivered: Vec<u8>,
    /// Everything the host queued.
    host_sent: Vec<u8>,
    /// What the peer received.
    peer_got: Vec<u8>,
    /// The peer closed gracefully.
    fin: bool,
    /// Data may be missing: reset, or closed by the host.
    cut: bool,
    /// `Closed` was reported.
    closed: bool,
    /// The link was announced (`Connected`) or, for a client link, its connect completed.
    announced: bool,
}

struct World {
    net: SimNet,
    links: Links,
    now: Instant,
    peers: Vec<PeerId>,
    conns: BTreeMap<PeerId, Conn>,
    /// Client links waiting for their peer to appear, in connect order.
    dialing: Vec<u8>,
    /// Peers of the remote server matched to links so far.
    matched: usize,
    counter: u32,
}

impl World {
    fn new(seed: u64, partial_writes: bool) -> World {
        let mut net = SimNet::new(seed).with_faults(Faults { partial_writes, ..Faults::default() });
        let now = Instant::ZERO;
        let cfg = IpConfig {
            ip: Ipv4Addr::new(192, 168, 10, 20),
            gateway: Ipv4Addr::new(192, 168, 10, 1),
            netmask: Ipv4Addr::new(255, 255, 255, 0),
        };
        net.interface().set_static_ip(cfg, now);
        net.interface().set_link(true, now);
        net.add_server(remote_server());
        let mut links = Links::new(Buffers::default());
        links.listen(&mut net, SERVER_PORT, Proto::Tcp).expect("listen");
        World {
            net,
            links,
            now,
            peers: Vec::new(),
            conns: BTreeMap::new(),
            dialing: Vec::new(),
            matched: 0,
            counter: 0,
        }
    }

    /// Bytes nobody could confuse with another stream's: a running counter.
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                self.counter = self.counter.wrapping_add(1);
                (self.counter.wrapping_mul(2_654_435_761) >> 24) as u8
            })
            .collect()
    }

    fn peer(&self, p: usize) -> Option<PeerId> {
        (!self.peers.is_empty()).then(|| self.peers[p % self.peers.len()])
    }

    fn conn_of_link(&mut self, id: u8) -> Option<&mut Conn> {
        self.conns.values_mut().find(|c| c.link == Some(id))
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Dial => {
                let from =
                    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 1, 2)), 40_000 + self.peers.len() as u16);
                if let Ok(p) = self.net.dial(from, SERVER_PORT) {
                    self.peers.push(p);
                    self.conns.insert(p, Conn::default());
                }
            }
            Op::Connect(id) => {
                if self.links.get(id).is_none() {
                    let c = Connect {
                        proto: Proto::Tcp,
                        host: Host::Ip(remote_server().ip()),
                        port: remote_server().port(),
                        local_port: 0,
                        udp_mode: UdpMode::Fixed,
                        keepalive_s: 0,
                        timeout_ms: 0,
                    };
                    self.links.connect(&mut self.net, id, &c, self.now).map_err(|e| {
                        TestCaseError::fail(format!("connect to a free slot {id} failed: {e:?}"))
                    })?;
                    self.dialing.push(id);
                }
            }
            Op::PeerSend(p, n) => {
                if let Some(p) = self.peer(p) {
                    let data = self.bytes(n);
                    let took = self.net.peer_send(p, &data);
                    prop_assert!(took <= n);
                    self.conns.get_mut(&p).unwrap().peer_sent.extend_from_slice(&data[..took]);
                }
            }
            Op::PeerTake(p) => {
                if let Some(p) = self.peer(p) {
                    let got = self.net.peer_take(p);
                    self.conns.get_mut(&p).unwrap().peer_got.extend_from_slice(&got);
                }
            }
            Op::PeerClose(p) => {
                if let Some(p) = self.peer(p) {
                    self.net.peer_close(p);
                    let c = self.conns.get_mut(&p).unwrap();
                    c.fin = !c.cut;
                }
            }
            Op::PeerReset(p) => {
                if let Some(p) = self.peer(p) {
                    self.net.peer_reset(p);
                    self.conns.get_mut(&p).unwrap().cut = true;
                }
            }
            Op::HostSend(id, n) => {
                let data = self.bytes(n);
                let room = self.links.send_room(id);
                let took = self.links.queue(id, &data, self.now);
                prop_assert!(took <= room + SEND_SLACK && took <= n, "queued {took} with room {room}");
                if took > 0 {
                    let Some(c) = self.conn_of_link(id) else {
                        return Err(TestCaseError::fail(format!("link {id} took bytes but has no peer")));
                    };
                    c.host_sent.extend_from_slice(&data[..took]);
                }
            }
            Op::Deliver(id, n) => self.deliver(id, n)?,
            Op::Close(id) => {
                if self.links.close(&mut self.net, id).is_ok() {
                    self.dialing.retain(|&d| d != id);
                    if let Some(c) = self.conn_of_link(id) {
                        c.link = None;
                        c.cut = true;
                    }
                }
            }
            Op::Poll(ms) => self.poll(Duration::from_millis(ms))?,
        }
        self.check()
    }

    fn deliver(&mut self, id: u8, max: usize) -> Result<(), TestCaseError> {
        let Some((chunk, _)) = self.links.next_chunk(id) else { return Ok(()) };
        prop_assert!(chunk.len() <= at_links::MAX_IPD, "+IPD of {} bytes", chunk.len());
        let n = chunk.len().min(max);
        let bytes = chunk[..n].to_vec();
        self.links.consume(id, n);
        let Some(c) = self.conn_of_link(id) else {
            return Err(TestCaseError::fail(format!("link {id} delivered bytes but has no peer")));
        };
        c.delivered.extend_from_slice(&bytes);
        Ok(())
    }

    fn poll(&mut self, step: Duration) -> Result<(), TestCaseError> {
        self.now = self.now + step;
        // Bounded: the stack never reports more events than it has sockets and timers.
        for _ in 0..1000 {
            let Some(ev) = self.net.poll(self.now) else { break };
            if !matches!(ev, NetEvent::GotIp(_) | NetEvent::LostIp | NetEvent::TimeUpdated(_)) {
                self.links.on_net_event(ev, self.now);
            }
        }
        self.links.poll(&mut self.net, self.now);
        // The core prints CONNECT and OK for a client link once it is up, then lets it go.
        for id in 0..MAX_LINKS as u8 {
            if self.links.is_awaited(id) && self.links.connect_state(id) == ConnectState::Open {
                self.links.unawait(id);
            }
        }
        // Client links whose connect completed meet their peer (the remote server accepts in
        // connect order).
        let accepted = self.net.accepted(remote_server()).to_vec();
        while self.matched < accepted.len() {
            let p = accepted[self.matched];
            self.matched += 1;
            prop_assert!(!self.dialing.is_empty(), "the remote server accepted a connect nobody made");
            let id = self.dialing.remove(0);
            self.peers.push(p);
            let still_ours = self.links.get(id).is_some();
            self.conns.insert(
                p,
                Conn { link: still_ours.then_some(id), cut: !still_ours, announced: true, ..Conn::default() },
            );
        }
        while let Some(ev) = self.links.take_event() {
            match ev {
                LinkEvent::Connected { id, proto, server, remote, .. } => {
                    prop_assert!(server && proto == Proto::Tcp, "only the server's links are announced here");
                    let Some((&p, c)) = self
                        .conns
                        .iter_mut()
                        .find(|(p, _)| self.net.peer_addrs(**p).is_some_and(|(from, _)| from == remote))
                    else {
                        return Err(TestCaseError::fail(format!("link {id} accepted from unknown {remote}")));
                    };
                    prop_assert!(!c.announced, "peer {p:?} announced twice");
                    c.link = Some(id);
                    c.announced = true;
                }
                LinkEvent::Closed { id } => {
                    let Some(c) = self.conns.values_mut().find(|c| c.link == Some(id)) else {
                        return Err(TestCaseError::fail(format!("Closed for link {id} that nobody holds")));
                    };
                    prop_assert!(!c.closed, "link {id} closed twice");
                    c.closed = true;
                    c.link = None;
                    if c.fin && !c.cut {
                        // A graceful close is reported only after every byte was delivered.
                        prop_assert_eq!(c.delivered.len(), c.peer_sent.len(), "CLOSED before all data");
                    }
                }
            }
        }
        // Failed connects free their slot when the host closes them; here none fail (no
        // refusals are scripted), so every client link is pending or open.
        self.check()
    }

    fn check(&self) -> Result<(), TestCaseError> {
        prop_assert!(self.links.count() <= MAX_LINKS);
        let buffers = self.links.buffers();
        for id in self.links.ids() {
            let l = self.links.get(id).unwrap();
            prop_assert!(l.buffered() <= buffers.rx, "link {id} holds {} > {}", l.buffered(), buffers.rx);
            prop_assert!(
                l.unsent() <= buffers.tx + SEND_SLACK,
                "link {id} queues {} > {}",
                l.unsent(),
                buffers.tx
            );
        }
        let mut held: Vec<u8> = self.conns.values().filter_map(|c| c.link).collect();
        held.sort_unstable();
        let before = held.len();
        held.dedup();
        prop_assert_eq!(before, held.len(), "two connections on one link id");
        for (p, c) in &self.conns {
            // Whatever arrived is exactly what was sent, in order (a prefix of it).
            prop_assert!(c.peer_sent.starts_with(&c.delivered), "peer {p:?} → host bytes differ");
            prop_assert!(c.host_sent.starts_with(&c.peer_got), "host → peer {p:?} bytes differ");
        }
        Ok(())
    }

    /// Stop disturbing and let everything drain: every connection still up (and every
    /// gracefully closed one) has delivered everything, both ways.
    fn drain(&mut self) -> Result<(), TestCaseError> {
        for _ in 0..400 {
            self.poll(Duration::from_millis(5))?;
            for id in 0..MAX_LINKS as u8 {
                while self.links.next_chunk(id).is_some() {
                    self.deliver(id, usize::MAX)?;
                }
            }
            for p in self.peers.clone() {
                let got = self.net.peer_take(p);
                self.conns.get_mut(&p).unwrap().peer_got.extend_from_slice(&got);
            }
        }
        for (p, c) in &self.conns {
            if !c.announced {
                // Dialed while the server was full (AT+CIPSERVERMAXCONN, or no free id): the
                // firmware refused it, as ESP-AT does — never half-open, nothing delivered.
                prop_assert!(c.delivered.is_empty());
                prop_assert_ne!(
                    self.net.peer_state(*p),
                    Some(at_mock::PeerState::Open),
                    "peer {:?} left hanging",
                    p
                );
                continue;
            }
            if c.cut {
                continue;
            }
            prop_assert_eq!(c.delivered.len(), c.peer_sent.len(), "peer {:?} → host: bytes lost", p);
            if c.link.is_some() {
                prop_assert_eq!(c.peer_got.len(), c.host_sent.len(), "host → peer {:?}: bytes lost", p);
            }
            if c.fin {
                prop_assert!(c.closed, "peer {:?} closed, CLOSED never reported", p);
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn any_interleaving_keeps_the_table_consistent_and_the_bytes_whole(
        seed in any::<u64>(),
        partial_writes in any::<bool>(),
        ops in prop::collection::vec(op(), 1..120),
    ) {
        let mut w = World::new(seed, partial_writes);
        for op in &ops {
            w.apply(op)?;
        }
        w.drain()?;
    }
}

#[test]
fn udp_datagrams_keep_their_boundaries_when_the_host_is_slow() {
    // Datagrams arrive while earlier ones still wait: none is cut to fit the buffer.
    let mut w = World::new(1, false);
    let c = Connect {
        proto: Proto::Udp,
        host: Host::Ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9))),
        port: 9000,
        local_port: 5000,
        udp_mode: UdpMode::Fixed,
        keepalive_s: 0,
        timeout_ms: 0,
    };
    w.links.connect(&mut w.net, 0, &c, w.now).unwrap();
    let from = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)), 9000);
    let sizes = [1000usize, 1500, 700, 1472, 2000, 1];
    for (i, &n) in sizes.iter().enumerate() {
        assert!(w.net.udp_send(from, 5000, &vec![i as u8; n]));
    }
    let mut got = Vec::new();
    for i in 0..50 {
        w.poll(Duration::from_millis(1)).unwrap();
        // The host takes one datagram every third poll.
        if i % 3 != 2 {
            continue;
        }
        if let Some((d, _)) = w.links.next_chunk(0) {
            let d = d.to_vec();
            w.links.consume(0, d.len());
            got.push(d);
        }
    }
    let want: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(i, &n)| vec![i as u8; n]).collect();
    assert_eq!(got, want);
}
