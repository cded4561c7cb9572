//! # at-tls-rustls: the TLS boundary of `at-hal` on rustls
//!
//! [`RustlsTls`] implements [`at_hal::tls::Tls`] with rustls 0.23's unbuffered API: rustls
//! never owns a socket or a growing buffer; each [`RustlsSession`] holds three buffers of fixed
//! capacity (received ciphertext, ciphertext to send, decrypted data) and does bounded work per
//! [`TlsSession::process`] call. The crypto provider is *ring*.
//!
//! ## Verification
//!
//! * Server side, `client_ca` given: clients must present a certificate that chains to it
//!   (no certificate, or another CA's, fails the handshake).
//! * Client side, `server_ca` given (ESP-AT auth modes 2 and 3): the server's chain must lead
//!   to it, and its name must match `common_name`, else the SNI, else the host name. A numeric
//!   host with neither is not name-checked (ESP-AT does not set a host name for an address).
//!   Without `server_ca` (modes 0 and 1) the server is not verified, as ESP-AT; the handshake
//!   signature is still checked.
//! * Time: validity periods are checked against the SNTP-set clock passed in
//!   (`unix_time`). Before the first SNTP sync (`None`) the chain is verified at the instant
//!   the peer's certificate became valid: chain, signatures, key usage and name are all
//!   checked, the dates are not (a device whose clock still reads 1970 would otherwise reject
//!   every certificate). Run `AT+CIPSNTPCFG` first to have dates checked.
//!
//! ## Memory per session
//!
//! [`INCOMING_CAPACITY`] for received records (a record must be whole to be decrypted), one
//! decrypted record at a time waiting for the link (the next is decrypted only after it was
//! read; rustls 0.23 passes application data through its own per-record buffer, so this costs
//! up to 16 KiB while data flows and nothing when idle), at most [`OUTGOING_CAPACITY`] of
//! ciphertext to send, plus rustls' own state. Measured (`cargo bench -p at-benches --bench
//! link_heap`): ≈ 32 KiB per SSL link idle, ≈ 64 KiB at the peak of a bulk transfer.

#![forbid(unsafe_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use at_hal::tls::{
    ClientParams, Identity, KeyEncoding, ServerParams, Tls, TlsAcceptor, TlsError, TlsSession,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{UnbufferedClientConnection, WebPkiServerVerifier};
use rustls::crypto::{
    CryptoProvider, WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature,
};
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer, ServerName,
    UnixTime,
};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{UnbufferedServerConnection, WebPkiClientVerifier};
use rustls::time_provider::TimeProvider;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, UnbufferedStatus};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};

/// Received ciphertext held at most: one whole TLS record of the largest size rustls accepts
/// (5-byte header, 16 KiB of plaintext and up to 2048 bytes of expansion), as rustls needs a
/// record whole. A handshake message spread over several records must fit too: a peer whose
/// certificate chain is larger than this fails the handshake with a clear error.
pub const INCOMING_CAPACITY: usize = 5 + 16 * 1024 + 2048;
/// Ciphertext waiting for the socket, at most (handshake flights grow the buffer up to this).
pub const OUTGOING_CAPACITY: usize = 24 * 1024;
/// Plaintext encrypted per [`TlsSession::write`] call at most (one record).
const MAX_WRITE: usize = 4096;
/// Bound on state-machine steps per [`TlsSession::process`] call.
const MAX_STEPS: usize = 32;

/// The clock sessions verify against: seconds since the epoch, 0 = not synced yet.
#[derive(Default)]
struct Clock(AtomicU64);

impl Clock {
    fn set(&self, unix: Option<u64>) {
        self.0.store(unix.unwrap_or(0), Ordering::Relaxed);
    }
    fn get(&self) -> Option<u64> {
        Some(self.0.load(Ordering::Relaxed)).filter(|&t| t != 0)
    }
}

impl TimeProvider for Clock {
    fn current_time(&self) -> Option<UnixTime> {
        // Before a sync, a fixed early time; the verifiers below ignore validity errors then.
        Some(UnixTime::since_unix_epoch(core::time::Duration::from_secs(self.get().unwrap_or(1))))
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({:?})", self.get())
    }
}

/// rustls (ring) as the platform's TLS.
#[derive(Debug, Clone)]
pub struct RustlsTls {
    provider: Arc<CryptoProvider>,
}

impl Default for RustlsTls {
    fn default() -> Self {
        RustlsTls { provider: Arc::new(rustls::crypto::ring::default_provider()) }
    }
}

/// A server configuration: rustls' config and the clock its client verifier reads.
#[derive(Debug, Clone)]
pub struct RustlsAcceptor {
    config: Arc<rustls::ServerConfig>,
    clock: Arc<Clock>,
}

impl TlsAcceptor for RustlsAcceptor {
    fn accept(&mut self, unix_time: Option<u64>) -> Result<Box<dyn TlsSession>, TlsError> {
        self.clock.set(unix_time);
        let conn = UnbufferedServerConnection::new(self.config.clone())
            .map_err(|_| TlsError::Internal("cannot start a server session"))?;
        Ok(Box::new(RustlsSession::new(Conn::Server(conn))))
    }
}

fn key_der(identity: &Identity<'_>) -> PrivateKeyDer<'static> {
    let key = identity.key.to_vec();
    match identity.key_encoding {
        KeyEncoding::Pkcs1 => PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(key)),
        KeyEncoding::Pkcs8 => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
        KeyEncoding::Sec1 => PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(key)),
    }
}

fn chain(certs: &[&[u8]]) -> Vec<CertificateDer<'static>> {
    certs.iter().map(|c| CertificateDer::from(c.to_vec())).collect()
}

fn roots(certs: &[&[u8]]) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    for c in certs {
        store
            .add(CertificateDer::from(c.to_vec()))
            .map_err(|_| TlsError::BadCredential("a CA certificate is not a usable trust anchor"))?;
    }
    if store.is_empty() {
        return Err(TlsError::BadCredential("no CA certificate"));
    }
    Ok(store)
}

/// The instant to verify `leaf` at: the synced clock, or — before the first sync — the start
/// of the leaf's validity, so that the chain, signatures, usages and name are all checked
/// and only the dates are not.
fn verify_time(clock: &Clock, leaf: &CertificateDer<'_>, now: UnixTime) -> UnixTime {
    if clock.get().is_some() {
        return now;
    }
    log::warn!("TLS: the clock is not synced (AT+CIPSNTPCFG): the peer certificate's dates are not checked");
    use der::Decode;
    match x509_cert::Certificate::from_der(leaf.as_ref()) {
        Ok(c) => UnixTime::since_unix_epoch(c.tbs_certificate().validity().not_before.to_unix_duration()),
        Err(_) => now,
    }
}

#[derive(Debug)]
struct ClientAuth {
    inner: Arc<dyn ClientCertVerifier>,
    clock: Arc<Clock>,
}

impl ClientCertVerifier for ClientAuth {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.inner.verify_client_cert(end_entity, intermediates, verify_time(&self.clock, end_entity, now))
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// How a client link checks its server.
#[derive(Debug)]
struct ServerAuth {
    /// `None`: not verified (ESP-AT modes 0 and 1); signatures still are.
    inner: Option<Arc<WebPkiServerVerifier>>,
    algorithms: WebPkiSupportedAlgorithms,
    /// The name to check instead of the SNI (AT+CIPSSLCCN); `None` with `check_name` false:
    /// no name check (a numeric host).
    name: Option<ServerName<'static>>,
    check_name: bool,
    clock: Arc<Clock>,
}

impl ServerCertVerifier for ServerAuth {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(inner) = &self.inner else { return Ok(ServerCertVerified::assertion()) };
        let name = self.name.as_ref().unwrap_or(server_name);
        let at = verify_time(&self.clock, end_entity, now);
        match inner.verify_server_cert(end_entity, intermediates, name, ocsp_response, at) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            r => r,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

fn config_error(e: rustls::Error) -> TlsError {
    match e {
        rustls::Error::General(_) | rustls::Error::InconsistentKeys(_) => {
            TlsError::BadCredential("the private key does not match the certificate or is unusable")
        }
        _ => TlsError::BadCredential("rejected by rustls"),
    }
}

impl RustlsTls {
    /// The acceptor, typed (tests and benches).
    pub fn acceptor(&mut self, p: &ServerParams<'_>) -> Result<RustlsAcceptor, TlsError> {
        let clock = Arc::new(Clock::default());
        clock.set(p.unix_time);
        let builder = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(rustls::ALL_VERSIONS)
            .map_err(|_| TlsError::Internal("protocol versions"))?;
        let builder = match p.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let inner =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca)?), self.provider.clone())
                        .build()
                        .map_err(|_| TlsError::BadCredential("server_ca cannot verify clients"))?;
                builder.with_client_cert_verifier(Arc::new(ClientAuth { inner, clock: clock.clone() }))
            }
        };
        let mut config =
            builder.with_single_cert(chain(p.identity.chain), key_der(&p.identity)).map_err(config_error)?;
        config.time_provider = clock.clone();
        // No session tickets or resumption state to keep per client on a small device.
        config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
        Ok(RustlsAcceptor { config: Arc::new(config), clock })
    }

    /// A client session, typed (tests and benches).
    pub fn client_session(&mut self, p: &ClientParams<'_>) -> Result<RustlsSession, TlsError> {
        let clock = Arc::new(Clock::default());
        clock.set(p.unix_time);
        let mut provider = (*self.provider).clone();
        if let Some(ids) = p.cipher_suites {
            let mut suites = Vec::new();
            for &id in ids {
                let suite = provider
                    .cipher_suites
                    .iter()
                    .find(|s| u16::from(s.suite()) == id)
                    .ok_or(TlsError::Unsupported("a cipher suite rustls does not offer"))?;
                suites.push(*suite);
            }
            provider.cipher_suites = suites;
        }
        let provider = Arc::new(provider);
        let algorithms = provider.signature_verification_algorithms;
        let numeric = p.host.parse::<std::net::IpAddr>().is_ok();
        // SNI: AT+CIPSSLCSNI, else the host name (never an address).
        let sni = p.sni.or((!numeric).then_some(p.host));
        let connect_name: ServerName<'static> = match sni {
            Some(n) => ServerName::try_from(n.to_owned())
                .map_err(|_| TlsError::Unsupported("not a valid server name"))?,
            None => ServerName::try_from(p.host.to_owned())
                .map_err(|_| TlsError::Unsupported("not a valid host"))?,
        };
        let check = p.common_name.or(sni);
        let name = match check {
            Some(n) => Some(
                ServerName::try_from(n.to_owned())
                    .map_err(|_| TlsError::Unsupported("not a valid common name"))?,
            ),
            None => None,
        };
        let inner = match p.server_ca {
            None => None,
            Some(ca) => Some(
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots(ca)?), provider.clone())
                    .build()
                    .map_err(|_| TlsError::BadCredential("client_ca cannot verify servers"))?,
            ),
        };
        let verifier =
            ServerAuth { inner, algorithms, name, check_name: check.is_some(), clock: clock.clone() };
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(rustls::ALL_VERSIONS)
            .map_err(|_| TlsError::Unsupported("no protocol version left with these cipher suites"))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier));
        let mut config = match &p.identity {
            None => builder.with_no_client_auth(),
            Some(id) => builder.with_client_auth_cert(chain(id.chain), key_der(id)).map_err(config_error)?,
        };
        config.alpn_protocols = p.alpn.iter().map(|a| a.to_vec()).collect();
        config.time_provider = clock;
        config.resumption = rustls::client::Resumption::disabled();
        config.enable_sni = sni.is_some();
        let conn = UnbufferedClientConnection::new(Arc::new(config), connect_name)
            .map_err(|_| TlsError::Internal("cannot start a client session"))?;
        Ok(RustlsSession::new(Conn::Client(conn)))
    }
}

impl Tls for RustlsTls {
    fn server(&mut self, p: &ServerParams<'_>) -> Result<Box<dyn TlsAcceptor>, TlsError> {
        Ok(Box::new(self.acceptor(p)?))
    }

    fn client(&mut self, p: &ClientParams<'_>) -> Result<Box<dyn TlsSession>, TlsError> {
        Ok(Box::new(self.client_session(p)?))
    }
}

enum Conn {
    Client(UnbufferedClientConnection),
    Server(UnbufferedServerConnection),
}

/// One connection (see [`TlsSession`]).
pub struct RustlsSession {
    conn: Conn,
    incoming: Vec<u8>,
    in_used: usize,
    outgoing: Vec<u8>,
    /// Bytes at the start of `incoming` rustls has consumed (they may still hold the
    /// decrypted record being read).
    consumed: usize,
    /// The decrypted record waiting to be read: its range in `incoming`, and how much of it
    /// was read.
    plain: Option<(usize, usize)>,
    plain_read: usize,
    /// A decrypted record that did not live in `incoming` (offset `usize::MAX` in `plain`).
    spill: Vec<u8>,
    handshaking: bool,
    peer_closed: bool,
    closed: bool,
    close_wanted: bool,
    close_queued: bool,
    failed: Option<TlsError>,
    negotiated: Option<(u16, u16)>,
    /// `process` stopped at a record because decrypted data had no room for it.
    held_record: bool,
}

impl std::fmt::Debug for RustlsSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RustlsSession")
            .field("handshaking", &self.handshaking)
            .field("incoming", &self.in_used)
            .field("outgoing", &self.outgoing.len())
            .field("plain", &self.readable())
            .finish()
    }
}

fn map_error(e: &rustls::Error) -> TlsError {
    use rustls::Error as E;
    log::debug!("rustls: {e:?}");
    match e {
        E::AlertReceived(a) => TlsError::AlertReceived(u8::from(*a)),
        E::InvalidCertificate(c) => TlsError::PeerCertificate(match c {
            CertificateError::UnknownIssuer => "not signed by a trusted CA",
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => "expired",
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => "not valid yet",
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "issued for another name"
            }
            CertificateError::BadSignature => "bad signature",
            _ => "invalid",
        }),
        E::NoCertificatesPresented => TlsError::PeerCertificate("no certificate presented"),
        E::PeerIncompatible(_) => TlsError::Protocol("no protocol version or cipher suite in common"),
        E::InvalidMessage(_) | E::InappropriateMessage { .. } | E::InappropriateHandshakeMessage { .. } => {
            TlsError::Protocol("unexpected or malformed message")
        }
        E::PeerMisbehaved(_) => TlsError::Protocol("the peer misbehaved"),
        E::DecryptError => TlsError::Protocol("a record failed to decrypt"),
        _ => TlsError::Protocol("handshake failed"),
    }
}

impl RustlsSession {
    fn new(conn: Conn) -> Self {
        RustlsSession {
            conn,
            incoming: vec![0; INCOMING_CAPACITY],
            in_used: 0,
            outgoing: Vec::new(),
            consumed: 0,
            plain: None,
            plain_read: 0,
            spill: Vec::new(),
            handshaking: true,
            peer_closed: false,
            closed: false,
            close_wanted: false,
            close_queued: false,
            failed: None,
            negotiated: None,
            held_record: false,
        }
    }

    /// Drop consumed bytes from the front of `incoming` once no plaintext lives there.
    fn compact(&mut self) {
        if self.plain.is_none() && self.consumed > 0 {
            self.incoming.copy_within(self.consumed..self.in_used, 0);
            self.in_used -= self.consumed;
            self.consumed = 0;
        }
    }

    /// One step: returns whether to continue.
    fn step(&mut self, write: Option<&[u8]>, wrote: &mut usize) -> Result<bool, TlsError> {
        self.compact();
        let pending = self.plain.is_some();
        let base = self.consumed;
        // The same step for either side (rustls's client and server connections are different
        // types with the same `process_tls_records`).
        macro_rules! process {
            ($c:expr) => {{
                let window = &mut self.incoming[base..self.in_used];
                let (start, len) = (window.as_ptr() as usize, window.len());
                let status = $c.process_tls_records(window);
                handle(
                    status,
                    pending,
                    start,
                    len,
                    &mut self.plain,
                    &mut self.spill,
                    &mut self.outgoing,
                    write,
                    wrote,
                    &mut self.close_wanted,
                    &mut self.close_queued,
                    &mut self.handshaking,
                    &mut self.peer_closed,
                    &mut self.closed,
                    &mut self.held_record,
                )?
            }};
        }
        let (discard, go_on) = match &mut self.conn {
            Conn::Client(c) => process!(c),
            Conn::Server(c) => process!(c),
        };
        // A record just decrypted: its range is relative to the window; make it absolute.
        if let Some((off, len)) = self.plain
            && !pending
        {
            if off != usize::MAX {
                self.plain = Some((base + off, len));
            }
            self.plain_read = 0;
        }
        self.consumed += discard;
        // rustls knows: application data can follow the peer's Finished in the same read, so
        // the first state after the handshake may be ReadTraffic rather than WriteTraffic.
        self.handshaking = match &self.conn {
            Conn::Client(c) => c.is_handshaking(),
            Conn::Server(c) => c.is_handshaking(),
        };
        if !self.handshaking && self.negotiated.is_none() {
            let (v, s) = match &self.conn {
                Conn::Client(c) => (c.protocol_version(), c.negotiated_cipher_suite()),
                Conn::Server(c) => (c.protocol_version(), c.negotiated_cipher_suite()),
            };
            if let (Some(v), Some(s)) = (v, s) {
                self.negotiated = Some((u16::from(v), u16::from(s.suite())));
            }
        }
        Ok(go_on)
    }

    fn run(&mut self, write: Option<&[u8]>) -> Result<usize, TlsError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        self.held_record = false;
        let r = self.run_steps(write);
        // A full receive buffer that rustls cannot make progress on holds a record or
        // handshake message larger than the buffer: it can never complete.
        if r.is_ok()
            && self.plain.is_none()
            && self.in_used - self.consumed == self.incoming.len()
            && !self.held_record
        {
            let e = TlsError::Protocol("a TLS record or handshake message larger than the receive buffer");
            self.failed = Some(e);
            return Err(e);
        }
        r
    }

    fn run_steps(&mut self, write: Option<&[u8]>) -> Result<usize, TlsError> {
        let mut wrote = 0;
        for _ in 0..MAX_STEPS {
            match self.step(write.filter(|_| wrote == 0), &mut wrote) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    log::debug!("TLS: {e}");
                    self.failed = Some(e);
                    return Err(e);
                }
            }
        }
        Ok(wrote)
    }
}

/// Room for `need` more bytes of ciphertext, within [`OUTGOING_CAPACITY`].
fn reserve(out: &mut Vec<u8>, need: usize) -> Option<usize> {
    let start = out.len();
    if start + need > OUTGOING_CAPACITY {
        return None;
    }
    out.resize(start + need, 0);
    Some(start)
}

#[allow(clippy::too_many_arguments)]
fn handle<D>(
    status: UnbufferedStatus<'_, '_, D>,
    pending: bool,
    window_start: usize,
    window_len: usize,
    plain: &mut Option<(usize, usize)>,
    spill: &mut Vec<u8>,
    out: &mut Vec<u8>,
    write: Option<&[u8]>,
    wrote: &mut usize,
    close_wanted: &mut bool,
    close_queued: &mut bool,
    handshaking: &mut bool,
    peer_closed: &mut bool,
    closed: &mut bool,
    held: &mut bool,
) -> Result<(usize, bool), TlsError> {
    let UnbufferedStatus { mut discard, state } = status;
    let state = state.map_err(|e| map_error(&e))?;
    let go_on = match state {
        ConnectionState::ReadTraffic(mut r) => {
            // Decrypt one record only when a whole one fits: data waits in the socket (TCP
            // flow control) rather than growing the buffer.
            // One decrypted record at a time: the next waits (still ciphertext, or in the
            // socket) until this one's plaintext was read.
            if pending {
                *held = true;
                return Ok((discard, false));
            }
            match r.next_record() {
                Some(rec) => {
                    let rec = rec.map_err(|e| map_error(&e))?;
                    discard += rec.discard;
                    if !rec.payload.is_empty() {
                        // Read in place when the payload lies in our buffer; rustls 0.23 hands
                        // application data out of its own per-record buffer, which is
                        // copied aside (freed once read).
                        let at = rec.payload.as_ptr() as usize;
                        match at.checked_sub(window_start).filter(|off| off + rec.payload.len() <= window_len)
                        {
                            Some(off) => *plain = Some((off, rec.payload.len())),
                            None => {
                                spill.clear();
                                spill.extend_from_slice(rec.payload);
                                *plain = Some((usize::MAX, rec.payload.len()));
                            }
                        }
                        // More records may wait behind this one: say so (can_progress).
                        *held = true;
                        return Ok((discard, false));
                    }
                    true
                }
                None => true,
            }
        }
        // Early data is never enabled (max_early_data_size stays 0), so this cannot come.
        ConnectionState::ReadEarlyData(_) => return Err(TlsError::Protocol("unexpected early data")),
        ConnectionState::EncodeTlsData(mut e) => {
            // A first guess, then exactly what the encoder asks for.
            let mut need = 2048.min(OUTGOING_CAPACITY.saturating_sub(out.len())).max(64);
            loop {
                let Some(start) = reserve(out, need) else {
                    return Err(TlsError::Internal("handshake flight larger than the send buffer"));
                };
                match e.encode(&mut out[start..]) {
                    Ok(n) => {
                        out.truncate(start + n);
                        break;
                    }
                    Err(EncodeError::InsufficientSize(s)) => {
                        out.truncate(start);
                        need = s.required_size;
                    }
                    Err(_) => {
                        out.truncate(start);
                        return Err(TlsError::Internal("encode"));
                    }
                }
            }
            true
        }
        ConnectionState::TransmitTlsData(t) => {
            // The caller sends `outgoing` in order; nothing else depends on when.
            t.done();
            true
        }
        ConnectionState::BlockedHandshake => false,
        ConnectionState::WriteTraffic(mut w) => {
            *handshaking = false;
            if *close_wanted && !*close_queued {
                let start = reserve(out, 64).ok_or(TlsError::Internal("no room for close_notify"))?;
                match w.queue_close_notify(&mut out[start..]) {
                    Ok(n) => out.truncate(start + n),
                    Err(_) => out.truncate(start),
                }
                *close_queued = true;
                return Ok((discard, false));
            }
            if let Some(data) = write
                && *wrote == 0
                && !data.is_empty()
                && !*close_queued
            {
                let n = data.len().min(MAX_WRITE);
                let Some(start) = reserve(out, n + 64) else { return Ok((discard, false)) };
                match w.encrypt(&data[..n], &mut out[start..]) {
                    Ok(k) => {
                        out.truncate(start + k);
                        *wrote = n;
                    }
                    Err(EncryptError::InsufficientSize(_)) => out.truncate(start),
                    Err(_) => {
                        out.truncate(start);
                        return Err(TlsError::Internal("encrypt"));
                    }
                }
            }
            false
        }
        ConnectionState::PeerClosed => {
            *peer_closed = true;
            *handshaking = false;
            false
        }
        ConnectionState::Closed => {
            *peer_closed = true;
            *closed = true;
            false
        }
        _ => false,
    };
    Ok((discard, go_on))
}

impl TlsSession for RustlsSession {
    fn incoming_space(&mut self) -> &mut [u8] {
        self.compact();
        &mut self.incoming[self.in_used..]
    }

    fn received(&mut self, n: usize) {
        self.in_used = (self.in_used + n).min(self.incoming.len());
    }

    fn process(&mut self) -> Result<(), TlsError> {
        self.run(None).map(|_| ())
    }

    fn outgoing(&self) -> &[u8] {
        &self.outgoing
    }

    fn sent(&mut self, n: usize) {
        let n = n.min(self.outgoing.len());
        self.outgoing.drain(..n);
        if self.outgoing.is_empty() && self.outgoing.capacity() > 4096 {
            self.outgoing.shrink_to(4096);
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> usize {
        let Some((off, len)) = self.plain else { return 0 };
        let avail = if off == usize::MAX {
            &self.spill[self.plain_read..len]
        } else {
            &self.incoming[off + self.plain_read..off + len]
        };
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.plain_read += n;
        if self.plain_read == len {
            self.plain = None;
            self.plain_read = 0;
            if off == usize::MAX {
                self.spill = Vec::new();
            }
            self.compact();
        }
        n
    }

    fn readable(&self) -> usize {
        self.plain.map_or(0, |(_, len)| len - self.plain_read)
    }

    fn write(&mut self, data: &[u8]) -> Result<usize, TlsError> {
        if self.handshaking || data.is_empty() {
            return Ok(0);
        }
        if self.closed || self.close_wanted {
            return Err(TlsError::Closed);
        }
        self.run(Some(data))
    }

    fn can_progress(&self) -> bool {
        self.held_record && self.plain.is_none()
    }

    fn is_handshaking(&self) -> bool {
        self.handshaking
    }

    fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    fn close(&mut self) {
        if !self.close_wanted {
            self.close_wanted = true;
            let _ = self.run(None);
        }
    }

    fn negotiated(&self) -> Option<(u16, u16)> {
        self.negotiated
    }
}
