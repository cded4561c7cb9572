//! TLS behind one small byte-oriented boundary.
//!
//! The link manager moves bytes between a socket and a [`TlsSession`]; the session turns
//! ciphertext into plaintext and back, sans-IO: it never touches a socket, never blocks and
//! never spins. On a PC the session is rustls (its unbuffered API, `at-tls-rustls`); on the
//! ESP32-C3 it is MbedTLS through `mbedtls-rs` (rustls cannot build for riscv32imc).
//!
//! Credentials arrive as DER bytes (the cert store has already read, parsed and checked them),
//! so a backend never parses PEM or reads flash.
//!
//! One step of a link per poll:
//!
//! 1. hand the socket what [`TlsSession::outgoing`] holds, then [`TlsSession::sent`];
//! 2. read the socket into [`TlsSession::incoming_space`], then [`TlsSession::received`];
//! 3. [`TlsSession::process`] — bounded work: at most the records already received;
//! 4. take plaintext with [`TlsSession::read`]; give plaintext with [`TlsSession::write`]
//!    once [`TlsSession::is_handshaking`] is false.

use alloc::boxed::Box;
use core::fmt;

/// How a private key is encoded (what the cert store found).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEncoding {
    /// PKCS#1 `RSAPrivateKey`.
    Pkcs1,
    /// PKCS#8 `PrivateKeyInfo`.
    Pkcs8,
    /// SEC1 `ECPrivateKey`.
    Sec1,
}

/// A certificate chain (leaf first) and its private key, as DER.
#[derive(Debug, Clone, Copy)]
pub struct Identity<'a> {
    /// Certificates, leaf first.
    pub chain: &'a [&'a [u8]],
    /// The private key.
    pub key: &'a [u8],
    /// How `key` is encoded.
    pub key_encoding: KeyEncoding,
}

/// What an SSL server presents and requires (`AT+CIPSERVER=1,<port>,"SSL",<CA enable>`).
#[derive(Debug, Clone, Copy)]
pub struct ServerParams<'a> {
    /// `server_cert` + `server_key`.
    pub identity: Identity<'a>,
    /// `server_ca` when CA enable is 1: clients must present a certificate it signed (fail
    /// closed: no certificate, or another CA's, ends the handshake).
    pub client_ca: Option<&'a [&'a [u8]]>,
    /// Seconds since the Unix epoch from the SNTP-set clock, or `None` before the first sync
    /// (certificate validity periods are then not checked; see the backend's docs).
    pub unix_time: Option<u64>,
}

/// What an SSL client link does (`AT+CIPSSLCCONF`, `AT+CIPSSLCSNI`, `AT+CIPSSLCALPN`,
/// `AT+CIPSSLCCN`, `AT+CIPSSLCCIPHER`).
#[derive(Debug, Clone, Copy)]
pub struct ClientParams<'a> {
    /// The host the link connects to (a name or a numeric address), for SNI and the name check.
    pub host: &'a str,
    /// `AT+CIPSSLCSNI`: the SNI to send instead of `host` (none for a numeric `host`).
    pub sni: Option<&'a str>,
    /// `AT+CIPSSLCALPN`: protocols to offer, in order.
    pub alpn: &'a [&'a [u8]],
    /// Auth modes 1 and 3: the certificate the client presents.
    pub identity: Option<Identity<'a>>,
    /// Auth modes 2 and 3: trust anchors the server's certificate must chain to (fail
    /// closed). `None`: the server is not verified (ESP-AT's modes 0 and 1).
    pub server_ca: Option<&'a [&'a [u8]]>,
    /// `AT+CIPSSLCCN`: the name the server's certificate must carry, when verifying; `None`:
    /// `sni`, else `host` (a numeric `host` is then not name-checked, as ESP-AT).
    pub common_name: Option<&'a str>,
    /// `AT+CIPSSLCCIPHER`: IANA cipher-suite ids to offer (`None`: the backend's defaults).
    pub cipher_suites: Option<&'a [u16]>,
    /// Seconds since the Unix epoch (see [`ServerParams::unix_time`]).
    pub unix_time: Option<u64>,
}

/// Why TLS failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsError {
    /// A credential the backend cannot use (what and why).
    BadCredential(&'static str),
    /// A parameter the backend does not support (an unknown cipher suite, a bad SNI, ...).
    Unsupported(&'static str),
    /// The peer's certificate was rejected (unknown CA, expired, wrong name, missing).
    PeerCertificate(&'static str),
    /// The peer sent a fatal alert (its TLS description code).
    AlertReceived(u8),
    /// The peer broke the protocol (garbage, a truncated or unexpected message).
    Protocol(&'static str),
    /// The handshake did not finish in time.
    HandshakeTimeout,
    /// The session is closed.
    Closed,
    /// The backend ran out of memory or another internal resource.
    Internal(&'static str),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::BadCredential(w) => write!(f, "unusable credential: {w}"),
            TlsError::Unsupported(w) => write!(f, "unsupported: {w}"),
            TlsError::PeerCertificate(w) => write!(f, "peer certificate rejected: {w}"),
            TlsError::AlertReceived(a) => write!(f, "peer sent TLS alert {a}"),
            TlsError::Protocol(w) => write!(f, "TLS protocol error: {w}"),
            TlsError::HandshakeTimeout => f.write_str("TLS handshake timed out"),
            TlsError::Closed => f.write_str("TLS session closed"),
            TlsError::Internal(w) => write!(f, "TLS internal error: {w}"),
        }
    }
}

impl core::error::Error for TlsError {}

/// One TLS connection, sans-IO (see the module docs for the order of calls).
pub trait TlsSession {
    /// Free space for ciphertext read from the socket (empty: process first, or the session
    /// is full — stop reading the socket).
    fn incoming_space(&mut self) -> &mut [u8];
    /// `n` bytes were written into [`TlsSession::incoming_space`].
    fn received(&mut self, n: usize);
    /// Advance the handshake and decrypt what was received, as far as the bytes at hand allow
    /// and while decrypted data has room. Bounded: it never waits.
    fn process(&mut self) -> Result<(), TlsError>;
    /// Ciphertext waiting for the socket.
    fn outgoing(&self) -> &[u8];
    /// The socket took the first `n` bytes of [`TlsSession::outgoing`].
    fn sent(&mut self, n: usize);
    /// Take decrypted application data.
    fn read(&mut self, buf: &mut [u8]) -> usize;
    /// Bytes of decrypted data waiting for [`TlsSession::read`].
    fn readable(&self) -> usize;
    /// Encrypt application data: how much was taken (0 while handshaking or while
    /// [`TlsSession::outgoing`] is full).
    fn write(&mut self, data: &[u8]) -> Result<usize, TlsError>;
    /// Received ciphertext waits that [`TlsSession::process`] could advance now (it held
    /// back because decrypted data had no room, and room has freed): call it again even
    /// without new bytes from the socket.
    fn can_progress(&self) -> bool {
        false
    }
    /// The handshake is still running.
    fn is_handshaking(&self) -> bool;
    /// The peer sent `close_notify`: no more data will come.
    fn peer_closed(&self) -> bool;
    /// Queue our `close_notify`.
    fn close(&mut self);
    /// The protocol version and cipher suite, once negotiated (for logs).
    fn negotiated(&self) -> Option<(u16, u16)> {
        None
    }
}

/// Sessions for the connections a server accepts, from one validated configuration.
pub trait TlsAcceptor {
    /// A session for a connection just accepted; `unix_time` as in
    /// [`ServerParams::unix_time`], now.
    fn accept(&mut self, unix_time: Option<u64>) -> Result<Box<dyn TlsSession>, TlsError>;
}

/// Makes sessions: the platform's TLS implementation.
pub trait Tls: fmt::Debug {
    /// Check the server's credentials and build what its accepted connections share. Called by
    /// `AT+CIPSERVER` (and again when its certificates are rewritten), so a bad certificate is
    /// an `ERROR` there, before any client connects.
    fn server(&mut self, params: &ServerParams<'_>) -> Result<Box<dyn TlsAcceptor>, TlsError>;
    /// A session for a client link.
    fn client(&mut self, params: &ClientParams<'_>) -> Result<Box<dyn TlsSession>, TlsError>;
}

/// No TLS: every call fails with [`TlsError::Unsupported`] (a platform without it).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoTls;

impl Tls for NoTls {
    fn server(&mut self, _: &ServerParams<'_>) -> Result<Box<dyn TlsAcceptor>, TlsError> {
        Err(TlsError::Unsupported("this platform has no TLS"))
    }
    fn client(&mut self, _: &ClientParams<'_>) -> Result<Box<dyn TlsSession>, TlsError> {
        Err(TlsError::Unsupported("this platform has no TLS"))
    }
}
