//! [`SimNet`] against the network conformance suite, with scripted peers, then with seeded
//! faults on top.

use std::collections::BTreeSet;
use std::time::Duration;

use at_hal::net::conformance::{self, Harness, PeerRef};
use at_hal::net::{IpAddr, Ipv4Addr, NetEvent, Network, SocketAddr};
use at_hal::time::Instant;
use at_mock::{Faults, PeerId, PeerState, SimNet};

struct Sim {
    net: SimNet,
    now: Instant,
    seen: BTreeSet<PeerId>,
    /// Events withheld from the suite (to play a backend that never reports them).
    hide: fn(&NetEvent) -> bool,
}

const SERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 1, 1, 1)), 80);
const CLOSED: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 1, 1, 1)), 81);
const UDP_REMOTE: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 9, 9, 9)), 5555);
const CLIENT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 7, 7, 7)), 40_000);

impl Sim {
    fn new(net: SimNet) -> Self {
        let mut net = net;
        net.add_server(SERVER);
        Sim { net, now: Instant::from_millis(0), seen: BTreeSet::new(), hide: |_| false }
    }
}

impl Harness for Sim {
    type Net = SimNet;
    fn net(&mut self) -> &mut SimNet {
        &mut self.net
    }
    fn now(&self) -> Instant {
        self.now
    }
    fn step(&mut self) -> Vec<NetEvent> {
        self.now = self.now + Duration::from_millis(1);
        let mut out = Vec::new();
        while let Some(e) = self.net.poll(self.now) {
            if !(self.hide)(&e) {
                out.push(e);
            }
        }
        out
    }
    fn link_up(&mut self) {
        self.net.set_link(true, self.now);
        while self.net.ip_config().is_none() {
            self.step();
        }
    }
    fn remote_server(&mut self) -> SocketAddr {
        SERVER
    }
    fn refused_addr(&mut self) -> SocketAddr {
        CLOSED
    }
    fn remote_accept(&mut self) -> Option<PeerRef> {
        let next = self.net.accepted(SERVER).iter().copied().find(|p| !self.seen.contains(p))?;
        self.seen.insert(next);
        Some(PeerRef(next.0))
    }
    fn remote_dial(&mut self, port: u16) -> PeerRef {
        PeerRef(self.net.dial(CLIENT, port).expect("dial").0)
    }
    fn peer_send(&mut self, peer: PeerRef, data: &[u8]) -> usize {
        self.net.peer_send(PeerId(peer.0), data)
    }
    fn peer_recv(&mut self, peer: PeerRef) -> Option<Vec<u8>> {
        let data = self.net.peer_take(PeerId(peer.0));
        let closed = self.net.peer_state(PeerId(peer.0)) == Some(PeerState::ClosedByFirmware);
        if data.is_empty() && closed { None } else { Some(data) }
    }
    fn peer_close(&mut self, peer: PeerRef) {
        self.net.peer_close(PeerId(peer.0));
    }
    fn peer_reset(&mut self, peer: PeerRef) {
        self.net.peer_reset(PeerId(peer.0));
    }
    fn peer_was_reset(&mut self, peer: PeerRef) -> bool {
        self.net.peer_state(PeerId(peer.0)) == Some(PeerState::ResetByFirmware)
    }
    fn udp_remote(&mut self) -> SocketAddr {
        UDP_REMOTE
    }
    fn udp_send(&mut self, to_port: u16, data: &[u8]) {
        assert!(self.net.udp_send(UDP_REMOTE, to_port, data));
    }
    fn udp_recv(&mut self) -> Vec<Vec<u8>> {
        self.net.udp_take(UDP_REMOTE).into_iter().map(|(_, d)| d).collect()
    }
    fn advance(&mut self, by: Duration) -> Option<Vec<NetEvent>> {
        let end = self.now + by;
        let mut out = Vec::new();
        while self.now < end {
            let soonest = self.now + Duration::from_millis(1);
            let next = self.net.next_deadline().map_or(end, |d| d.max(soonest));
            self.now = next.min(self.now + Duration::from_secs(1)).min(end);
            while let Some(e) = self.net.poll(self.now) {
                out.push(e);
            }
        }
        Some(out)
    }
}

#[test]
fn sim_net_conforms() {
    conformance::run_all(|| Sim::new(SimNet::new(1)));
}

#[test]
fn sim_net_conforms_with_partial_writes_and_delay() {
    for seed in 0..4 {
        let faults = Faults { partial_writes: true, delay: Duration::from_millis(3), ..Faults::default() };
        conformance::run_all(|| Sim::new(SimNet::new(seed).with_faults(faults)));
    }
}

/// The suite is not blind to missing events: a backend that never reports `Readable` (or
/// `Acceptable`) fails it, although its sockets are readable.
#[test]
#[should_panic(expected = "timed out waiting for Readable")]
fn a_backend_that_never_reports_readable_fails_the_suite() {
    let mut h = Sim::new(SimNet::new(1));
    h.hide = |e| matches!(e, NetEvent::Readable(_));
    conformance::readable_and_acceptable_are_reported(&mut h);
}

#[test]
#[should_panic(expected = "timed out waiting for Acceptable")]
fn a_backend_that_never_reports_acceptable_fails_the_suite() {
    let mut h = Sim::new(SimNet::new(1));
    h.hide = |e| matches!(e, NetEvent::Acceptable(_));
    conformance::readable_and_acceptable_are_reported(&mut h);
}

#[test]
fn seeded_faults_refuse_reset_and_lose() {
    let faults = Faults { refuse: 1.0, ..Faults::default() };
    let mut h = Sim::new(SimNet::new(9).with_faults(faults));
    h.link_up();
    let s = h.net.tcp_connect(SERVER, 0, h.now).unwrap();
    let ev: Vec<NetEvent> = (0..20).flat_map(|_| h.step()).collect();
    assert!(ev.contains(&NetEvent::ConnectFailed(s, at_hal::net::NetError::Refused)));

    let mut h = Sim::new(SimNet::new(9));
    h.link_up();
    let s = h.net.tcp_connect(SERVER, 0, h.now).unwrap();
    (0..20).for_each(|_| drop(h.step()));
    h.net.set_faults(Faults { reset: 1.0, ..Faults::default() });
    assert_eq!(h.net.send(s, b"x"), Err(at_hal::net::NetError::Reset));
    assert_eq!(h.net.send(s, b"x"), Err(at_hal::net::NetError::Reset), "sticky");

    let mut h = Sim::new(SimNet::new(9).with_faults(Faults { udp_loss: 0.5, ..Faults::default() }));
    h.link_up();
    let u = h.net.udp_bind(7000).unwrap();
    let mut buf = [0u8; 8];
    let mut delivered = 0;
    for i in 0..200u8 {
        h.net.udp_send(UDP_REMOTE, 7000, &[i]);
        h.step();
        delivered += usize::from(h.net.recv_from(u, &mut buf).is_ok());
    }
    assert!((60..140).contains(&delivered), "{delivered} of 200 with 50 % loss");
    h.net.close(u);
    // Same seed, same run.
    let mut a = Sim::new(SimNet::new(3).with_faults(Faults { udp_loss: 0.5, ..Faults::default() }));
    let mut b = Sim::new(SimNet::new(3).with_faults(Faults { udp_loss: 0.5, ..Faults::default() }));
    for h in [&mut a, &mut b] {
        h.link_up();
        h.net.udp_bind(7000).unwrap();
    }
    let ra: Vec<bool> = (0..50).map(|i| a.net.udp_send(UDP_REMOTE, 7000, &[i])).collect();
    let rb: Vec<bool> = (0..50).map(|i| b.net.udp_send(UDP_REMOTE, 7000, &[i])).collect();
    assert_eq!(ra, rb);
}
