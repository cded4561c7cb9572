//! A listener's half-open connections over a lossy device: a retransmitted SYN (our SYN-ACK
//! was lost) must reach its half-open connection, not the re-armed listening socket (smoltcp
//! hands a segment to the first socket in slot order that accepts it); a handshake that never
//! completes is reset after `Settings::handshake_timeout`.
use std::collections::VecDeque;

use at_hal::net::{IpConfig, Ipv4Addr, NetEvent, Network};
use at_hal::time::Instant;
use at_smoltcp::smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use at_smoltcp::smoltcp::socket::{Socket, tcp};
use at_smoltcp::smoltcp::time::Instant as SI;
use at_smoltcp::smoltcp::wire::{HardwareAddress, IpAddress};
use at_smoltcp::{Settings, SmolNet};

/// Loopback that drops the next `drop_next` packets transmitted.
#[derive(Default)]
struct Lossy {
    q: VecDeque<Vec<u8>>,
    drop_next: usize,
}
struct Rx(Vec<u8>);
struct Tx<'a>(&'a mut Lossy);
impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}
impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut b = vec![0u8; len];
        let r = f(&mut b);
        if self.0.drop_next > 0 {
            self.0.drop_next -= 1;
        } else {
            self.0.q.push_back(b);
        }
        r
    }
}
impl Device for Lossy {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;
    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ip;
        c.max_transmission_unit = 1500;
        c
    }
    fn receive(&mut self, _: SI) -> Option<(Rx, Tx<'_>)> {
        let p = self.q.pop_front()?;
        Some((Rx(p), Tx(self)))
    }
    fn transmit(&mut self, _: SI) -> Option<Tx<'_>> {
        Some(Tx(self))
    }
}

fn run1(net: &mut SmolNet<Lossy>, now: Instant) -> Vec<NetEvent> {
    let mut v = Vec::new();
    while let Some(e) = net.poll(now) {
        v.push(e);
    }
    v
}

fn setup(now: Instant) -> SmolNet<Lossy> {
    let mut net = SmolNet::new(Lossy::default(), HardwareAddress::Ip, 7, Settings::default(), now);
    net.set_static_ip(
        IpConfig {
            ip: Ipv4Addr::LOCALHOST,
            gateway: Ipv4Addr::UNSPECIFIED,
            netmask: Ipv4Addr::new(255, 0, 0, 0),
        },
        now,
    )
    .unwrap();
    net.set_link(true, now);
    run1(&mut net, now);
    net
}

/// The client's SYN-ACK is lost; its retransmitted SYN must reach the half-open connection.
/// With `churn`, sockets closed after the listener leave free slots below it, where the
/// re-armed listening socket would land.
fn retransmitted_syn_reaches_the_half_open_connection(churn: bool) {
    let mut now = Instant::from_millis(1);
    let mut net = setup(now);
    let u1 = net.udp_bind(6001).unwrap();
    let u2 = net.udp_bind(6002).unwrap();
    let l = net.tcp_listen(8000, 4).unwrap();
    if churn {
        net.close(u1);
        net.close(u2);
    }
    // The client (in the same set: it takes one of the free slots).
    let peer = {
        let (iface, set) = net.stack_mut();
        let mut s =
            tcp::Socket::new(tcp::SocketBuffer::new(vec![0; 4096]), tcp::SocketBuffer::new(vec![0; 4096]));
        s.connect(iface.context(), (IpAddress::v4(127, 0, 0, 1), 8000), 40000).unwrap();
        set.add(s)
    };
    // Run 1: the SYN goes out. Drop what the next run sends (the SYN-ACK).
    run1(&mut net, now);
    net.device_mut().drop_next = 1;
    now = Instant::from_micros(now.as_micros() + 1000);
    run1(&mut net, now); // SYN in -> half-open; re-armed listener takes the other free slot; SYN-ACK dropped
    // The client retransmits its SYN after its RTO.
    for _ in 0..40 {
        now = Instant::from_micros(now.as_micros() + 100_000);
        for _ in 0..3 {
            run1(&mut net, now);
        }
    }
    let peer_state = net.stack_mut().1.get::<tcp::Socket>(peer).state();
    // Send from the client and see it arrive on the accepted connection.
    net.stack_mut().1.get_mut::<tcp::Socket>(peer).send_slice(b"hello").ok();
    let mut accepted = Vec::new();
    for _ in 0..20 {
        now = Instant::from_micros(now.as_micros() + 10_000);
        run1(&mut net, now);
        while let Ok((c, _)) = net.tcp_accept(l) {
            accepted.push(c);
        }
    }
    let mut got = Vec::new();
    for &c in &accepted {
        let mut b = [0u8; 16];
        got.push(net.recv(c, &mut b));
    }
    let peer_after = net.stack_mut().1.get::<tcp::Socket>(peer).state();
    assert_eq!(peer_after, tcp::State::Established, "client {peer_state:?} -> {peer_after:?}, churn {churn}");
    assert_eq!(got, vec![Ok(5)], "accepted {accepted:?}, churn {churn}");
}

#[test]
fn retransmitted_syn_reaches_the_half_open_connection_with_slot_churn() {
    retransmitted_syn_reaches_the_half_open_connection(true);
}

#[test]
fn retransmitted_syn_reaches_the_half_open_connection_without_churn() {
    retransmitted_syn_reaches_the_half_open_connection(false);
}

fn tcp_sockets(net: &mut SmolNet<Lossy>) -> usize {
    net.stack_mut().1.iter().filter(|(_, s)| matches!(s, Socket::Tcp(_))).count()
}

/// A half-open connection whose handshake never completes (every packet from here on is
/// lost) is reset and freed after the handshake timeout (10 s), well before smoltcp's own
/// timeouts would act.
#[test]
fn half_open_connection_is_reset_after_the_handshake_timeout() {
    let mut now = Instant::from_millis(1);
    let mut net = setup(now);
    let _l = net.tcp_listen(8001, 4).unwrap();
    let peer = {
        let (iface, set) = net.stack_mut();
        let mut s =
            tcp::Socket::new(tcp::SocketBuffer::new(vec![0; 1024]), tcp::SocketBuffer::new(vec![0; 1024]));
        s.connect(iface.context(), (IpAddress::v4(127, 0, 0, 1), 8001), 40001).unwrap();
        set.add(s)
    };
    run1(&mut net, now); // the SYN out
    net.device_mut().drop_next = usize::MAX;
    now = Instant::from_micros(now.as_micros() + 1000);
    run1(&mut net, now); // SYN in: half-open, and a fresh listening socket
    // The client, the half-open connection and the listening socket.
    assert_eq!(tcp_sockets(&mut net), 3);
    let mut at = None;
    for i in 0..150 {
        now = Instant::from_micros(now.as_micros() + 100_000);
        run1(&mut net, now);
        if at.is_none() && tcp_sockets(&mut net) == 2 {
            at = Some(i);
        }
    }
    assert!(at.is_some_and(|i| (95..=105).contains(&i)), "half-open connection freed at step {at:?}");
    assert_eq!(net.stack_mut().1.get::<tcp::Socket>(peer).state(), tcp::State::SynSent);
}
