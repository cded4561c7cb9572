//! Behaviour while the device cannot transmit (a busy Wi-Fi TX queue), over a `Loopback`
//! whose transmit and receive can be blocked.
use at_hal::net::{IpConfig, Ipv4Addr, NetError, NetEvent, Network, SocketAddr, SocketHandle};
use at_hal::time::Instant;
use at_smoltcp::smoltcp::phy::{Device, DeviceCapabilities, Loopback, Medium};
use at_smoltcp::smoltcp::wire::HardwareAddress;
use at_smoltcp::{RST_GRACE, Settings, SmolNet};

struct Gated {
    inner: Loopback,
    blocked: bool,
}

impl Device for Gated {
    type RxToken<'a> = <Loopback as Device>::RxToken<'a>;
    type TxToken<'a> = <Loopback as Device>::TxToken<'a>;
    fn capabilities(&self) -> DeviceCapabilities {
        self.inner.capabilities()
    }
    fn receive(
        &mut self,
        t: at_smoltcp::smoltcp::time::Instant,
    ) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        if self.blocked {
            return None;
        }
        self.inner.receive(t)
    }
    fn transmit(&mut self, t: at_smoltcp::smoltcp::time::Instant) -> Option<Self::TxToken<'_>> {
        if self.blocked {
            return None;
        }
        self.inner.transmit(t)
    }
}

fn setup() -> (SmolNet<Gated>, Instant) {
    let now = Instant::from_millis(1);
    let mut net = SmolNet::new(
        Gated { inner: Loopback::new(Medium::Ip), blocked: false },
        HardwareAddress::Ip,
        1,
        Settings::default(),
        now,
    );
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
    (net, now)
}

fn step(net: &mut SmolNet<Gated>, now: &mut Instant) -> Vec<NetEvent> {
    *now = Instant::from_micros(now.as_micros() + 1000);
    let mut v = Vec::new();
    for _ in 0..3 {
        while let Some(e) = net.poll(*now) {
            v.push(e);
        }
    }
    v
}

/// A connection from the backend to its own listener: (client, accepted server side).
fn pair(net: &mut SmolNet<Gated>, now: &mut Instant, port: u16) -> (SocketHandle, SocketHandle) {
    let l = net.tcp_listen(port, 1).unwrap();
    let s = net.tcp_connect(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port), 0, *now).unwrap();
    for _ in 0..50 {
        step(net, now);
        if let Ok((c, _)) = net.tcp_accept(l) {
            net.close(l);
            return (s, c);
        }
    }
    panic!("not accepted");
}

/// `abort` while the device cannot transmit: the socket is kept until its RST went out, so
/// the peer sees the reset once the device takes packets again.
#[test]
fn abort_rst_goes_out_once_the_device_can_transmit() {
    let (mut net, mut now) = setup();
    let (s, c) = pair(&mut net, &mut now, 7100);
    net.device_mut().blocked = true;
    net.abort(s);
    for _ in 0..5 {
        step(&mut net, &mut now);
    }
    assert_eq!(net.closing_sockets(), 1, "freed before its RST went out");
    net.device_mut().blocked = false;
    let mut failed = false;
    for _ in 0..20 {
        let ev = step(&mut net, &mut now);
        failed |= ev.iter().any(|e| matches!(e, NetEvent::Failed(x, _) if *x == c));
    }
    let mut buf = [0u8; 4];
    let r = net.recv(c, &mut buf);
    assert!(failed && r == Err(NetError::Reset), "the peer never saw the RST: recv on it gives {r:?}");
    assert_eq!(net.closing_sockets(), 0, "freed once the RST went out");
}

/// A device that never transmits again does not hold an aborted socket forever: it is freed
/// `RST_GRACE` after the abort.
#[test]
fn aborted_socket_is_freed_after_the_grace_period_without_transmit() {
    let (mut net, mut now) = setup();
    let (s, _c) = pair(&mut net, &mut now, 7102);
    net.device_mut().blocked = true;
    net.abort(s);
    let start = now;
    while net.closing_sockets() > 0 {
        // Time passes in 10 ms steps (the stack wants to transmit the RST all along).
        now = Instant::from_micros(now.as_micros() + 10_000);
        while net.poll(now).is_some() {}
        assert!(now.saturating_since(start) <= RST_GRACE + core::time::Duration::from_millis(20));
    }
    assert!(now.saturating_since(start) >= RST_GRACE);
}

/// UDP: no `Writable` while the datagram that did not fit still does not (the device is
/// blocked); one once it fits.
#[test]
fn udp_writable_only_when_the_blocked_datagram_fits() {
    let (mut net, mut now) = setup();
    let u = net.udp_bind(5000).unwrap();
    let to = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 5001);
    net.device_mut().blocked = true;
    let d = vec![0u8; 1000];
    assert_eq!(net.send_to(u, &d, to), Ok(()));
    assert_eq!(net.send_to(u, &d, to), Ok(()));
    assert_eq!(net.send_to(u, &d, to), Err(NetError::WouldBlock));
    let mut spurious = 0;
    for _ in 0..50 {
        let ev = step(&mut net, &mut now);
        if ev.contains(&NetEvent::Writable(u)) && net.send_to(u, &d, to) == Err(NetError::WouldBlock) {
            spurious += 1;
        }
    }
    assert_eq!(spurious, 0, "Writable events, each followed by WouldBlock, while nothing moved");
    net.device_mut().blocked = false;
    let mut writable = false;
    for _ in 0..10 {
        writable |= step(&mut net, &mut now).contains(&NetEvent::Writable(u));
    }
    assert!(writable, "no Writable once the queue drained");
    assert_eq!(net.send_to(u, &d, to), Ok(()));
}

/// Unacknowledged data to a peer that went silent still times out after `tcp_timeout`
/// (120 s), although an idle connection never does.
#[test]
fn unacknowledged_data_times_out() {
    let (mut net, mut now) = setup();
    let (s, _c) = pair(&mut net, &mut now, 7101);
    net.device_mut().blocked = true;
    assert_eq!(net.send(s, b"data"), Ok(4));
    let mut died = None;
    for i in 0..200 {
        now = Instant::from_micros(now.as_micros() + 1_000_000);
        if step(&mut net, &mut now).iter().any(|e| matches!(e, NetEvent::Failed(x, _) if *x == s)) {
            died = Some(i);
            break;
        }
    }
    assert!(died.is_some_and(|t| (115..=125).contains(&t)), "{died:?}");
}
