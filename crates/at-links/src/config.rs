//! Limits, buffer capacities and the per-link-slot configuration.

use at_hal::net::NetError;

/// Link ids 0..=4 (ESP-AT's `AT_SOCKET_MAX_CONN_NUM`); id 5 means "all" where ESP-AT allows it.
pub const MAX_LINKS: usize = 5;

/// Most bytes in one `+IPD` (ESP-AT splits larger reads).
pub const MAX_IPD: usize = 2920;

/// Most bytes one `AT+CIPSEND` / `AT+CIPSENDEX` takes.
pub const MAX_SEND: usize = 8192;

/// Passthrough sends a full chunk at once, and a partial one after `AT+TRANSINTVL`.
pub const PASSTHROUGH_CHUNK: usize = 2920;
/// Bytes a link's send buffer takes beyond its capacity: the AT port lets the pluses of a
/// possible `+++` through even when the buffer is full (so the escape always works), and if
/// they turn out to be data they must not be lost (`at_parser::ESCAPE_SLACK`).
pub const SEND_SLACK: usize = 3;

/// Connect timeout when `AT+CIPSTART` gives none (`<timeout>` 0), as lwIP's SYN retries give up.
pub const DEFAULT_CONNECT_TIMEOUT_MS: u32 = 20_000;

/// Connections the stack may queue for the server beyond those accepted: more than
/// `AT+CIPSERVERMAXCONN`, so a burst of connects is accepted (and those over the limit closed)
/// instead of timing out in the SYN queue.
pub const LISTEN_BACKLOG: u8 = 16;

/// Link events ([`crate::LinkEvent`]) held for the core at most: while the core cannot print
/// them (the AT port is stalled), the server stops accepting and closed links wait to be
/// reaped, so the queue never grows past this.
pub const MAX_EVENTS: usize = 16;

/// Accepted connections taken from the listener per poll (a flood of connects never starves
/// the UART).
pub const ACCEPTS_PER_POLL: usize = 2;

/// Buffer capacities per link, in bytes. Allocated when a link opens, freed when it closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buffers {
    /// Received bytes waiting for the AT port (active `+IPD`) or for `AT+CIPRECVDATA`
    /// (passive). When full, the link stops reading its socket: TCP flow control holds the
    /// peer. Default 2920 (one `+IPD`).
    pub rx: usize,
    /// Bytes from `AT+CIPSEND*` or passthrough waiting for the socket. When full, the data
    /// phase stops taking UART input. Default 2920 (one passthrough chunk).
    pub tx: usize,
}

impl Default for Buffers {
    fn default() -> Self {
        Buffers { rx: MAX_IPD, tx: PASSTHROUGH_CHUNK }
    }
}

/// A link's transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// TLS over TCP.
    Ssl,
}

impl Proto {
    /// The name in AT commands and messages.
    pub const fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "TCP",
            Proto::Udp => "UDP",
            Proto::Ssl => "SSL",
        }
    }

    /// Parse `"TCP"`, `"UDP"`, `"SSL"` (exact, case-sensitive, as ESP-AT's `strcmp`).
    pub fn parse(s: &[u8]) -> Option<Proto> {
        match s {
            b"TCP" => Some(Proto::Tcp),
            b"UDP" => Some(Proto::Udp),
            b"SSL" => Some(Proto::Ssl),
            _ => None,
        }
    }
}

/// How received data reaches the host (`AT+CIPRECVTYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecvMode {
    /// `+IPD,...:<data>` as it arrives.
    #[default]
    Active,
    /// `+IPD,<len>` notices; the host reads with `AT+CIPRECVDATA`.
    Passive,
}

/// UDP remote handling (`AT+CIPSTART`'s `<mode>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UdpMode {
    /// 0: the remote never changes.
    #[default]
    Fixed,
    /// 1: the first datagram's sender becomes the remote, then fixed.
    ChangeOnce,
    /// 2: every datagram's sender becomes the remote.
    Follow,
}

/// Socket options of a link slot (`AT+CIPTCPOPT`), kept across connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpOptions {
    /// `SO_LINGER` seconds; `-1`: off.
    pub linger: i32,
    /// `TCP_NODELAY`.
    pub nodelay: bool,
    /// `SO_SNDTIMEO` in ms (0: none): how long a send may wait for room before it fails.
    pub send_timeout_ms: u32,
    /// TCP keep-alive idle seconds (0: off).
    pub keepalive_s: u16,
}

impl Default for TcpOptions {
    fn default() -> Self {
        TcpOptions { linger: -1, nodelay: false, send_timeout_ms: 0, keepalive_s: 0 }
    }
}

/// The configuration of one link slot: it applies to the slot's future connections too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SlotConfig {
    /// `AT+CIPRECVTYPE` mode.
    pub recv: RecvMode,
    /// `<data_len_report_mode>` 1: passive notices report the next datagram's size.
    pub report_datagram: bool,
    /// `AT+CIPTCPOPT`.
    pub tcp: TcpOptions,
}

/// Why a link operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// The link id is not 0..=4.
    #[error("link id must be 0..=4")]
    BadId,
    /// The slot already holds a link (ESP-AT logs `ALREADY CONNECTED`).
    #[error("ALREADY CONNECTED: the link id is in use")]
    InUse,
    /// No link with this id.
    #[error("no such link")]
    NoLink,
    /// Every slot is in use.
    #[error("all 5 links are in use")]
    NoFreeLink,
    /// A server already runs (with other parameters).
    #[error("a server is already running with other parameters")]
    ServerRunning,
    /// No server runs.
    #[error("no server is running")]
    NoServer,
    /// The operation does not apply to this kind of link.
    #[error("not possible on this kind of link")]
    WrongKind,
    /// The link is not connected (yet, or any more).
    #[error("the link is not connected")]
    NotConnected,
    /// The TLS seam has no implementation installed.
    #[error("SSL links need a TLS provider")]
    NoTls,
    /// The network refused.
    #[error("network: {0}")]
    Net(NetError),
}

impl From<NetError> for LinkError {
    fn from(e: NetError) -> Self {
        LinkError::Net(e)
    }
}
