//! [`StdNet`]: the [`Network`] trait over real, non-blocking std sockets, for `at-sim`.
//!
//! * Sockets are the PC's (TCP and UDP, IPv4 and IPv6 addresses), made non-blocking and
//!   registered with `mio` (epoll on Linux), whose edge-triggered readiness becomes
//!   [`NetEvent`]s. [`StdNet::wait`] sleeps until a socket is ready, the [`StdNet::waker`] is
//!   woken (the AT port's threads do it) or a timeout passes — so an idle simulator uses no
//!   CPU.
//! * The station interface is simulated ([`SimInterface`]): after the simulated Wi-Fi
//!   associates, "DHCP" hands out `127.0.0.1/8` (the PC is the device), and SNTP reports the
//!   PC's clock. Without an address, sockets cannot be opened, as on the chip.
//! * Listening and UDP sockets bind to [`StdNetConfig::bind`] (loopback by default, so the
//!   simulator is not reachable from the LAN unless asked). Listening ports can be shifted by
//!   [`StdNetConfig::port_offset`] for users who cannot bind privileged ports: `AT+CIPSERVER=1,333`
//!   then listens on 333 + offset, and the firmware still sees 333.
//! * DNS: numeric addresses, `localhost` and `/etc/hosts` are answered at once; other names
//!   go to a resolver thread (at most [`MAX_LOOKUPS`] at a time), never the poll loop.
//!
//! Every call does bounded work: [`Network::poll`] takes at most [`EVENTS_PER_POLL`] OS events.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

use at_hal::net::{
    Datagram, DnsQuery, IpAddr, IpConfig, Ipv4Addr, MAX_HOST_LEN, NetError, NetEvent, Network, SntpConfig,
    SocketAddr, SocketHandle, SocketOption,
};
use at_hal::time::{Instant, UnixTime};
use at_mock::SimInterface;
use mio::net::{TcpListener, TcpStream, UdpSocket};
use mio::{Events, Interest, Poll, Token, Waker};
use nix::errno::Errno;
use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};

/// OS readiness events taken per [`Network::poll`] or [`StdNet::wait`].
pub const EVENTS_PER_POLL: usize = 256;
/// DNS lookups that may run at once on resolver threads.
pub const MAX_LOOKUPS: usize = 4;

const WAKE: Token = Token(usize::MAX);
/// Tokens from here up (below the waker's, `usize::MAX`) belong to sources registered through
/// [`StdNet::registry`] (the AT port); their events are kept for [`StdNet::take_external`].
pub const EXTERNAL_TOKENS: usize = usize::MAX - 16;

/// Options of the std backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StdNetConfig {
    /// Address listening and UDP sockets bind to (default `127.0.0.1`).
    pub bind: IpAddr,
    /// Added to every listening port (for non-root users and the privileged port 333).
    pub port_offset: u16,
}

impl Default for StdNetConfig {
    fn default() -> Self {
        StdNetConfig { bind: IpAddr::V4(Ipv4Addr::LOCALHOST), port_offset: 0 }
    }
}

enum Kind {
    /// A TCP connection; `connected` is false while the connect runs.
    Tcp(TcpStream, bool),
    /// A listener and the port the firmware asked for.
    Listener(TcpListener, u16),
    Udp(UdpSocket),
}

struct Sock {
    kind: Kind,
    /// A sticky error (reset, refused, timed out).
    failed: Option<NetError>,
    /// `SO_LINGER` as set by the firmware; only 0 (abort) is applied at close.
    linger: Option<u16>,
    /// For an accepted connection: the local port the firmware's server asked for (the
    /// socket's real port is shifted by `port_offset`).
    local_port: Option<u16>,
}

/// An ICMP echo in flight: an unprivileged ICMP datagram socket (Linux `ping_group_range`, or
/// root) and when it was sent.
struct Echo {
    socket: std::net::UdpSocket,
    sent: Instant,
}

enum Lookup {
    Running,
    Done(Result<IpAddr, NetError>),
}

/// The std-socket backend. See the module docs.
pub struct StdNet {
    config: StdNetConfig,
    poll: Poll,
    events: Events,
    waker: Arc<Waker>,
    iface: SimInterface,
    socks: HashMap<u32, Sock>,
    next: u32,
    queue: VecDeque<NetEvent>,
    lookups: HashMap<u32, Lookup>,
    echoes: HashMap<u32, Echo>,
    dns_tx: Sender<(u32, Result<IpAddr, NetError>)>,
    dns_rx: Receiver<(u32, Result<IpAddr, NetError>)>,
    running_lookups: usize,
    /// Readiness of external sources (see [`StdNet::take_external`]).
    external: Vec<(Token, bool, bool)>,
}

impl std::fmt::Debug for StdNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdNet").field("sockets", &self.socks.len()).field("iface", &self.iface).finish()
    }
}

fn map_err(e: &io::Error) -> NetError {
    use io::ErrorKind as K;
    match e.kind() {
        K::WouldBlock => NetError::WouldBlock,
        K::ConnectionRefused => NetError::Refused,
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => NetError::Reset,
        K::TimedOut => NetError::TimedOut,
        K::AddrInUse => NetError::AddrInUse,
        K::AddrNotAvailable | K::HostUnreachable | K::NetworkUnreachable | K::NetworkDown => {
            NetError::Unreachable
        }
        K::NotConnected => NetError::NotConnected,
        K::InvalidInput => NetError::InvalidArgument,
        _ => NetError::Io,
    }
}

impl StdNet {
    /// A backend; its interface gets `127.0.0.1/8` a moment after the link comes up.
    pub fn new(config: StdNetConfig) -> io::Result<Self> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        let mut iface = SimInterface::new(IpConfig {
            ip: Ipv4Addr::LOCALHOST,
            gateway: Ipv4Addr::LOCALHOST,
            netmask: Ipv4Addr::new(255, 0, 0, 0),
        });
        iface.set_wall_clock(|_| {
            UnixTime(
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            )
        });
        let (dns_tx, dns_rx) = channel();
        Ok(StdNet {
            config,
            poll,
            events: Events::with_capacity(EVENTS_PER_POLL),
            waker,
            iface,
            socks: HashMap::new(),
            next: 1,
            queue: VecDeque::new(),
            lookups: HashMap::new(),
            echoes: HashMap::new(),
            dns_tx,
            dns_rx,
            running_lookups: 0,
            external: Vec::new(),
        })
    }

    /// A handle to register more sources in the poll [`StdNet::wait`] sleeps in (the AT port
    /// on TCP), with tokens from [`EXTERNAL_TOKENS`] up; their readiness wakes the loop and is
    /// kept for [`StdNet::take_external`].
    pub fn registry(&self) -> io::Result<mio::Registry> {
        self.poll.registry().try_clone()
    }

    /// Readiness of the external sources since the last call: (token, readable, writable).
    pub fn take_external(&mut self) -> Vec<(Token, bool, bool)> {
        std::mem::take(&mut self.external)
    }

    /// Wakes [`StdNet::wait`] from another thread (the AT port's reader and writer).
    pub fn waker(&self) -> Arc<Waker> {
        self.waker.clone()
    }

    /// The simulated interface (addressing, SNTP): to change its latencies.
    pub fn interface(&mut self) -> &mut SimInterface {
        &mut self.iface
    }

    /// Open sockets (for leak checks).
    pub fn open_sockets(&self) -> usize {
        self.socks.len()
    }

    /// Sleep until a socket is ready, the waker is woken, or `timeout` passes (`None`:
    /// indefinitely). Readiness is kept for the next [`Network::poll`].
    pub fn wait(&mut self, timeout: Option<Duration>) {
        // Events already taken from the OS (by `Network::poll`) are pending work: no sleep.
        if !self.queue.is_empty() || !self.external.is_empty() {
            return;
        }
        self.take_os_events(timeout);
    }

    fn take_os_events(&mut self, timeout: Option<Duration>) {
        if let Err(e) = self.poll.poll(&mut self.events, timeout)
            && e.kind() != io::ErrorKind::Interrupted
        {
            log::error!("network poll: {e}");
        }
        let ready: Vec<(Token, bool, bool, bool)> = self
            .events
            .iter()
            .map(|e| (e.token(), e.is_readable() || e.is_read_closed(), e.is_writable(), e.is_error()))
            .collect();
        for (token, readable, writable, error) in ready {
            if token == WAKE {
                continue;
            }
            if token.0 >= EXTERNAL_TOKENS {
                self.external.push((token, readable || error, writable || error));
                continue;
            }
            let h = token.0 as u32;
            self.on_ready(h, readable, writable, error);
        }
    }

    fn on_ready(&mut self, h: u32, readable: bool, writable: bool, error: bool) {
        let handle = SocketHandle(h);
        let Some(sock) = self.socks.get_mut(&h) else { return };
        if sock.failed.is_some() {
            return;
        }
        match &mut sock.kind {
            Kind::Tcp(stream, connected @ false) => {
                if !(writable || error || readable) {
                    return;
                }
                match stream.take_error() {
                    Ok(Some(e)) | Err(e) => {
                        let err = map_err(&e);
                        sock.failed = Some(err);
                        self.queue.push_back(NetEvent::ConnectFailed(handle, err));
                    }
                    Ok(None) => match stream.peer_addr() {
                        Ok(_) => {
                            *connected = true;
                            self.queue.push_back(NetEvent::Connected(handle));
                            // The same edge may carry data (or the peer's FIN) that arrived
                            // with the handshake: no further edge will announce it.
                            if readable {
                                self.queue.push_back(NetEvent::Readable(handle));
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::NotConnected => {}
                        Err(e) => {
                            let err = map_err(&e);
                            sock.failed = Some(err);
                            self.queue.push_back(NetEvent::ConnectFailed(handle, err));
                        }
                    },
                }
            }
            Kind::Tcp(stream, true) => {
                if error && let Ok(Some(e)) = stream.take_error() {
                    let err = map_err(&e);
                    sock.failed = Some(err);
                    // Data that came before the reset stays readable (recv returns it first).
                    self.queue.push_back(NetEvent::Failed(handle, err));
                    return;
                }
                if readable {
                    self.queue.push_back(NetEvent::Readable(handle));
                }
                if writable {
                    self.queue.push_back(NetEvent::Writable(handle));
                }
            }
            Kind::Listener(..) => {
                if readable {
                    self.queue.push_back(NetEvent::Acceptable(handle));
                }
            }
            Kind::Udp(_) => {
                if readable {
                    self.queue.push_back(NetEvent::Readable(handle));
                }
                if writable {
                    self.queue.push_back(NetEvent::Writable(handle));
                }
            }
        }
    }

    fn insert(&mut self, mut kind: Kind) -> Result<SocketHandle, NetError> {
        let h = self.next;
        self.next = self.next.wrapping_add(1).max(1);
        let token = Token(h as usize);
        let interest = Interest::READABLE | Interest::WRITABLE;
        let r = match &mut kind {
            Kind::Tcp(s, _) => self.poll.registry().register(s, token, interest),
            Kind::Listener(l, _) => self.poll.registry().register(l, token, Interest::READABLE),
            Kind::Udp(u) => self.poll.registry().register(u, token, interest),
        };
        r.map_err(|e| map_err(&e))?;
        self.socks.insert(h, Sock { kind, failed: None, linger: None, local_port: None });
        Ok(SocketHandle(h))
    }

    fn need_address(&self) -> Result<(), NetError> {
        self.iface.ip_config().map(|_| ()).ok_or(NetError::Unreachable)
    }

    fn stream(&mut self, s: SocketHandle) -> Result<&mut TcpStream, NetError> {
        let sock = self.socks.get_mut(&s.0).ok_or(NetError::InvalidHandle)?;
        if let Some(e) = sock.failed {
            return Err(e);
        }
        match &mut sock.kind {
            Kind::Tcp(t, true) => Ok(t),
            Kind::Tcp(_, false) => Err(NetError::NotConnected),
            _ => Err(NetError::InvalidHandle),
        }
    }

    fn fail(&mut self, s: SocketHandle, e: &io::Error) -> NetError {
        let err = map_err(e);
        if err != NetError::WouldBlock
            && let Some(sock) = self.socks.get_mut(&s.0)
        {
            sock.failed = Some(err);
        }
        err
    }

    fn release(&mut self, s: SocketHandle, reset: bool) {
        let Some(sock) = self.socks.remove(&s.0) else { return };
        // Only a zero linger (abort with RST) is applied: on Linux a positive SO_LINGER makes
        // close() block until the data is out or the time passes — even on a non-blocking
        // socket — which would stall the firmware loop. Without it the kernel still delivers
        // the queued data in the background and closes gracefully.
        let abort = reset || sock.linger == Some(0);
        let registry = self.poll.registry();
        match sock.kind {
            Kind::Tcp(mut t, _) => {
                if abort {
                    let _ = SockRef::from(&t).set_linger(Some(Duration::ZERO));
                }
                let _ = registry.deregister(&mut t);
            }
            Kind::Listener(mut l, _) => {
                let _ = registry.deregister(&mut l);
            }
            Kind::Udp(mut u) => {
                let _ = registry.deregister(&mut u);
            }
        }
    }

    fn lookup_now(&self, host: &str) -> Option<IpAddr> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Some(ip);
        }
        if host.eq_ignore_ascii_case("localhost") {
            return Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        let hosts = std::fs::read_to_string("/etc/hosts").ok()?;
        hosts_lookup(&hosts, host)
    }
}

/// The Internet checksum (RFC 1071) of an ICMP message.
fn icmp_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for pair in data.chunks(2) {
        let word = u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// `/etc/hosts`: the first address whose line names `host` (comments and blank lines
/// skipped; IPv4 preferred).
fn hosts_lookup(hosts: &str, host: &str) -> Option<IpAddr> {
    let mut v6 = None;
    for line in hosts.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let mut fields = line.split_whitespace();
        let Some(Ok(ip)) = fields.next().map(str::parse::<IpAddr>) else { continue };
        if fields.any(|n| n.eq_ignore_ascii_case(host)) {
            match ip {
                IpAddr::V4(_) => return Some(ip),
                IpAddr::V6(_) => v6 = v6.or(Some(ip)),
            }
        }
    }
    v6
}

impl Network for StdNet {
    fn set_link(&mut self, up: bool, now: Instant) {
        self.iface.set_link(up, now);
    }

    fn ip_config(&self) -> Option<IpConfig> {
        self.iface.ip_config()
    }

    fn set_dhcp(&mut self, enabled: bool, now: Instant) {
        self.iface.set_dhcp(enabled, now);
    }

    fn set_static_ip(&mut self, config: IpConfig, now: Instant) -> Result<(), NetError> {
        self.iface.set_static_ip(config, now);
        Ok(())
    }

    fn set_hostname(&mut self, hostname: &str) -> Result<(), NetError> {
        self.iface.set_hostname(hostname);
        Ok(())
    }

    fn set_dns_servers(&mut self, servers: &[IpAddr]) -> Result<(), NetError> {
        // The PC's resolver is used; the servers are recorded for AT+CIPDNS?.
        self.iface.set_dns_servers(servers);
        Ok(())
    }

    fn configure_sntp(&mut self, config: &SntpConfig<'_>, now: Instant) -> Result<(), NetError> {
        self.iface.configure_sntp(config, now);
        Ok(())
    }

    fn ping_start(&mut self, to: IpAddr, now: Instant) -> Result<at_hal::net::PingId, NetError> {
        self.need_address()?;
        let (domain, proto, request) = match to {
            IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4, 8u8),
            IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6, 128u8),
        };
        // Unprivileged ICMP sockets: the kernel fills in the identifier and the checksum for
        // IPv6; not allowed for this user means no ping here.
        let socket = Socket::new(domain, Type::DGRAM, Some(proto)).map_err(|e| {
            log::warn!("ping: no ICMP socket ({e}); Linux allows it per net.ipv4.ping_group_range");
            NetError::Unsupported
        })?;
        socket.set_nonblocking(true).map_err(|e| map_err(&e))?;
        let mut packet = [0u8; 64];
        packet[0] = request;
        packet[7] = 1; // sequence number 1
        for (i, b) in packet[8..].iter_mut().enumerate() {
            *b = i as u8;
        }
        let sum = icmp_checksum(&packet);
        packet[2..4].copy_from_slice(&sum.to_be_bytes());
        let socket: std::net::UdpSocket = socket.into();
        socket.send_to(&packet, SocketAddr::new(to, 0)).map_err(|e| map_err(&e))?;
        let id = self.next;
        self.next = self.next.wrapping_add(1).max(1);
        self.echoes.insert(id, Echo { socket, sent: now });
        Ok(at_hal::net::PingId(id))
    }

    fn ping_result(&mut self, ping: at_hal::net::PingId, now: Instant) -> Result<Duration, NetError> {
        let echo = self.echoes.get(&ping.0).ok_or(NetError::InvalidHandle)?;
        let mut buf = [0u8; 128];
        loop {
            match echo.socket.recv(&mut buf) {
                // An echo reply (type 0 for IPv4, 129 for IPv6).
                Ok(n) if n >= 8 && (buf[0] == 0 || buf[0] == 129) => {
                    let rtt = now.saturating_since(echo.sent);
                    self.echoes.remove(&ping.0);
                    return Ok(rtt);
                }
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(NetError::WouldBlock),
                Err(e) => return Err(map_err(&e)),
            }
        }
    }

    fn ping_cancel(&mut self, ping: at_hal::net::PingId) {
        self.echoes.remove(&ping.0);
    }

    fn dns_start(&mut self, host: &str, _now: Instant) -> Result<DnsQuery, NetError> {
        if host.is_empty() || host.len() > MAX_HOST_LEN {
            return Err(NetError::InvalidArgument);
        }
        let id = self.next;
        self.next = self.next.wrapping_add(1).max(1);
        if let Some(ip) = self.lookup_now(host) {
            self.lookups.insert(id, Lookup::Done(Ok(ip)));
            self.queue.push_back(NetEvent::DnsDone(DnsQuery(id)));
            return Ok(DnsQuery(id));
        }
        self.need_address()?;
        if self.running_lookups >= MAX_LOOKUPS {
            return Err(NetError::NoSockets);
        }
        self.running_lookups += 1;
        self.lookups.insert(id, Lookup::Running);
        let (tx, waker, name) = (self.dns_tx.clone(), self.waker.clone(), host.to_owned());
        let spawned = std::thread::Builder::new().name("dns".into()).spawn(move || {
            let r = (name.as_str(), 0).to_socket_addrs().map_err(|_| NetError::HostNotFound).and_then(
                |mut addrs| {
                    let all: Vec<SocketAddr> = addrs.by_ref().collect();
                    all.iter()
                        .find(|a| a.is_ipv4())
                        .or(all.first())
                        .map(|a| a.ip())
                        .ok_or(NetError::HostNotFound)
                },
            );
            let _ = tx.send((id, r));
            let _ = waker.wake();
        });
        if spawned.is_err() {
            self.running_lookups -= 1;
            self.lookups.remove(&id);
            return Err(NetError::NoSockets);
        }
        Ok(DnsQuery(id))
    }

    fn dns_result(&mut self, query: DnsQuery) -> Result<IpAddr, NetError> {
        match self.lookups.get(&query.0) {
            None => Err(NetError::InvalidHandle),
            Some(Lookup::Running) => Err(NetError::WouldBlock),
            Some(Lookup::Done(_)) => match self.lookups.remove(&query.0) {
                Some(Lookup::Done(r)) => r,
                _ => Err(NetError::InvalidHandle),
            },
        }
    }

    fn dns_cancel(&mut self, query: DnsQuery) {
        self.lookups.remove(&query.0);
    }

    fn tcp_connect(
        &mut self,
        remote: SocketAddr,
        local_port: u16,
        _now: Instant,
    ) -> Result<SocketHandle, NetError> {
        self.need_address()?;
        if remote.port() == 0 || remote.ip().is_unspecified() {
            return Err(NetError::InvalidArgument);
        }
        let socket = Socket::new(Domain::for_address(remote), Type::STREAM, Some(Protocol::TCP))
            .map_err(|e| map_err(&e))?;
        socket.set_nonblocking(true).map_err(|e| map_err(&e))?;
        if local_port != 0 {
            let _ = socket.set_reuse_address(true);
            let any: SocketAddr = if remote.is_ipv4() {
                (Ipv4Addr::UNSPECIFIED, local_port).into()
            } else {
                (std::net::Ipv6Addr::UNSPECIFIED, local_port).into()
            };
            socket.bind(&any.into()).map_err(|e| map_err(&e))?;
        }
        match socket.connect(&remote.into()) {
            Ok(()) => {}
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock
                    || e.raw_os_error() == Some(Errno::EINPROGRESS as i32) => {}
            Err(e) => {
                // Refused at once (loopback): report it as an event like any other failure.
                let err = map_err(&e);
                let h = self.insert(Kind::Tcp(TcpStream::from_std(socket.into()), false))?;
                if let Some(s) = self.socks.get_mut(&h.0) {
                    s.failed = Some(err);
                }
                self.queue.push_back(NetEvent::ConnectFailed(h, err));
                return Ok(h);
            }
        }
        self.insert(Kind::Tcp(TcpStream::from_std(socket.into()), false))
    }

    fn tcp_listen(&mut self, port: u16, backlog: u8) -> Result<SocketHandle, NetError> {
        if port == 0 {
            return Err(NetError::InvalidArgument);
        }
        let real = port.checked_add(self.config.port_offset).ok_or(NetError::InvalidArgument)?;
        let addr = SocketAddr::new(self.config.bind, real);
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
            .map_err(|e| map_err(&e))?;
        let _ = socket.set_reuse_address(true);
        socket.set_nonblocking(true).map_err(|e| map_err(&e))?;
        socket.bind(&addr.into()).map_err(|e| map_err(&e))?;
        socket.listen(i32::from(backlog.max(1))).map_err(|e| map_err(&e))?;
        self.insert(Kind::Listener(TcpListener::from_std(socket.into()), port))
    }

    fn tcp_accept(&mut self, listener: SocketHandle) -> Result<(SocketHandle, SocketAddr), NetError> {
        let Some(Sock { kind: Kind::Listener(l, _), .. }) = self.socks.get_mut(&listener.0) else {
            return Err(NetError::InvalidHandle);
        };
        let (stream, from) = l.accept().map_err(|e| map_err(&e))?;
        let virtual_port = match self.socks.get(&listener.0) {
            Some(Sock { kind: Kind::Listener(_, port), .. }) => *port,
            _ => 0,
        };
        let h = self.insert(Kind::Tcp(stream, true))?;
        // The firmware sees the port it asked for, not the one shifted by `port_offset`.
        if let Some(s) = self.socks.get_mut(&h.0) {
            s.local_port = Some(virtual_port);
        }
        // Data may already be waiting: report it, since its edge came before registration.
        self.queue.push_back(NetEvent::Readable(h));
        Ok((h, from))
    }

    fn udp_bind(&mut self, local_port: u16) -> Result<SocketHandle, NetError> {
        self.need_address()?;
        let addr = SocketAddr::new(self.config.bind, local_port);
        let u = UdpSocket::bind(addr).map_err(|e| map_err(&e))?;
        // lwIP sends to 255.255.255.255 without asking; a PC socket needs SO_BROADCAST.
        let _ = u.set_broadcast(true);
        self.insert(Kind::Udp(u))
    }

    fn send(&mut self, socket: SocketHandle, data: &[u8]) -> Result<usize, NetError> {
        if data.is_empty() {
            return Err(NetError::InvalidArgument);
        }
        let r = self.stream(socket)?.write(data);
        match r {
            Ok(0) => Err(NetError::WouldBlock),
            Ok(n) => Ok(n),
            Err(e) => Err(self.fail(socket, &e)),
        }
    }

    fn recv(&mut self, socket: SocketHandle, buf: &mut [u8]) -> Result<usize, NetError> {
        // After a reset, what arrived before it is still read first; then the error.
        let sock = self.socks.get_mut(&socket.0).ok_or(NetError::InvalidHandle)?;
        let failed = sock.failed;
        let Kind::Tcp(stream, true) = &mut sock.kind else {
            return Err(if matches!(sock.kind, Kind::Tcp(..)) {
                NetError::NotConnected
            } else {
                NetError::InvalidHandle
            });
        };
        if buf.is_empty() {
            // `Ok(0)` would mean the end of the stream.
            return Err(NetError::InvalidArgument);
        }
        match (stream.read(buf), failed) {
            (Ok(n), _) if n > 0 => Ok(n),
            (Ok(_), Some(e)) => Err(e),
            (Ok(n), None) => Ok(n),
            (Err(e), _) if e.kind() == io::ErrorKind::Interrupted => Err(NetError::WouldBlock),
            (Err(_), Some(e)) => Err(e),
            (Err(e), None) => Err(self.fail(socket, &e)),
        }
    }

    fn send_to(&mut self, socket: SocketHandle, data: &[u8], to: SocketAddr) -> Result<(), NetError> {
        let Some(Sock { kind: Kind::Udp(u), .. }) = self.socks.get_mut(&socket.0) else {
            return Err(NetError::InvalidHandle);
        };
        match u.send_to(data, to) {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(Errno::EMSGSIZE as i32) => Err(NetError::MessageTooLong),
            Err(e) => Err(map_err(&e)),
        }
    }

    fn recv_from(&mut self, socket: SocketHandle, buf: &mut [u8]) -> Result<Datagram, NetError> {
        let Some(Sock { kind: Kind::Udp(u), .. }) = self.socks.get_mut(&socket.0) else {
            return Err(NetError::InvalidHandle);
        };
        // std truncates silently; a datagram filling the buffer may have been longer.
        let (len, from) = u.recv_from(buf).map_err(|e| map_err(&e))?;
        Ok(Datagram { len, full_len: len, from })
    }

    fn set_option(&mut self, socket: SocketHandle, option: SocketOption) -> Result<(), NetError> {
        let sock = self.socks.get_mut(&socket.0).ok_or(NetError::InvalidHandle)?;
        let stream = match &sock.kind {
            Kind::Tcp(t, _) => t,
            _ => return Err(NetError::Unsupported),
        };
        let r = match option {
            SocketOption::NoDelay(on) => stream.set_nodelay(on),
            SocketOption::KeepAlive(None) => SockRef::from(stream).set_keepalive(false),
            SocketOption::KeepAlive(Some(k)) => {
                let ka = TcpKeepalive::new()
                    .with_time(Duration::from_secs(u64::from(k.idle_s)))
                    .with_interval(Duration::from_secs(u64::from(k.interval_s.max(1))))
                    .with_retries(u32::from(k.count.max(1)));
                SockRef::from(stream).set_tcp_keepalive(&ka)
            }
            SocketOption::Linger(l) => {
                sock.linger = l;
                Ok(())
            }
        };
        r.map_err(|e| map_err(&e))
    }

    fn local_addr(&self, socket: SocketHandle) -> Result<SocketAddr, NetError> {
        let sock = self.socks.get(&socket.0).ok_or(NetError::InvalidHandle)?;
        let r = match &sock.kind {
            Kind::Tcp(t, _) => {
                t.local_addr().map(|a| SocketAddr::new(a.ip(), sock.local_port.unwrap_or(a.port())))
            }
            Kind::Listener(l, port) => l.local_addr().map(|a| SocketAddr::new(a.ip(), *port)),
            Kind::Udp(u) => u.local_addr(),
        };
        r.map_err(|e| map_err(&e))
    }

    fn close(&mut self, socket: SocketHandle) {
        self.release(socket, false);
    }

    fn abort(&mut self, socket: SocketHandle) {
        self.release(socket, true);
    }

    fn poll(&mut self, now: Instant) -> Option<NetEvent> {
        if self.queue.is_empty() {
            self.take_os_events(Some(Duration::ZERO));
        }
        while let Ok((id, r)) = self.dns_rx.try_recv() {
            self.running_lookups = self.running_lookups.saturating_sub(1);
            if let Some(l) = self.lookups.get_mut(&id) {
                *l = Lookup::Done(r);
                self.queue.push_back(NetEvent::DnsDone(DnsQuery(id)));
            }
        }
        while let Some(e) = self.iface.poll(now) {
            self.queue.push_back(e);
        }
        self.queue.pop_front()
    }

    fn next_deadline(&self) -> Option<Instant> {
        if !self.queue.is_empty() {
            return Some(Instant::ZERO);
        }
        self.iface.next_deadline()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_an_echo_request() {
        // type 8, code 0, checksum 0, id 0, seq 1: ~(0x0800 + 0x0001) = 0xf7fe.
        assert_eq!(icmp_checksum(&[8, 0, 0, 0, 0, 0, 0, 1]), 0xf7fe);
        assert_eq!(icmp_checksum(&[0xff, 0xff]), 0);
    }

    #[test]
    fn etc_hosts_parsing() {
        let hosts = "# comment\n127.0.0.1 localhost\n::1 ip6-localhost sim6\n10.0.0.5  broker  mqtt.lan # x\n\n::2 broker\n";
        assert_eq!(hosts_lookup(hosts, "broker"), Some("10.0.0.5".parse().unwrap()));
        assert_eq!(hosts_lookup(hosts, "MQTT.lan"), Some("10.0.0.5".parse().unwrap()));
        assert_eq!(hosts_lookup(hosts, "sim6"), Some("::1".parse().unwrap()));
        assert_eq!(hosts_lookup(hosts, "x"), None);
        assert_eq!(hosts_lookup(hosts, "comment"), None);
    }
}
