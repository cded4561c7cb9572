//! The IP stack boundary: the station interface's addressing, DNS, SNTP, and TCP/UDP sockets.
//!
//! [`Network`] is what the link manager and the core drive; three kinds of backend implement
//! it: std sockets on a PC (`at-host`), smoltcp or embassy-net over `esp-radio` on the
//! ESP32-C3, and a deterministic simulated network in tests (`at-mock`). It is shaped so all
//! three fit without threads or blocking:
//!
//! * **Handles.** Sockets are [`SocketHandle`]s the backend hands out; a handle is valid
//!   from the call that returned it until [`Network::close`] / [`Network::abort`], after
//!   which the backend may reuse its number.
//! * **Non-blocking.** No method waits. Operations that take time are *started* by a call
//!   and *finished* by an event ([`Network::tcp_connect`] → [`NetEvent::Connected`],
//!   [`Network::dns_start`] → [`NetEvent::DnsDone`]); operations that cannot make progress
//!   return [`NetError::WouldBlock`].
//! * **Partial writes are normal.** [`Network::send`] takes what fits in the socket's send
//!   buffer and says how much; the rest is the caller's to offer again after
//!   [`NetEvent::Writable`].
//! * **Events are edge-triggered hints.** [`Network::poll`] reports that something *became*
//!   possible (data arrived, room freed, a connection is waiting). A backend reports
//!   `Readable` at least once after a `recv` returned `WouldBlock` and data (or the end of
//!   the stream) arrived since; it may report more often. A caller that stops reading before
//!   `WouldBlock` — because the AT port is slow and the link applies backpressure — must
//!   remember that the socket may hold more, and read again later without an event.
//! * **Time is passed in**: `poll(now)` advances timers (DHCP, retransmissions in a
//!   simulation, connect timeouts); [`Network::next_deadline`] says when to call it again.
//!
//! The interface's IPv4 configuration (DHCP or static), its hostname, the DNS servers and
//! SNTP live here and not on the Wi-Fi driver: they belong to the IP stack that owns the
//! sockets. The Wi-Fi driver reports association; the core tells the stack with
//! [`Network::set_link`] (as ESP-IDF's event loop calls `esp_netif_action_connected`), and
//! the stack answers [`NetEvent::GotIp`] once DHCP (or the static address) is in place.

pub use core::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

use crate::time::{Instant, UnixTime};

/// Longest host name [`Network::dns_start`] takes (ESP-AT: 64 bytes for a remote host).
pub const MAX_HOST_LEN: usize = 64;
/// Longest SNTP server name (ESP-AT: 64 bytes).
pub const MAX_SNTP_SERVER_LEN: usize = 64;
/// Longest station hostname, in bytes (ESP-IDF's netif limit as ESP-AT uses it).
pub const MAX_HOSTNAME_LEN: usize = 32;

/// Parse dotted-quad IPv4 text as AT commands carry it: four decimal parts 0..=255, each one
/// to three digits, nothing else. `None` on anything else.
pub fn parse_ipv4(s: &[u8]) -> Option<Ipv4Addr> {
    let mut out = [0u8; 4];
    let mut parts = s.split(|&c| c == b'.');
    for o in out.iter_mut() {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 3 || !p.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let v = p.iter().fold(0u16, |a, &c| a * 10 + u16::from(c - b'0'));
        *o = u8::try_from(v).ok()?;
    }
    parts.next().is_none().then_some(Ipv4Addr::from(out))
}

/// Address, gateway and netmask of the station interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpConfig {
    /// The interface address.
    pub ip: Ipv4Addr,
    /// Default gateway.
    pub gateway: Ipv4Addr,
    /// Netmask.
    pub netmask: Ipv4Addr,
}

impl Default for IpConfig {
    fn default() -> Self {
        IpConfig { ip: Ipv4Addr::UNSPECIFIED, gateway: Ipv4Addr::UNSPECIFIED, netmask: Ipv4Addr::UNSPECIFIED }
    }
}

/// A socket, as handed out by the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketHandle(pub u32);

/// A DNS lookup started with [`Network::dns_start`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DnsQuery(pub u32);

/// An echo request started with [`Network::ping_start`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PingId(pub u32);

/// TCP keep-alive probes (ESP-AT's `<keep_alive>`: idle time `v`, interval 1 s, 3 probes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAlive {
    /// Seconds without traffic before the first probe.
    pub idle_s: u16,
    /// Seconds between probes.
    pub interval_s: u16,
    /// Unanswered probes before the connection is dropped.
    pub count: u8,
}

/// A per-socket option (`AT+CIPTCPOPT`, `<keep_alive>` of `AT+CIPSTART`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketOption {
    /// Disable Nagle's algorithm.
    NoDelay(bool),
    /// TCP keep-alive, or off.
    KeepAlive(Option<KeepAlive>),
    /// `SO_LINGER`: on [`Network::close`], `Some(0)` resets the connection, `Some(s)` gives
    /// unsent data up to `s` seconds, `None` closes gracefully in the background.
    Linger(Option<u16>),
}

/// One received UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram {
    /// Bytes copied into the caller's buffer.
    pub len: usize,
    /// The datagram's full length; more than `len` means it was truncated to the buffer.
    pub full_len: usize,
    /// The sender.
    pub from: SocketAddr,
}

/// SNTP client settings (`AT+CIPSNTPCFG`, `AT+CIPSNTPINTV`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SntpConfig<'a> {
    /// Run the client.
    pub enabled: bool,
    /// Up to three server names or addresses, in order of preference (empty ones skipped).
    pub servers: [&'a str; 3],
    /// Seconds between synchronisations.
    pub interval_s: u32,
}

/// Why a network operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// Nothing can be done now (no data, no room, no pending connection, lookup running).
    #[error("operation would block")]
    WouldBlock,
    /// The peer refused the connection (RST to a SYN).
    #[error("connection refused")]
    Refused,
    /// The peer reset the connection.
    #[error("connection reset by peer")]
    Reset,
    /// A connect, or an established connection's retransmissions, timed out.
    #[error("timed out")]
    TimedOut,
    /// No route: the interface has no address, or the destination is unreachable.
    #[error("network unreachable")]
    Unreachable,
    /// The local address or port is taken.
    #[error("address in use")]
    AddrInUse,
    /// The stack has no free socket (or no memory for one).
    #[error("no free socket")]
    NoSockets,
    /// The handle does not name an open socket of the right kind.
    #[error("invalid socket handle")]
    InvalidHandle,
    /// The socket is not connected (yet, or any more).
    #[error("not connected")]
    NotConnected,
    /// The name did not resolve.
    #[error("host not found")]
    HostNotFound,
    /// A parameter the stack rejects (port 0, an over-long name, ...).
    #[error("invalid argument")]
    InvalidArgument,
    /// A datagram larger than the stack sends.
    #[error("datagram too long")]
    MessageTooLong,
    /// This backend does not offer the operation.
    #[error("not supported by this network backend")]
    Unsupported,
    /// Any other failure of the stack or the OS.
    #[error("network I/O error")]
    Io,
}

impl NetError {
    /// The lwIP `errno` value ESP-AT prints as `+ERRNO:` for this failure (ESP-IDF's newlib
    /// numbering). lwIP reports a refused connect as `ERR_RST`, i.e. `ECONNRESET`.
    pub const fn errno(self) -> u8 {
        match self {
            NetError::WouldBlock => 11,      // EAGAIN
            NetError::Refused => 104,        // ECONNRESET (lwIP: ERR_RST)
            NetError::Reset => 104,          // ECONNRESET
            NetError::TimedOut => 116,       // ETIMEDOUT
            NetError::Unreachable => 118,    // EHOSTUNREACH
            NetError::AddrInUse => 112,      // EADDRINUSE
            NetError::NoSockets => 23,       // ENFILE
            NetError::InvalidHandle => 9,    // EBADF
            NetError::NotConnected => 128,   // ENOTCONN
            NetError::HostNotFound => 118,   // EHOSTUNREACH
            NetError::InvalidArgument => 22, // EINVAL
            NetError::MessageTooLong => 122, // EMSGSIZE
            NetError::Unsupported => 95,     // EOPNOTSUPP
            NetError::Io => 5,               // EIO
        }
    }
}

/// Something that happened in the IP stack, reported by [`Network::poll`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetEvent {
    /// A connect started with [`Network::tcp_connect`] completed.
    Connected(SocketHandle),
    /// A connect failed; the handle stays valid until closed.
    ConnectFailed(SocketHandle, NetError),
    /// Data, or the end of the peer's stream, can be read (a hint: see the module docs).
    Readable(SocketHandle),
    /// The send buffer has room again after a `send` or `send_to` returned `WouldBlock`.
    Writable(SocketHandle),
    /// A listener has a connection waiting for [`Network::tcp_accept`].
    Acceptable(SocketHandle),
    /// An established connection failed (reset, retransmission timeout). Bytes received
    /// before the failure are still returned by [`Network::recv`] (as lwIP and POSIX stacks
    /// keep them); after them, and for every other call, the error until it is closed.
    Failed(SocketHandle, NetError),
    /// A lookup started with [`Network::dns_start`] finished: take it with
    /// [`Network::dns_result`].
    DnsDone(DnsQuery),
    /// The interface has an address (DHCP lease or static configuration): `WIFI GOT IP`.
    GotIp(IpConfig),
    /// The interface lost its address.
    LostIp,
    /// SNTP set the wall clock: `+TIME_UPDATED`.
    TimeUpdated(UnixTime),
}

/// The IP stack: interface configuration, DNS, SNTP and sockets. See the module docs for
/// the contract (handles, non-blocking, partial writes, edge-triggered events).
///
/// Errors on a socket that has failed or been reset are sticky: every further `send`/`recv`
/// returns the same error until the handle is closed.
pub trait Network {
    // ---- interface ----

    /// The station link went up (associated with an AP) or down. Up starts DHCP (or applies
    /// the static address); down drops the address ([`NetEvent::LostIp`]). Backends that
    /// learn the link state from their driver directly may ignore it.
    fn set_link(&mut self, up: bool, now: Instant);

    /// The interface's IPv4 configuration, if it has an address.
    fn ip_config(&self) -> Option<IpConfig>;

    /// Use DHCP (`true`) or the static configuration (`false`, see
    /// [`Network::set_static_ip`]).
    fn set_dhcp(&mut self, enabled: bool, now: Instant);

    /// Set a static address; disables DHCP.
    fn set_static_ip(&mut self, config: IpConfig, now: Instant) -> Result<(), NetError>;

    /// The hostname the interface announces over DHCP.
    fn set_hostname(&mut self, hostname: &str) -> Result<(), NetError>;

    /// DNS servers to use, in order; an empty list returns to the ones DHCP provides.
    fn set_dns_servers(&mut self, servers: &[IpAddr]) -> Result<(), NetError>;

    /// Configure SNTP; when enabled, [`NetEvent::TimeUpdated`] follows each synchronisation.
    fn configure_sntp(&mut self, config: &SntpConfig<'_>, now: Instant) -> Result<(), NetError>;

    // ---- DNS ----

    /// Start resolving `host` (at most [`MAX_HOST_LEN`] bytes) to an address. Numeric
    /// addresses complete at once; the result is taken with [`Network::dns_result`].
    fn dns_start(&mut self, host: &str, now: Instant) -> Result<DnsQuery, NetError>;

    /// The lookup's answer: `WouldBlock` while it runs. Taking an answer (or an error other
    /// than `WouldBlock`) ends the query.
    fn dns_result(&mut self, query: DnsQuery) -> Result<IpAddr, NetError>;

    /// Forget a lookup (its answer, when it comes, is dropped).
    fn dns_cancel(&mut self, query: DnsQuery);

    // ---- ICMP ----

    /// Send one ICMP echo request to `to` (`AT+PING`). Backends without ICMP answer
    /// [`NetError::Unsupported`].
    fn ping_start(&mut self, to: IpAddr, now: Instant) -> Result<PingId, NetError> {
        let _ = (to, now);
        Err(NetError::Unsupported)
    }

    /// The round-trip time once the reply arrived; `WouldBlock` meanwhile. The caller decides
    /// when to give up (ESP-AT: 1 s) and calls [`Network::ping_cancel`].
    fn ping_result(&mut self, ping: PingId, now: Instant) -> Result<core::time::Duration, NetError> {
        let _ = (ping, now);
        Err(NetError::Unsupported)
    }

    /// Forget an echo request.
    fn ping_cancel(&mut self, ping: PingId) {
        let _ = ping;
    }

    // ---- sockets ----

    /// Start a TCP connection to `remote` from `local_port` (0: any). Completion is
    /// [`NetEvent::Connected`] or [`NetEvent::ConnectFailed`].
    fn tcp_connect(
        &mut self,
        remote: SocketAddr,
        local_port: u16,
        now: Instant,
    ) -> Result<SocketHandle, NetError>;

    /// Listen for TCP connections on `port`, queueing at most `backlog` unaccepted ones.
    fn tcp_listen(&mut self, port: u16, backlog: u8) -> Result<SocketHandle, NetError>;

    /// Take a waiting connection from a listener: the new socket and the peer's address.
    /// `WouldBlock` when none waits.
    fn tcp_accept(&mut self, listener: SocketHandle) -> Result<(SocketHandle, SocketAddr), NetError>;

    /// Open a UDP socket on `local_port` (0: any).
    fn udp_bind(&mut self, local_port: u16) -> Result<SocketHandle, NetError>;

    /// Send bytes on a connected TCP socket: how many were taken (at least 1), or
    /// `WouldBlock` when the send buffer is full. `data` must not be empty.
    fn send(&mut self, socket: SocketHandle, data: &[u8]) -> Result<usize, NetError>;

    /// Read received bytes from a TCP socket: `Ok(0)` means the peer closed its side and
    /// everything has been read; `WouldBlock` means nothing is there now. After a
    /// [`NetEvent::Failed`], the bytes received before the failure, then the error. `buf`
    /// must not be empty (`InvalidArgument`: `Ok(0)` would read as the end of the stream).
    fn recv(&mut self, socket: SocketHandle, buf: &mut [u8]) -> Result<usize, NetError>;

    /// Send one datagram, whole, or `WouldBlock`.
    fn send_to(&mut self, socket: SocketHandle, data: &[u8], to: SocketAddr) -> Result<(), NetError>;

    /// Receive one datagram (truncated to `buf`; see [`Datagram::full_len`]), or
    /// `WouldBlock`. Datagram boundaries are kept.
    fn recv_from(&mut self, socket: SocketHandle, buf: &mut [u8]) -> Result<Datagram, NetError>;

    /// Set an option.
    fn set_option(&mut self, socket: SocketHandle, option: SocketOption) -> Result<(), NetError>;

    /// The socket's local address.
    fn local_addr(&self, socket: SocketHandle) -> Result<SocketAddr, NetError>;

    /// Close: queued data is still sent, then the connection ends (per
    /// [`SocketOption::Linger`]). The handle is invalid afterwards.
    fn close(&mut self, socket: SocketHandle);

    /// Reset the connection at once (RST), dropping queued data. The handle is invalid
    /// afterwards.
    fn abort(&mut self, socket: SocketHandle);

    // ---- progress ----

    /// Advance the stack to `now` and return one pending event. Call until `None`.
    fn poll(&mut self, now: Instant) -> Option<NetEvent>;

    /// When [`Network::poll`] next has something to do, if anything is scheduled.
    fn next_deadline(&self) -> Option<Instant>;
}

#[cfg(feature = "conformance")]
pub mod conformance;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_parse() {
        assert_eq!(parse_ipv4(b"192.168.4.1"), Some(Ipv4Addr::new(192, 168, 4, 1)));
        for bad in
            [&b"256.1.1.1"[..], b"1.2.3", b"1.2.3.4.5", b"1..3.4", b"a.b.c.d", b"1.2.3.4 ", b"1234.1.1.1"]
        {
            assert_eq!(parse_ipv4(bad), None, "{:?}", bad.escape_ascii());
        }
    }
}
