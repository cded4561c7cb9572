//! [`Links`]: the link table, the server, and the bounded work each poll does.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::time::Duration;

use at_hal::net::{IpAddr, KeepAlive, NetError, NetEvent, Network, SocketAddr, SocketHandle, SocketOption};
use at_hal::time::Instant;
use at_hal::tls::{TlsAcceptor, TlsError, TlsSession};
use bytes::{Buf, BytesMut};

use crate::config::{
    ACCEPTS_PER_POLL, Buffers, DEFAULT_CONNECT_TIMEOUT_MS, LISTEN_BACKLOG, LinkError, MAX_EVENTS, MAX_IPD,
    MAX_LINKS, PASSTHROUGH_CHUNK, Proto, RecvMode, SEND_SLACK, SlotConfig, UdpMode,
};

/// Where a remote host is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host<'a> {
    /// An address.
    Ip(IpAddr),
    /// A name to resolve through the network's DNS.
    Name(&'a str),
}

/// What `AT+CIPSTART` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connect<'a> {
    /// Transport.
    pub proto: Proto,
    /// The remote host.
    pub host: Host<'a>,
    /// The remote port.
    pub port: u16,
    /// UDP: local port (0: any).
    pub local_port: u16,
    /// UDP: remote handling.
    pub udp_mode: UdpMode,
    /// TCP keep-alive idle seconds for this connection (0: off).
    pub keepalive_s: u16,
    /// Budget for DNS plus connect, in ms (0: the default).
    pub timeout_ms: u32,
}

/// How a connect started with [`Links::connect`] stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectState {
    /// Resolving or connecting.
    Pending,
    /// Up.
    Open,
    /// It failed; the slot is free again.
    Failed(NetError),
    /// The TLS handshake failed (SSL links).
    TlsFailed(TlsError),
}

/// Something the core reports as a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkEvent {
    /// A link is up: a server accepted it, or a connect the host is not waiting on (a
    /// passthrough reconnect) completed. It carries what the message shows, since the link
    /// may already be gone when the message is printed (a peer that connects and closes at
    /// once still gets `CONNECT` before `CLOSED`).
    Connected {
        /// The link id.
        id: u8,
        /// Transport.
        proto: Proto,
        /// Accepted by the server.
        server: bool,
        /// The peer.
        remote: SocketAddr,
        /// The local port.
        local_port: u16,
    },
    /// A link is gone (peer close after all its data was delivered, reset, idle timeout); its
    /// slot is free.
    Closed {
        /// The link id.
        id: u8,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Resolving {
        query: at_hal::net::DnsQuery,
        deadline: Instant,
    },
    Connecting {
        deadline: Instant,
    },
    /// TCP is up, the TLS handshake runs (SSL links).
    Handshaking {
        deadline: Instant,
    },
    Open,
    Failed(NetError),
    TlsFailed(TlsError),
}

/// A link's TLS session (SSL links).
struct Tls(Box<dyn TlsSession>);

impl core::fmt::Debug for Tls {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tls")
            .field("handshaking", &self.0.is_handshaking())
            .field("outgoing", &self.0.outgoing().len())
            .field("readable", &self.0.readable())
            .finish()
    }
}

/// TLS records decrypted per link per poll at most.
const TLS_RECORDS_PER_STEP: usize = 4;
/// Encrypted bytes waiting for the socket above which no more plaintext is encrypted (room
/// stays for the session's own messages: alerts, key updates, close_notify).
const TLS_OUTGOING_HIGH: usize = 8 * 1024;

/// How long a TLS handshake may take (ESP-AT: 10 s per handshake step).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// One link.
#[derive(Debug)]
pub struct Link {
    proto: Proto,
    server: bool,
    socket: Option<SocketHandle>,
    state: State,
    remote: SocketAddr,
    local_port: u16,
    udp_mode: UdpMode,
    keepalive_s: u16,
    rx: BytesMut,
    /// UDP: the datagrams in `rx`, oldest first: (sender, length).
    datagrams: VecDeque<(SocketAddr, usize)>,
    tx: BytesMut,
    /// The socket may hold more to read (a `Readable` hint not yet followed by `WouldBlock`).
    readable: bool,
    /// The peer finished sending (EOF read) or the connection failed.
    ended: bool,
    /// A sticky error after the link was up.
    error: Option<NetError>,
    /// A passive notice was printed and not yet followed by a read.
    notified: bool,
    last_activity: Instant,
    /// When the oldest unsent passthrough byte was queued.
    tx_since: Option<Instant>,
    /// A command waits on this link (`AT+CIPSTART`): no `Connected` event, no delivery and no
    /// `Closed` until the command has printed its answer and calls [`Links::unawait`].
    awaited: bool,
    /// Bytes handed to the network.
    sent_total: u64,
    /// Unique per link opened: tells a link from a later one in the same slot.
    serial: u32,
    /// The last send hit `WouldBlock`: wait for a `Writable` event.
    blocked: bool,
    /// SSL: the session between the socket and the buffers.
    tls: Option<Tls>,
}

impl Link {
    /// Transport.
    pub fn proto(&self) -> Proto {
        self.proto
    }
    /// Accepted by the server.
    pub fn is_server(&self) -> bool {
        self.server
    }
    /// The remote address.
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }
    /// The local port.
    pub fn local_port(&self) -> u16 {
        self.local_port
    }
    /// Up (not resolving, connecting or failed).
    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }
    /// UDP remote handling.
    pub fn udp_mode(&self) -> UdpMode {
        self.udp_mode
    }
    /// Bytes waiting to be delivered.
    pub fn buffered(&self) -> usize {
        self.rx.len()
    }
    /// Bytes waiting to be sent.
    pub fn unsent(&self) -> usize {
        self.tx.len()
    }
    /// Unique per link opened (a later link in the same slot has another).
    pub fn serial(&self) -> u32 {
        self.serial
    }
}

struct Server {
    listener: SocketHandle,
    port: u16,
    proto: Proto,
    acceptable: bool,
    /// SSL: makes the session of each accepted connection.
    acceptor: Option<Box<dyn TlsAcceptor>>,
}

impl core::fmt::Debug for Server {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Server")
            .field("port", &self.port)
            .field("proto", &self.proto)
            .field("tls", &self.acceptor.is_some())
            .finish()
    }
}

/// The link table: up to [`MAX_LINKS`] links and one server, over any [`Network`].
///
/// Sans-IO: every method that touches sockets takes the network as an argument, and
/// [`Links::poll`] does a bounded amount of work — per link at most one read of at most
/// [`Buffers::rx`] bytes and one write, at most [`ACCEPTS_PER_POLL`] accepts — so a flood of
/// connections or data never starves the AT port. Received data waits in the link until the
/// core delivers it; when a link's buffer is full it stops reading its socket (TCP flow
/// control holds the peer). Nothing is dropped.
#[derive(Debug)]
pub struct Links {
    slots: [Option<Link>; MAX_LINKS],
    configs: [SlotConfig; MAX_LINKS],
    server: Option<Server>,
    max_conn: u8,
    server_timeout_s: u16,
    buffers: Buffers,
    events: VecDeque<LinkEvent>,
    /// Passthrough: the link whose sends are batched, and the batching interval.
    passthrough: Option<(u8, Duration)>,
    next_serial: u32,
    /// The wall clock for certificate checks (`None` before SNTP synced).
    unix_time: Option<u64>,
}

impl Default for Links {
    fn default() -> Self {
        Links::new(Buffers::default())
    }
}

fn check(id: u8) -> Result<usize, LinkError> {
    let i = usize::from(id);
    if i < MAX_LINKS { Ok(i) } else { Err(LinkError::BadId) }
}

impl Links {
    /// An empty table with these buffer capacities.
    pub fn new(buffers: Buffers) -> Self {
        Links {
            slots: Default::default(),
            configs: [SlotConfig::default(); MAX_LINKS],
            server: None,
            max_conn: MAX_LINKS as u8,
            server_timeout_s: 0,
            buffers,
            events: VecDeque::new(),
            passthrough: None,
            next_serial: 1,
            unix_time: None,
        }
    }

    fn take_serial(&mut self) -> u32 {
        let s = self.next_serial;
        self.next_serial = self.next_serial.wrapping_add(1).max(1);
        s
    }

    /// The buffer capacities.
    pub fn buffers(&self) -> Buffers {
        self.buffers
    }

    /// The link in slot `id`.
    pub fn get(&self, id: u8) -> Option<&Link> {
        self.slots.get(usize::from(id))?.as_ref()
    }

    /// Ids of the occupied slots (resolving and connecting included).
    pub fn ids(&self) -> impl Iterator<Item = u8> + '_ {
        (0..MAX_LINKS as u8).filter(|&i| self.slots[usize::from(i)].is_some())
    }

    /// How many slots are occupied.
    pub fn count(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    /// The lowest free id.
    pub fn free_id(&self) -> Option<u8> {
        (0..MAX_LINKS as u8).find(|&i| self.slots[usize::from(i)].is_none())
    }

    /// The configuration of slot `id`.
    pub fn config(&self, id: u8) -> Result<SlotConfig, LinkError> {
        Ok(self.configs[check(id)?])
    }

    /// Change the configuration of slot `id` (applies to its open link and future ones).
    pub fn set_config<N: Network>(&mut self, net: &mut N, id: u8, cfg: SlotConfig) -> Result<(), LinkError> {
        let i = check(id)?;
        self.configs[i] = cfg;
        if let Some(l) = &mut self.slots[i]
            && let Some(s) = l.socket
            && l.proto != Proto::Udp
        {
            apply_tcp_options(net, s, &cfg, l.keepalive_s);
        }
        Ok(())
    }

    // ---- client links ----

    /// Start a link in slot `id`. TCP connects (after DNS if needed) in the background:
    /// watch [`Links::connect_state`]. UDP opens at once.
    pub fn connect<N: Network>(
        &mut self,
        net: &mut N,
        id: u8,
        c: &Connect<'_>,
        now: Instant,
    ) -> Result<(), LinkError> {
        if c.proto == Proto::Ssl {
            return Err(LinkError::NoTls);
        }
        self.open_client(net, id, c, None, now)
    }

    /// Start an SSL link in slot `id` with `session` (made by the platform's TLS for this
    /// link's parameters): TCP connects, then the handshake runs; [`Links::connect_state`] is
    /// `Open` only once it succeeded (a server that fails verification never gets `CONNECT`).
    pub fn connect_tls<N: Network>(
        &mut self,
        net: &mut N,
        id: u8,
        c: &Connect<'_>,
        session: Box<dyn TlsSession>,
        now: Instant,
    ) -> Result<(), LinkError> {
        if c.proto != Proto::Ssl {
            return Err(LinkError::WrongKind);
        }
        self.open_client(net, id, c, Some(Tls(session)), now)
    }

    fn open_client<N: Network>(
        &mut self,
        net: &mut N,
        id: u8,
        c: &Connect<'_>,
        tls: Option<Tls>,
        now: Instant,
    ) -> Result<(), LinkError> {
        let i = check(id)?;
        if self.slots[i].is_some() {
            return Err(LinkError::InUse);
        }
        let timeout = if c.timeout_ms == 0 { DEFAULT_CONNECT_TIMEOUT_MS } else { c.timeout_ms };
        let deadline = now + Duration::from_millis(u64::from(timeout));
        let unspecified = SocketAddr::new(IpAddr::V4(at_hal::net::Ipv4Addr::UNSPECIFIED), c.port);
        let mut link = Link {
            proto: c.proto,
            server: false,
            socket: None,
            state: State::Connecting { deadline },
            remote: unspecified,
            local_port: c.local_port,
            udp_mode: c.udp_mode,
            keepalive_s: c.keepalive_s,
            rx: BytesMut::new(),
            datagrams: VecDeque::new(),
            tx: BytesMut::new(),
            readable: false,
            ended: false,
            error: None,
            notified: false,
            last_activity: now,
            tx_since: None,
            awaited: true,
            sent_total: 0,
            serial: self.take_serial(),
            blocked: false,
            tls,
        };
        match c.host {
            Host::Ip(ip) => {
                link.remote = SocketAddr::new(ip, c.port);
                self.start_socket(net, i, &mut link, now)?;
            }
            Host::Name(name) => {
                let query = net.dns_start(name, now)?;
                link.state = State::Resolving { query, deadline };
            }
        }
        self.slots[i] = Some(link);
        Ok(())
    }

    fn start_socket<N: Network>(
        &self,
        net: &mut N,
        i: usize,
        link: &mut Link,
        now: Instant,
    ) -> Result<(), LinkError> {
        match link.proto {
            Proto::Udp => {
                let s = net.udp_bind(link.local_port)?;
                link.local_port = net.local_addr(s).map(|a| a.port()).unwrap_or(link.local_port);
                link.socket = Some(s);
                link.state = State::Open;
                self.allocate(link);
            }
            Proto::Tcp | Proto::Ssl => {
                let deadline = match link.state {
                    State::Connecting { deadline } | State::Resolving { deadline, .. } => deadline,
                    _ => now + Duration::from_millis(u64::from(DEFAULT_CONNECT_TIMEOUT_MS)),
                };
                let s = net.tcp_connect(link.remote, 0, now)?;
                // The ephemeral port is chosen by connect(): AT+CIPSTATE shows it.
                link.local_port = net.local_addr(s).map(|a| a.port()).unwrap_or(0);
                apply_tcp_options(net, s, &self.configs[i], link.keepalive_s);
                link.socket = Some(s);
                link.state = State::Connecting { deadline };
            }
        }
        Ok(())
    }

    fn allocate(&self, link: &mut Link) {
        link.rx = BytesMut::with_capacity(self.buffers.rx);
        link.tx = BytesMut::with_capacity(self.buffers.tx + SEND_SLACK);
    }

    /// How the connect in slot `id` stands. A failed link keeps its slot until
    /// [`Links::close`].
    pub fn connect_state(&self, id: u8) -> ConnectState {
        match self.get(id).map(|l| l.state) {
            None => ConnectState::Failed(NetError::NotConnected),
            Some(State::Open) => ConnectState::Open,
            Some(State::Failed(e)) => ConnectState::Failed(e),
            Some(State::TlsFailed(e)) => ConnectState::TlsFailed(e),
            Some(_) => ConnectState::Pending,
        }
    }

    // ---- the server ----

    /// Start the server (`AT+CIPSERVER=1,...`). Starting it again with the same port and
    /// transport is a no-op; anything else while it runs is [`LinkError::ServerRunning`].
    pub fn listen<N: Network>(&mut self, net: &mut N, port: u16, proto: Proto) -> Result<(), LinkError> {
        if let Some(s) = &self.server {
            return if s.port == port && s.proto == proto { Ok(()) } else { Err(LinkError::ServerRunning) };
        }
        if proto == Proto::Udp {
            return Err(LinkError::WrongKind);
        }
        if proto == Proto::Ssl {
            return Err(LinkError::NoTls);
        }
        let listener = net.tcp_listen(port, LISTEN_BACKLOG)?;
        self.server = Some(Server { listener, port, proto, acceptable: false, acceptor: None });
        Ok(())
    }

    /// Start an SSL server: every accepted connection gets a session from `acceptor` and is
    /// announced ([`LinkEvent::Connected`]) only after its handshake succeeded; a failed or
    /// stalled handshake closes that connection alone, silently, as ESP-AT.
    pub fn listen_tls<N: Network>(
        &mut self,
        net: &mut N,
        port: u16,
        acceptor: Box<dyn TlsAcceptor>,
    ) -> Result<(), LinkError> {
        if let Some(s) = &mut self.server {
            if s.port == port && s.proto == Proto::Ssl {
                s.acceptor = Some(acceptor);
                return Ok(());
            }
            return Err(LinkError::ServerRunning);
        }
        let listener = net.tcp_listen(port, LISTEN_BACKLOG)?;
        self.server =
            Some(Server { listener, port, proto: Proto::Ssl, acceptable: false, acceptor: Some(acceptor) });
        Ok(())
    }

    /// Replace the SSL server's acceptor (its certificates were rewritten): the next accepted
    /// connection uses it; connections already up keep theirs.
    pub fn set_acceptor(&mut self, acceptor: Box<dyn TlsAcceptor>) {
        if let Some(s) = &mut self.server
            && s.proto == Proto::Ssl
        {
            s.acceptor = Some(acceptor);
        }
    }

    /// The wall clock certificate checks use from now on (`None`: not synced yet).
    pub fn set_unix_time(&mut self, unix_time: Option<u64>) {
        self.unix_time = unix_time;
    }

    /// The server's port and transport, if it runs.
    pub fn server(&self) -> Option<(u16, Proto)> {
        self.server.as_ref().map(|s| (s.port, s.proto))
    }

    /// Stop the server; with `close_clients`, close its accepted links too (their ids are
    /// returned, in order, for `<id>,CLOSED`).
    pub fn unlisten<N: Network>(&mut self, net: &mut N, close_clients: bool) -> Vec<u8> {
        if let Some(s) = self.server.take() {
            net.close(s.listener);
        }
        let mut closed = Vec::new();
        if close_clients {
            for id in 0..MAX_LINKS as u8 {
                if self.get(id).is_some_and(|l| l.server) {
                    let _ = self.close(net, id);
                    closed.push(id);
                }
            }
        }
        closed
    }

    /// `AT+CIPSERVERMAXCONN`.
    pub fn max_conn(&self) -> u8 {
        self.max_conn
    }

    /// Set `AT+CIPSERVERMAXCONN` (1..=5).
    pub fn set_max_conn(&mut self, n: u8) {
        self.max_conn = n.clamp(1, MAX_LINKS as u8);
    }

    /// Links the server accepted that are still open.
    pub fn server_links(&self) -> usize {
        self.slots.iter().flatten().filter(|l| l.server).count()
    }

    /// `AT+CIPSTO` (seconds; 0: never).
    pub fn server_timeout(&self) -> u16 {
        self.server_timeout_s
    }

    /// Set `AT+CIPSTO`.
    pub fn set_server_timeout(&mut self, s: u16) {
        self.server_timeout_s = s;
    }

    // ---- closing ----

    /// Close link `id` now (`AT+CIPCLOSE`): queued data is still sent by the stack, received
    /// data is dropped. No [`LinkEvent::Closed`] follows (the command prints `CLOSED`).
    pub fn close<N: Network>(&mut self, net: &mut N, id: u8) -> Result<(), LinkError> {
        let i = check(id)?;
        let mut link = self.slots[i].take().ok_or(LinkError::NoLink)?;
        // SSL: say goodbye (close_notify), best effort, one send.
        if let (Some(t), Some(s), State::Open) = (&mut link.tls, link.socket, link.state) {
            t.0.close();
            if !t.0.outgoing().is_empty()
                && let Ok(n) = net.send(s, t.0.outgoing())
            {
                t.0.sent(n);
            }
        }
        self.release(net, id, &link);
        Ok(())
    }

    fn release<N: Network>(&mut self, net: &mut N, id: u8, link: &Link) {
        if let State::Resolving { query, .. } = link.state {
            net.dns_cancel(query);
        }
        if let Some(s) = link.socket {
            if self.configs[usize::from(id)].tcp.linger == 0 { net.abort(s) } else { net.close(s) }
        }
        if self.passthrough.is_some_and(|(p, _)| p == id) {
            self.passthrough = None;
        }
    }

    /// Close everything (restart, `AT+CIPMUX` change is refused instead).
    pub fn close_all<N: Network>(&mut self, net: &mut N) {
        let _ = self.unlisten(net, false);
        for id in 0..MAX_LINKS as u8 {
            let _ = self.close(net, id);
        }
        self.events.clear();
    }

    // ---- sending ----

    /// Bytes link `id` can queue now (0 when it cannot send).
    pub fn send_room(&self, id: u8) -> usize {
        match self.get(id) {
            Some(l) if l.is_open() && l.error.is_none() => self.buffers.tx.saturating_sub(l.tx.len()),
            _ => 0,
        }
    }

    /// Queue bytes for link `id`: how many were taken — at most [`Links::send_room`] plus
    /// [`SEND_SLACK`] (the pluses of a `+++` that turned out to be data may arrive after the
    /// buffer filled; they are taken, not lost). TCP sends them as a stream. UDP (passthrough)
    /// sends them as datagrams of at most [`PASSTHROUGH_CHUNK`] bytes, cut where the batching
    /// of [`Links::set_passthrough`] cuts them; `AT+CIPSEND` sends whole datagrams with
    /// [`Links::send_datagram`] instead.
    pub fn queue(&mut self, id: u8, data: &[u8], now: Instant) -> usize {
        let tx_cap = self.buffers.tx + SEND_SLACK;
        let Some(l) = self.slots.get_mut(usize::from(id)).and_then(Option::as_mut) else { return 0 };
        if !l.is_open() || l.error.is_some() {
            return 0;
        }
        let n = tx_cap.saturating_sub(l.tx.len()).min(data.len());
        l.tx.extend_from_slice(&data[..n]);
        if n > 0 && l.tx_since.is_none() {
            l.tx_since = Some(now);
        }
        n
    }

    /// UDP: send `data` as one datagram, to `to` or the link's remote
    /// (`AT+CIPSEND=<id>,<len>,"<host>",<port>` makes `to` the remote from now on).
    pub fn send_datagram<N: Network>(
        &mut self,
        net: &mut N,
        id: u8,
        data: &[u8],
        to: Option<SocketAddr>,
    ) -> Result<(), LinkError> {
        let i = check(id)?;
        let l = self.slots[i].as_mut().ok_or(LinkError::NoLink)?;
        if l.proto != Proto::Udp {
            return Err(LinkError::WrongKind);
        }
        if let Some(to) = to {
            l.remote = to;
        }
        let s = l.socket.ok_or(LinkError::NotConnected)?;
        net.send_to(s, data, l.remote)?;
        l.sent_total = l.sent_total.wrapping_add(data.len() as u64);
        Ok(())
    }

    /// Forget what link `id` has queued and not yet handed to the network (a send that
    /// failed: a host that retries must not get its bytes sent twice).
    pub fn discard_unsent(&mut self, id: u8) {
        if let Some(l) = self.slots.get_mut(usize::from(id)).and_then(Option::as_mut) {
            l.tx.clear();
            l.tx_since = None;
        }
    }

    /// Bytes link `id` has handed to the network since it opened.
    pub fn sent_total(&self, id: u8) -> u64 {
        self.get(id).map_or(0, |l| l.sent_total)
    }

    /// Whether everything queued on link `id` was handed to the network: `Ok(true)` →
    /// `SEND OK`, `Err` → `SEND FAIL`.
    pub fn sent(&self, id: u8) -> Result<bool, LinkError> {
        let l = self.get(id).ok_or(LinkError::NoLink)?;
        if let Some(e) = l.error {
            return Err(LinkError::Net(e));
        }
        if !l.is_open() {
            return Err(LinkError::NotConnected);
        }
        Ok(l.tx.is_empty() && l.tls.as_ref().is_none_or(|t| t.0.outgoing().is_empty()))
    }

    /// Batch sends of link `id` (passthrough): a full [`PASSTHROUGH_CHUNK`] at once, less after
    /// `interval` (`AT+TRANSINTVL`). `None` ends batching.
    pub fn set_passthrough(&mut self, link: Option<(u8, Duration)>) {
        self.passthrough = link;
    }

    // ---- receiving ----

    /// The next chunk an active link delivers as one `+IPD`: at most [`MAX_IPD`] bytes (UDP:
    /// one datagram) and the remote to report (for UDP the stored remote, as ESP-AT).
    pub fn next_chunk(&self, id: u8) -> Option<(&[u8], SocketAddr)> {
        let l = self.get(id)?;
        if l.rx.is_empty() {
            return None;
        }
        let n = match l.proto {
            Proto::Udp => l.datagrams.front().map_or(l.rx.len(), |d| d.1),
            _ => l.rx.len().min(MAX_IPD),
        };
        Some((&l.rx[..n], l.remote))
    }

    /// Everything link `id` has received and not yet delivered (passthrough relays it as
    /// raw bytes, without `+IPD` framing).
    pub fn received(&self, id: u8) -> &[u8] {
        self.get(id).map_or(&[], |l| &l.rx[..])
    }

    /// Drop the first `n` delivered bytes of link `id`.
    pub fn consume(&mut self, id: u8, n: usize) {
        let Some(l) = self.slots.get_mut(usize::from(id)).and_then(Option::as_mut) else { return };
        let n = n.min(l.rx.len());
        l.rx.advance(n);
        let mut left = n;
        while let Some(d) = l.datagrams.front_mut() {
            if left == 0 && d.1 > 0 {
                break;
            }
            if d.1 <= left {
                left -= d.1;
                l.datagrams.pop_front();
            } else {
                d.1 -= left;
                left = 0;
            }
        }
        l.notified = false;
    }

    /// Passive mode: what `AT+CIPRECVDATA=<id>,<max>` returns: at most `max` bytes; with
    /// `whole`, only whole datagrams (none if the first is longer than `max`).
    pub fn peek_passive(&self, id: u8, max: usize, whole: bool) -> Option<(&[u8], SocketAddr)> {
        let l = self.get(id)?;
        if l.rx.is_empty() {
            return None;
        }
        let n = if l.proto == Proto::Udp && whole {
            let mut n = 0;
            for d in &l.datagrams {
                if n + d.1 > max {
                    break;
                }
                n += d.1;
            }
            n
        } else {
            l.rx.len().min(max)
        };
        (n > 0).then(|| (&l.rx[..n], l.remote))
    }

    /// Passive mode: the length a notice or `AT+CIPRECVLEN?` reports (with
    /// `report_datagram`, the next datagram's).
    pub fn passive_len(&self, id: u8) -> usize {
        let Some(l) = self.get(id) else { return 0 };
        if self.configs[usize::from(id)].report_datagram && l.proto == Proto::Udp {
            return l.datagrams.front().map_or(0, |d| d.1);
        }
        l.rx.len()
    }

    /// Passive mode: the length to announce with `+IPD,<id>,<len>` if a notice is due now.
    pub fn notice_due(&self, id: u8) -> Option<usize> {
        let l = self.get(id)?;
        let passive = self.configs[usize::from(id)].recv == RecvMode::Passive;
        (passive && !l.notified && !l.rx.is_empty()).then(|| self.passive_len(id))
    }

    /// A notice for link `id` was printed.
    pub fn mark_notified(&mut self, id: u8) {
        if let Some(l) = self.slots.get_mut(usize::from(id)).and_then(Option::as_mut) {
            l.notified = true;
        }
    }

    // ---- events and progress ----

    /// Take a hint from the network (call for every socket event [`Network::poll`] returns).
    pub fn on_net_event(&mut self, ev: NetEvent, now: Instant) {
        match ev {
            NetEvent::Connected(s) => {
                let mut handshake = false;
                if let Some(l) = find_mut(&mut self.slots, s)
                    && matches!(l.state, State::Connecting { .. })
                {
                    l.last_activity = now;
                    l.rx = BytesMut::with_capacity(self.buffers.rx);
                    l.tx = BytesMut::with_capacity(self.buffers.tx + SEND_SLACK);
                    if l.tls.is_some() {
                        // The client speaks first: process() produces the ClientHello.
                        l.state = State::Handshaking { deadline: now + HANDSHAKE_TIMEOUT };
                        l.readable = true;
                        handshake = true;
                    } else {
                        l.state = State::Open;
                    }
                }
                if !handshake && let Some(id) = self.id_of(s) {
                    self.opened(id);
                }
            }
            NetEvent::ConnectFailed(s, e) => {
                if let Some(l) = find_mut(&mut self.slots, s) {
                    l.state = State::Failed(e);
                }
            }
            NetEvent::Readable(s) => {
                if let Some(l) = find_mut(&mut self.slots, s) {
                    l.readable = true;
                }
            }
            NetEvent::Failed(s, e) => {
                // Data that arrived before the reset is still readable (lwIP and Linux keep
                // it): read until the socket reports the error, then close.
                if let Some(l) = find_mut(&mut self.slots, s) {
                    l.error.get_or_insert(e);
                    l.readable = true;
                    l.blocked = false;
                }
            }
            NetEvent::Acceptable(s) => {
                if let Some(srv) = &mut self.server
                    && srv.listener == s
                {
                    srv.acceptable = true;
                }
            }
            NetEvent::Writable(s) => {
                if let Some(l) = find_mut(&mut self.slots, s) {
                    l.blocked = false;
                }
            }
            NetEvent::DnsDone(_) => {}
            NetEvent::GotIp(_) | NetEvent::LostIp | NetEvent::TimeUpdated(_) => {}
        }
    }

    fn id_of(&self, s: SocketHandle) -> Option<u8> {
        (0..MAX_LINKS as u8)
            .find(|&i| self.slots[usize::from(i)].as_ref().is_some_and(|l| l.socket == Some(s)))
    }

    fn opened(&mut self, id: u8) {
        let Some(l) = self.slots[usize::from(id)].as_ref() else { return };
        if !l.awaited {
            self.events.push_back(connected(id, l));
        }
    }

    /// Whether a command still waits on link `id` (see [`Links::unawait`]).
    pub fn is_awaited(&self, id: u8) -> bool {
        self.get(id).is_some_and(|l| l.awaited)
    }

    /// The command waiting on link `id` has printed its answer (or nobody waits: a
    /// passthrough reconnect, whose success is then reported as [`LinkEvent::Connected`]).
    /// Until then the link delivers nothing and is not reaped, so its `CONNECT` comes before
    /// its data and its `CLOSED`.
    pub fn unawait(&mut self, id: u8) {
        if let Some(l) = self.slots.get_mut(usize::from(id)).and_then(Option::as_mut) {
            l.awaited = false;
        }
    }

    /// Events waiting for [`Links::take_event`].
    pub fn pending_events(&self) -> usize {
        self.events.len()
    }

    /// The next event, if any.
    pub fn take_event(&mut self) -> Option<LinkEvent> {
        self.events.pop_front()
    }

    /// Advance DNS, connects, accepts, reads, writes and timers by a bounded amount.
    pub fn poll<N: Network>(&mut self, net: &mut N, now: Instant) {
        self.accept(net, now);
        for i in 0..MAX_LINKS {
            self.poll_link(net, i, now);
        }
    }

    fn accept<N: Network>(&mut self, net: &mut N, now: Instant) {
        let Some(srv) = self.server.as_mut() else { return };
        if !srv.acceptable {
            return;
        }
        let (listener, proto) = (srv.listener, srv.proto);
        for _ in 0..ACCEPTS_PER_POLL {
            if self.events.len() >= MAX_EVENTS {
                // The core is not taking events (the AT port is stalled): leave the rest in
                // the backlog.
                return;
            }
            let (s, from) = match net.tcp_accept(listener) {
                Ok(c) => c,
                Err(NetError::WouldBlock) => {
                    if let Some(srv) = self.server.as_mut() {
                        srv.acceptable = false;
                    }
                    return;
                }
                Err(e) => {
                    // Out of sockets and the like: wait for the next edge, do not spin.
                    log::warn!("accept: {e}");
                    if let Some(srv) = self.server.as_mut() {
                        srv.acceptable = false;
                    }
                    return;
                }
            };
            let full = self.server_links() >= usize::from(self.max_conn);
            let Some(id) = self.free_id().filter(|_| !full) else {
                // ESP-AT stops listening at the limit; the connection is refused silently.
                log::info!("server full: connection from {from} refused");
                net.abort(s);
                continue;
            };
            let local_port = net.local_addr(s).map(|a| a.port()).unwrap_or(0);
            let (tls, state) = if proto == Proto::Ssl {
                let unix_time = self.unix_time;
                let made =
                    self.server.as_mut().and_then(|srv| srv.acceptor.as_mut()).map(|a| a.accept(unix_time));
                match made {
                    Some(Ok(session)) => {
                        // Half-open TLS is bounded by the handshake timeout and AT+CIPSTO.
                        let mut limit = HANDSHAKE_TIMEOUT;
                        if self.server_timeout_s > 0 {
                            limit = limit.min(Duration::from_secs(u64::from(self.server_timeout_s)));
                        }
                        (Some(Tls(session)), State::Handshaking { deadline: now + limit })
                    }
                    Some(Err(e)) => {
                        log::warn!("SSL server: no session for {from}: {e}; connection closed");
                        net.abort(s);
                        continue;
                    }
                    None => {
                        log::warn!("SSL server without credentials: connection from {from} closed");
                        net.abort(s);
                        continue;
                    }
                }
            } else {
                (None, State::Open)
            };
            let mut link = Link {
                proto,
                server: true,
                socket: Some(s),
                state,
                remote: from,
                local_port,
                udp_mode: UdpMode::Fixed,
                keepalive_s: self.configs[usize::from(id)].tcp.keepalive_s,
                rx: BytesMut::new(),
                datagrams: VecDeque::new(),
                tx: BytesMut::new(),
                readable: true,
                ended: false,
                error: None,
                notified: false,
                last_activity: now,
                tx_since: None,
                awaited: false,
                sent_total: 0,
                serial: 0,
                blocked: false,
                tls,
            };
            link.serial = self.take_serial();
            self.allocate(&mut link);
            apply_tcp_options(net, s, &self.configs[usize::from(id)], link.keepalive_s);
            // SSL: announced when the handshake succeeds.
            if link.tls.is_none() {
                self.events.push_back(connected(id, &link));
            }
            self.slots[usize::from(id)] = Some(link);
        }
    }

    fn poll_link<N: Network>(&mut self, net: &mut N, i: usize, now: Instant) {
        let rx_cap = self.buffers.rx;
        let batching = self.passthrough.filter(|(p, _)| usize::from(*p) == i).map(|(_, d)| d);
        let server_timeout = self.server_timeout_s;
        let Some(l) = self.slots[i].as_mut() else { return };
        match l.state {
            State::Resolving { query, deadline } => match net.dns_result(query) {
                Ok(ip) => {
                    l.remote = SocketAddr::new(ip, l.remote.port());
                    l.state = State::Connecting { deadline };
                    self.resolved(net, i, now);
                }
                Err(NetError::WouldBlock) if now < deadline => {}
                Err(NetError::WouldBlock) => {
                    net.dns_cancel(query);
                    l.state = State::Failed(NetError::TimedOut);
                }
                Err(e) => l.state = State::Failed(e),
            },
            State::Connecting { deadline } => {
                if now >= deadline {
                    if let Some(s) = l.socket.take() {
                        net.abort(s);
                    }
                    l.state = State::Failed(NetError::TimedOut);
                }
            }
            State::Failed(_) | State::TlsFailed(_) => {
                if let Some(s) = l.socket.take() {
                    net.close(s);
                }
            }
            State::Handshaking { deadline } => {
                let Some(s) = l.socket else { return };
                let failure = match tls_step(net, l, s, now, rx_cap, None) {
                    Ok(()) if l.tls.as_ref().is_some_and(|t| !t.0.is_handshaking()) => {
                        l.state = State::Open;
                        l.last_activity = now;
                        if let Some((v, c)) = l.tls.as_ref().and_then(|t| t.0.negotiated()) {
                            log::info!("link {i}: TLS up (version {v:#06x}, suite {c:#06x})");
                        }
                        // A server link is announced now; a client's command reports it.
                        if l.server || !l.awaited {
                            let ev = connected(i as u8, l);
                            self.events.push_back(ev);
                        }
                        return;
                    }
                    Ok(()) if l.ended && l.error.is_some() => {
                        Some(TlsError::Protocol("the connection was reset during the handshake"))
                    }
                    Ok(()) if l.ended => Some(TlsError::Protocol("the peer closed during the handshake")),
                    Ok(()) if now >= deadline => Some(TlsError::HandshakeTimeout),
                    Ok(()) => None,
                    Err(e) => Some(e),
                };
                if let Some(e) = failure {
                    if l.server {
                        // ESP-AT: a failed handshake closes that connection, prints nothing.
                        log::info!("link {i}: SSL handshake with {} failed: {e}", l.remote);
                        if let Some(link) = self.slots[i].take()
                            && let Some(s) = link.socket
                        {
                            net.abort(s);
                        }
                    } else {
                        log::warn!("link {i}: SSL handshake failed: {e}");
                        if let Some(s) = l.socket.take() {
                            net.abort(s);
                        }
                        l.state = State::TlsFailed(e);
                    }
                }
            }
            State::Open => {
                let Some(s) = l.socket else { return };
                let events_full = self.events.len() >= MAX_EVENTS;
                let due = match (batching, l.tx_since) {
                    (None, _) | (Some(_), None) => true,
                    (Some(_), _) if l.tx.len() >= PASSTHROUGH_CHUNK => true,
                    (Some(d), Some(t)) => now.saturating_since(t) >= d,
                };
                if l.tls.is_some()
                    && let Err(e) = tls_step(net, l, s, now, rx_cap, due.then_some(()))
                {
                    log::warn!("link {i}: TLS: {e}");
                    l.error.get_or_insert(NetError::Io);
                    l.ended = true;
                }
                // Write: what is queued, unless passthrough batches it or the socket is full.
                if l.tls.is_none() && !l.tx.is_empty() && l.error.is_none() && !l.blocked {
                    let due = match (batching, l.tx_since) {
                        (None, _) | (Some(_), None) => true,
                        (Some(_), _) if l.tx.len() >= PASSTHROUGH_CHUNK => true,
                        (Some(d), Some(t)) => now.saturating_since(t) >= d,
                    };
                    if due {
                        write_once(net, l, s, now);
                    }
                }
                // Read: one read per poll, into the room left.
                let room = rx_cap.saturating_sub(l.rx.len());
                if l.tls.is_none() && l.readable && room >= read_threshold(l.proto, rx_cap) && !l.ended {
                    read_once(net, l, s, room, now);
                }
                // Idle timeout of server links (AT+CIPSTO): only time with nothing to deliver
                // and nothing to send counts as idle, so no received byte is ever dropped.
                if !l.rx.is_empty() || !l.tx.is_empty() {
                    l.last_activity = now;
                }
                let idle = now.saturating_since(l.last_activity).as_secs();
                if l.server && server_timeout > 0 && idle >= u64::from(server_timeout) && !l.ended {
                    log::info!("link {i}: idle for {server_timeout} s (AT+CIPSTO): closing");
                    l.ended = true;
                }
                // Gone, and everything delivered (passive: read by the host), and no command
                // still waiting to announce it: report it.
                let tls_pending = l.tls.as_ref().is_some_and(|t| t.0.readable() > 0 || t.0.can_progress());
                if l.ended && l.rx.is_empty() && !tls_pending && !l.awaited && !events_full {
                    if let Some(link) = self.slots[i].take() {
                        self.release(net, i as u8, &link);
                    }
                    self.events.push_back(LinkEvent::Closed { id: i as u8 });
                }
            }
        }
    }

    /// DNS answered for slot `i`: open its socket.
    fn resolved<N: Network>(&mut self, net: &mut N, i: usize, now: Instant) {
        let Some(mut link) = self.slots[i].take() else { return };
        if let Err(e) = self.start_socket(net, i, &mut link, now) {
            link.state = State::Failed(match e {
                LinkError::Net(n) => n,
                _ => NetError::Io,
            });
        }
        let udp_open = link.proto == Proto::Udp && link.state == State::Open;
        self.slots[i] = Some(link);
        if udp_open {
            self.opened(i as u8);
        }
    }

    /// When [`Links::poll`] has work next: `now` if it has work at once (a readable socket
    /// with room, queued bytes the socket can take, a link to reap), else the earliest timer
    /// (connect deadlines, passthrough flushes, idle timeouts). Events waiting in
    /// [`Links::take_event`] are the caller's to take when it can print them.
    pub fn next_deadline(&self, now: Instant) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut at = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));
        let events_full = self.events.len() >= MAX_EVENTS;
        if self.server.as_ref().is_some_and(|s| s.acceptable) && !events_full {
            at(now);
        }
        for l in self.slots.iter().flatten() {
            match l.state {
                State::Resolving { deadline, .. } | State::Connecting { deadline } => at(deadline),
                State::Handshaking { deadline } => {
                    at(deadline);
                    let out = l.tls.as_ref().is_some_and(|t| !t.0.outgoing().is_empty());
                    if l.readable || l.ended || (out && !l.blocked) {
                        at(now);
                    }
                }
                State::Failed(_) | State::TlsFailed(_) => {
                    if l.socket.is_some() {
                        at(now);
                    }
                }
                State::Open => {
                    let room = self.buffers.rx.saturating_sub(l.rx.len())
                        >= read_threshold(l.proto, self.buffers.rx);
                    let reap = l.ended && l.rx.is_empty() && !l.awaited && !events_full;
                    if (l.readable && room && !l.ended) || reap {
                        at(now);
                    }
                    if let Some(t) = &l.tls
                        && ((t.0.readable() > 0 && self.buffers.rx > l.rx.len())
                            || t.0.can_progress()
                            || (!t.0.outgoing().is_empty() && !l.blocked && l.error.is_none()))
                    {
                        at(now);
                    }
                    if !l.tx.is_empty() && !l.blocked && l.error.is_none() {
                        match (self.passthrough, l.tx_since) {
                            (Some((_, d)), Some(t)) if l.tx.len() < PASSTHROUGH_CHUNK => at(t + d),
                            _ => at(now),
                        }
                    }
                    if l.server && self.server_timeout_s > 0 && !l.ended {
                        at(l.last_activity + Duration::from_secs(u64::from(self.server_timeout_s)));
                    }
                }
            }
        }
        next
    }
}

/// The least room a link needs before it reads its socket: one byte for TCP; for UDP room
/// for the largest datagram delivered ([`MAX_IPD`], or the whole buffer if smaller), so a
/// datagram is never cut because earlier ones still wait in the buffer.
fn read_threshold(proto: Proto, rx_cap: usize) -> usize {
    if proto == Proto::Udp { rx_cap.clamp(1, MAX_IPD) } else { 1 }
}

fn connected(id: u8, l: &Link) -> LinkEvent {
    LinkEvent::Connected { id, proto: l.proto, server: l.server, remote: l.remote, local_port: l.local_port }
}

fn find_mut(slots: &mut [Option<Link>; MAX_LINKS], s: SocketHandle) -> Option<&mut Link> {
    slots.iter_mut().flatten().find(|l| l.socket == Some(s))
}

/// One bounded TLS step of link `l`: send pending ciphertext, read once from the socket,
/// process, move decrypted data into the receive buffer, and (with `write`, once the
/// handshake is done) encrypt queued plaintext and send it.
fn tls_step<N: Network>(
    net: &mut N,
    l: &mut Link,
    s: SocketHandle,
    now: Instant,
    rx_cap: usize,
    write: Option<()>,
) -> Result<(), TlsError> {
    let Some(Tls(mut t)) = l.tls.take() else { return Ok(()) };
    let r = (|| {
        tls_flush(net, l, &mut *t, s);
        if l.readable && !l.ended {
            let space = t.incoming_space();
            if !space.is_empty() {
                match net.recv(s, space) {
                    Ok(0) => {
                        l.ended = true;
                        l.readable = false;
                    }
                    Ok(n) => {
                        t.received(n);
                        l.last_activity = now;
                    }
                    Err(NetError::WouldBlock) => l.readable = false,
                    Err(e) => {
                        l.error.get_or_insert(e);
                        l.ended = true;
                    }
                }
            }
        }
        // Decrypt and take what arrived, a few records per step (bounded), while the link has
        // room: records read together are not left waiting for the next wake-up.
        t.process()?;
        for _ in 0..TLS_RECORDS_PER_STEP {
            let room = rx_cap.saturating_sub(l.rx.len()).min(t.readable());
            if room > 0 {
                let start = l.rx.len();
                l.rx.resize(start + room, 0);
                let n = t.read(&mut l.rx[start..]);
                l.rx.truncate(start + n);
                l.last_activity = now;
            }
            if t.readable() > 0 || !t.can_progress() || l.rx.len() >= rx_cap {
                break;
            }
            t.process()?;
        }
        // Encrypt queued plaintext only while the socket takes what is already encrypted.
        if write.is_some()
            && !t.is_handshaking()
            && !l.tx.is_empty()
            && l.error.is_none()
            && !l.blocked
            && t.outgoing().len() < TLS_OUTGOING_HIGH
        {
            let n = t.write(&l.tx)?;
            if n > 0 {
                l.tx.advance(n);
                l.sent_total = l.sent_total.wrapping_add(n as u64);
                l.last_activity = now;
                l.tx_since = if l.tx.is_empty() { None } else { Some(now) };
            }
        }
        tls_flush(net, l, &mut *t, s);
        if t.peer_closed() {
            l.ended = true;
        }
        Ok(())
    })();
    l.tls = Some(Tls(t));
    r
}

/// Hand the socket the session's ciphertext (one send).
fn tls_flush<N: Network>(net: &mut N, l: &mut Link, t: &mut dyn TlsSession, s: SocketHandle) {
    if t.outgoing().is_empty() || l.blocked || l.error.is_some() {
        return;
    }
    match net.send(s, t.outgoing()) {
        Ok(n) => t.sent(n),
        Err(NetError::WouldBlock) => l.blocked = true,
        Err(e) => {
            l.error.get_or_insert(e);
            l.ended = true;
        }
    }
}

/// Send once from `l`'s queue: TCP as much as the socket takes; UDP one datagram of at most
/// [`PASSTHROUGH_CHUNK`] bytes to the link's remote.
fn write_once<N: Network>(net: &mut N, l: &mut Link, s: SocketHandle, now: Instant) {
    if l.proto == Proto::Udp {
        let n = l.tx.len().min(PASSTHROUGH_CHUNK);
        match net.send_to(s, &l.tx[..n], l.remote) {
            Ok(()) => {
                l.sent_total = l.sent_total.wrapping_add(n as u64);
                l.last_activity = now;
            }
            Err(NetError::WouldBlock) => {
                l.blocked = true;
                return;
            }
            // A datagram the stack refuses (too long, no route) is lost, as UDP is.
            Err(e) => log::warn!("UDP passthrough: {n} bytes not sent: {e}"),
        }
        l.tx.advance(n);
        l.tx_since = if l.tx.is_empty() { None } else { Some(now) };
        return;
    }
    match net.send(s, &l.tx) {
        Ok(n) => {
            l.tx.advance(n);
            l.sent_total = l.sent_total.wrapping_add(n as u64);
            l.last_activity = now;
            l.tx_since = if l.tx.is_empty() { None } else { Some(now) };
        }
        Err(NetError::WouldBlock) => l.blocked = true,
        Err(e) => {
            l.error.get_or_insert(e);
            l.readable = true;
        }
    }
}

/// Read once from `s` into `l`, straight into its buffer (at most `room` bytes; UDP: one
/// datagram of at most [`MAX_IPD`]).
fn read_once<N: Network>(net: &mut N, l: &mut Link, s: SocketHandle, room: usize, now: Instant) {
    let start = l.rx.len();
    if l.proto == Proto::Udp {
        l.rx.resize(start + room.min(MAX_IPD), 0);
        let r = net.recv_from(s, &mut l.rx[start..]);
        match r {
            Ok(d) if d.len == 0 => {
                // An empty datagram carries nothing to deliver (lwIP passes none up either).
                l.rx.truncate(start);
            }
            Ok(d) => {
                l.rx.truncate(start + d.len);
                match l.udp_mode {
                    UdpMode::Fixed => {}
                    UdpMode::ChangeOnce => {
                        l.remote = d.from;
                        l.udp_mode = UdpMode::Fixed;
                    }
                    UdpMode::Follow => l.remote = d.from,
                }
                if d.full_len > d.len {
                    log::warn!("UDP datagram of {} bytes truncated to {}", d.full_len, d.len);
                }
                l.datagrams.push_back((d.from, d.len));
                l.last_activity = now;
            }
            Err(e) => {
                l.rx.truncate(start);
                if e == NetError::WouldBlock {
                    l.readable = false;
                } else {
                    log::warn!("UDP receive: {e}");
                }
            }
        }
        return;
    }
    l.rx.resize(start + room, 0);
    let r = net.recv(s, &mut l.rx[start..]);
    match r {
        Ok(0) => {
            l.rx.truncate(start);
            l.ended = true;
            l.readable = false;
        }
        Ok(n) => {
            l.rx.truncate(start + n);
            l.last_activity = now;
        }
        Err(e) => {
            l.rx.truncate(start);
            if e == NetError::WouldBlock {
                l.readable = false;
            } else {
                l.error.get_or_insert(e);
                l.ended = true;
            }
        }
    }
}

fn apply_tcp_options<N: Network>(net: &mut N, s: SocketHandle, cfg: &SlotConfig, keepalive_s: u16) {
    let _ = net.set_option(s, SocketOption::NoDelay(cfg.tcp.nodelay));
    let linger = u16::try_from(cfg.tcp.linger).ok();
    let _ = net.set_option(s, SocketOption::Linger(linger));
    let keepalive = (keepalive_s > 0).then_some(KeepAlive { idle_s: keepalive_s, interval_s: 1, count: 3 });
    let _ = net.set_option(s, SocketOption::KeepAlive(keepalive));
}
