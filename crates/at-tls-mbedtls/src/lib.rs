//! # at-tls-mbedtls: the TLS boundary of `at-hal` on MbedTLS (mbedtls-rs 0.3.0)
//!
//! [`MbedTls`] implements [`at_hal::tls::Tls`] with [mbedtls-rs] `=0.3.0` (MbedTLS 3.6.5), the
//! TLS of the ESP32-C3 firmware. The same code builds on the host, where the tests run it
//! against real `openssl s_server` / `s_client` peers.
//!
//! ## Sans-IO over an async session
//!
//! mbedtls-rs offers a TLS session over an `embedded-io(-async)` stream, not a bytes-in /
//! bytes-out API. Each [`MbedtlsSession`] gives its session a stream (`Pipe`) over two
//! in-memory buffers (received ciphertext, ciphertext to send) and polls the session's futures
//! once per call with a no-op waker: an empty receive buffer or a full send buffer makes the
//! stream return `Poll::Pending`, which here means "poll again after the socket moved bytes",
//! never a wait. The handshake future (which mbedtls-rs documents as not cancel-safe) is kept
//! alive across calls until it finishes; reads and writes after it are polled one-shot (the
//! read is cancel-safe once connected; a write is only attempted when the send buffer has room
//! for the whole record, so it completes in one poll).
//!
//! Bounded work: one [`TlsSession::process`] call advances the handshake with the bytes at
//! hand and decrypts at most [`PLAIN_CAPACITY`] bytes of application data, in at most
//! [`MAX_READS`] records. MbedTLS's public-key operations are not split (restartable ECC is a
//! non-default MbedTLS feature, see below), so a handshake step costs one ECDHE and one
//! signature / verification of CPU time.
//!
//! ## Verification (as `at-tls-rustls`)
//!
//! * Server side, `client_ca` given: MbedTLS's `VERIFY_REQUIRED`: clients must present a
//!   certificate that chains to it (none, or another CA's, fails the handshake). Without it, no
//!   client certificate is requested.
//! * Client side, `server_ca` given (ESP-AT auth modes 2 and 3): `VERIFY_REQUIRED` with that CA
//!   list; the server's name must match `common_name`, else the SNI, else the host name. A
//!   numeric host with neither is not name-checked (ESP-AT does not set a host name for an
//!   address). Without `server_ca` (modes 0 and 1) the server is not verified (`VERIFY_NONE`,
//!   as ESP-AT); the handshake signature is still checked. Identity given (modes 1 and 3): the
//!   client presents it when asked.
//! * SNI: `sni`, else a non-numeric `host`. MbedTLS has **one** name per session for both the
//!   SNI and the certificate check: when `common_name` is set and differs from the SNI, the
//!   common name is sent as SNI too (what ESP-AT's esp-tls does with MbedTLS; rustls sends the
//!   SNI and checks the common name).
//! * Failures fail closed: any verification error ends the handshake with
//!   [`TlsError::PeerCertificate`] (the MbedTLS verification flags say which check failed).
//! * **Certificate dates are never checked.** MbedTLS only checks validity periods when built
//!   with `MBEDTLS_HAVE_TIME_DATE` (mbedtls-rs's `hook-wall-clock` feature), which is not in the
//!   prebuilt library and forces a rebuild from C. `unix_time` is therefore ignored: an expired
//!   or not-yet-valid certificate is accepted, with or without an SNTP-synced clock. Chain,
//!   signatures, key usage and name are checked. (rustls on the host checks dates once the
//!   clock is synced.)
//! * `cipher_suites` (`AT+CIPSSLCCIPHER`): mbedtls-rs 0.3.0 has no cipher-suite setting; a list
//!   is refused with [`TlsError::Unsupported`] rather than silently ignored.
//! * A server key that does not match its certificate is not detected at
//!   [`Tls::server`] (mbedtls-rs exposes no pair check); handshakes with it fail.
//!
//! ## Memory per session (heap)
//!
//! MbedTLS allocates, per connection, its input and output record buffers at the default
//! `MBEDTLS_SSL_IN/OUT_CONTENT_LEN` of 16 KiB plus record overhead (≈ 2 × 16.6 KiB; smaller
//! buffers are a non-default feature, i.e. a C rebuild), its SSL context, configuration and
//! DRBG (≈ 2 KiB), and during the handshake the handshake state and the peer's parsed
//! certificate chain (a few KiB, freed after it). This crate adds [`INCOMING_CAPACITY`] +
//! [`PLAIN_CAPACITY`] bytes, and up to [`OUTGOING_CAPACITY`] bytes of ciphertext waiting for the
//! socket. About **40 KiB per SSL link** while connected, a few KiB more during the handshake.
//! A server's certificate and key are parsed once per [`Tls::server`] and shared by its
//! connections.
//!
//! ## The MbedTLS library and features
//!
//! mbedtls-rs is used with its default features only. On `riscv32imc-unknown-none-elf` (and
//! the other targets mbedtls-rs-sys ships libraries for) that links the prebuilt MbedTLS;
//! **on x86_64 hosts there is no prebuilt library**: mbedtls-rs-sys builds the same MbedTLS
//! version and configuration from its bundled C sources (needs `clang`, `libclang`, `cmake`
//! and `ninja`). Hardware acceleration on the ESP32-C3 is a matter of the firmware starting
//! mbedtls-rs-sys's ESP backends (its `esp32c3` feature is Rust only and keeps the prebuilt
//! library); this crate does not depend on it.
//!
//! [mbedtls-rs]: https://docs.rs/mbedtls-rs/0.3.0

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

use alloc::boxed::Box;
use alloc::ffi::CString;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::convert::Infallible;
use core::ffi::CStr;
use core::fmt;
use core::future::{Future, poll_fn};
use core::pin::{Pin, pin};
use core::task::{Context, Poll, Waker};

use at_hal::tls::{ClientParams, Identity, ServerParams, Tls, TlsAcceptor, TlsError, TlsSession};
use mbedtls_rs::sys;
use mbedtls_rs::{
    AuthMode, Certificate, ClientSessionConfig, Credentials, PrivateKey, ServerSessionConfig, SessionConfig,
    SessionError, TlsReference, TlsVersion, X509,
};
use rand_core::CryptoRng;

/// Received ciphertext held at most before MbedTLS takes it. MbedTLS assembles each record in
/// its own 16 KiB input buffer, so this is only the socket-read chunk, not a record.
pub const INCOMING_CAPACITY: usize = 2048;
/// Ciphertext waiting for the socket, at most, while application data flows. A handshake
/// flight is taken whole even when larger (see `Pipe`'s `write`): it exceeds this by at most
/// its own size.
pub const OUTGOING_CAPACITY: usize = 6 * 1024;
/// Decrypted application data waiting for [`TlsSession::read`], at most; the rest of a record
/// stays in MbedTLS's input buffer until this has room ([`TlsSession::can_progress`]).
pub const PLAIN_CAPACITY: usize = 2048;
/// Plaintext encrypted per [`TlsSession::write`] call at most (one record).
pub const MAX_WRITE: usize = 4096;
/// Records read per [`TlsSession::process`] call at most.
pub const MAX_READS: usize = 16;
/// Room kept in the send buffer beyond the plaintext for one record's expansion (header,
/// explicit IV or content type, MAC / tag, CBC padding).
const RECORD_OVERHEAD: usize = 256;
/// Distinct ALPN lists kept (see [`MbedTls::client_session`]).
const MAX_ALPN_LISTS: usize = 8;

type MbSession = mbedtls_rs::Session<'static, Pipe>;
type Handshake = Pin<Box<dyn Future<Output = (MbSession, Result<(), SessionError>)>>>;

/// MbedTLS (mbedtls-rs) as the platform's TLS.
///
/// MbedTLS has one global RNG: one `MbedTls` per program ([`MbedTls::new`] fails the second
/// time); copies of it share it.
#[derive(Clone)]
pub struct MbedTls {
    tls: TlsReference<'static>,
    /// ALPN lists handed to MbedTLS, which keeps pointers to them for the life of a session:
    /// interned (each distinct list allocated once, never freed), at most [`MAX_ALPN_LISTS`].
    alpn_lists: Vec<&'static [&'static CStr]>,
}

impl fmt::Debug for MbedTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MbedTls").field("alpn_lists", &self.alpn_lists.len()).finish()
    }
}

impl MbedTls {
    /// Start MbedTLS with `rng` as its random source (the chip's TRNG on the device).
    ///
    /// Fails with [`TlsError::Internal`] if MbedTLS was already started in this program.
    pub fn new(rng: &'static mut (dyn CryptoRng + Send)) -> Result<Self, TlsError> {
        let tls = mbedtls_rs::Tls::new(rng).map_err(|_| TlsError::Internal("MbedTLS is already started"))?;
        // Lives for the rest of the program: sessions hold a `'static` reference to it.
        let tls: &'static mbedtls_rs::Tls<'static> = Box::leak(Box::new(tls));
        Ok(MbedTls { tls: tls.reference(), alpn_lists: Vec::new() })
    }

    /// The host's instance: started on first use with the operating system's RNG, then shared.
    #[cfg(feature = "std")]
    pub fn host() -> Self {
        static HOST: std::sync::OnceLock<MbedTls> = std::sync::OnceLock::new();
        HOST.get_or_init(|| {
            let rng: &'static mut OsRng = Box::leak(Box::new(OsRng));
            match MbedTls::new(rng) {
                Ok(t) => t,
                Err(e) => panic!("MbedTLS started outside MbedTls::host: {e}"),
            }
        })
        .clone()
    }

    /// The acceptor, typed (tests).
    pub fn acceptor(&mut self, p: &ServerParams<'_>) -> Result<MbedtlsAcceptor, TlsError> {
        let creds = credentials(&p.identity)?;
        let ca = p.client_ca.map(ca_list).transpose()?;
        Ok(MbedtlsAcceptor { tls: self.tls, creds, ca })
    }

    /// A client session, typed (tests).
    pub fn client_session(&mut self, p: &ClientParams<'_>) -> Result<MbedtlsSession, TlsError> {
        if p.cipher_suites.is_some() {
            return Err(TlsError::Unsupported(
                "cipher-suite selection (mbedtls-rs 0.3.0 has no such setting)",
            ));
        }
        let numeric = p.host.parse::<core::net::IpAddr>().is_ok();
        // SNI: AT+CIPSSLCSNI, else the host name (never an address); the name checked:
        // AT+CIPSSLCCN, else the SNI. MbedTLS sends and checks one name (see the crate docs).
        let sni = p.sni.or((!numeric).then_some(p.host));
        let check = p.common_name.or(sni);
        let verify = p.server_ca.is_some();
        let (name, skip_name_check) = match (verify, check) {
            (true, Some(n)) => (Some(n), false),
            // Verified, numeric host, no name to check: MbedTLS 3.6 refuses to verify without a
            // host name, so give it the address and skip the name match (as rustls does not
            // check it either).
            (true, None) => (Some(p.host), true),
            (false, _) => (sni.or(p.common_name), true),
        };
        let name = name
            .map(|n| CString::new(n).map_err(|_| TlsError::Unsupported("a server name with a NUL byte")))
            .transpose()?;
        let ca_chain = p.server_ca.map(ca_list).transpose()?;
        let creds = p.identity.as_ref().map(credentials).transpose()?;
        let alpn = self.alpn(p.alpn)?;
        let mut conf = ClientSessionConfig::new();
        conf.ca_chain = ca_chain;
        conf.creds = creds;
        conf.auth_mode = if verify { AuthMode::Required } else { AuthMode::None };
        conf.min_version = TlsVersion::Tls1_2;
        conf.alpn_protocols = alpn;
        conf.skip_hostname_verification = skip_name_check;
        let shared = Rc::new(RefCell::new(Buffers::default()));
        let mut session =
            mbedtls_rs::Session::new(self.tls, Pipe(shared.clone()), &SessionConfig::Client(conf))
                .map_err(|e| setup_error(&e))?;
        if let Some(n) = &name {
            session.set_server_name(n).map_err(|_| TlsError::Unsupported("not a valid server name"))?;
        }
        Ok(MbedtlsSession::new(session, shared))
    }

    /// The interned form of an ALPN list (see [`MbedTls`]'s `alpn_lists`).
    fn alpn(&mut self, protocols: &[&[u8]]) -> Result<Option<&'static [&'static CStr]>, TlsError> {
        if protocols.is_empty() {
            return Ok(None);
        }
        let same = |l: &&&'static [&'static CStr]| {
            l.len() == protocols.len() && l.iter().zip(protocols).all(|(a, b)| a.to_bytes() == *b)
        };
        if let Some(l) = self.alpn_lists.iter().find(same) {
            return Ok(Some(*l));
        }
        if self.alpn_lists.len() >= MAX_ALPN_LISTS {
            return Err(TlsError::Unsupported("too many different ALPN lists since boot"));
        }
        let mut list = Vec::with_capacity(protocols.len());
        for p in protocols {
            if p.is_empty() || p.len() > 255 {
                return Err(TlsError::Unsupported("an ALPN protocol name must be 1 to 255 bytes"));
            }
            let c = CString::new(p.to_vec())
                .map_err(|_| TlsError::Unsupported("an ALPN protocol with a NUL byte"))?;
            let c: &'static CStr = Box::leak(c.into_boxed_c_str());
            list.push(c);
        }
        let list: &'static [&'static CStr] = Box::leak(list.into_boxed_slice());
        self.alpn_lists.push(list);
        Ok(Some(list))
    }
}

impl Tls for MbedTls {
    fn server(&mut self, p: &ServerParams<'_>) -> Result<Box<dyn TlsAcceptor>, TlsError> {
        Ok(Box::new(self.acceptor(p)?))
    }

    fn client(&mut self, p: &ClientParams<'_>) -> Result<Box<dyn TlsSession>, TlsError> {
        Ok(Box::new(self.client_session(p)?))
    }
}

/// A server configuration: its parsed certificate chain, key and client CA, shared by the
/// sessions it accepts.
#[derive(Clone)]
pub struct MbedtlsAcceptor {
    tls: TlsReference<'static>,
    creds: Credentials<'static>,
    ca: Option<Certificate<'static>>,
}

impl fmt::Debug for MbedtlsAcceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MbedtlsAcceptor").field("client_ca", &self.ca.is_some()).finish()
    }
}

impl MbedtlsAcceptor {
    /// A server session, typed (tests).
    pub fn accept_session(&mut self) -> Result<MbedtlsSession, TlsError> {
        let mut conf = ServerSessionConfig::new(self.creds.clone());
        conf.ca_chain = self.ca.clone();
        conf.auth_mode = if self.ca.is_some() { AuthMode::Required } else { AuthMode::None };
        conf.min_version = TlsVersion::Tls1_2;
        let shared = Rc::new(RefCell::new(Buffers::default()));
        let session = mbedtls_rs::Session::new(self.tls, Pipe(shared.clone()), &SessionConfig::Server(conf))
            .map_err(|e| setup_error(&e))?;
        Ok(MbedtlsSession::new(session, shared))
    }
}

impl TlsAcceptor for MbedtlsAcceptor {
    fn accept(&mut self, _unix_time: Option<u64>) -> Result<Box<dyn TlsSession>, TlsError> {
        // Dates are not checked by this MbedTLS build (crate docs): the time is not used.
        Ok(Box::new(self.accept_session()?))
    }
}

/// Parse one certificate (DER), copied into MbedTLS's form.
fn certificate(der: &[u8], what: &'static str) -> Result<Certificate<'static>, TlsError> {
    Certificate::new(X509::DER(der)).map_err(|_| TlsError::BadCredential(what))
}

/// Several certificates as one MbedTLS chain: each is checked on its own first (MbedTLS's
/// multi-certificate parser skips bad ones), then all are parsed together from PEM.
fn chain(certs: &[&[u8]], what: &'static str) -> Result<Certificate<'static>, TlsError> {
    match certs {
        [] => Err(TlsError::BadCredential(what)),
        [one] => certificate(one, what),
        many => {
            let mut pem = String::new();
            for c in many {
                certificate(c, what)?;
                pem_encode(c, &mut pem);
            }
            let pem = CString::new(pem).map_err(|_| TlsError::Internal("PEM"))?;
            Certificate::new(X509::PEM(&pem)).map_err(|_| TlsError::BadCredential(what))
        }
    }
}

fn ca_list(certs: &[&[u8]]) -> Result<Certificate<'static>, TlsError> {
    chain(certs, "a CA certificate MbedTLS cannot parse")
}

fn credentials(id: &Identity<'_>) -> Result<Credentials<'static>, TlsError> {
    let certificate = chain(id.chain, "a certificate MbedTLS cannot parse")?;
    // MbedTLS's key parser recognises PKCS#8, PKCS#1 and SEC1 DER by itself.
    let private_key = PrivateKey::new(X509::DER(id.key), None)
        .map_err(|_| TlsError::BadCredential("a private key MbedTLS cannot parse"))?;
    Ok(Credentials { certificate, private_key })
}

/// `der` as a PEM `CERTIFICATE` block appended to `out`.
fn pem_encode(der: &[u8], out: &mut String) {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    out.push_str("-----BEGIN CERTIFICATE-----\n");
    let mut col = 0;
    for chunk in der.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            let c = if i <= chunk.len() { B64[((n >> (18 - 6 * i)) & 63) as usize] } else { b'=' };
            out.push(char::from(c));
        }
        col += 4;
        if col == 64 {
            out.push('\n');
            col = 0;
        }
    }
    if col != 0 {
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
}

fn setup_error(e: &SessionError) -> TlsError {
    log::debug!("MbedTLS session setup: {e}");
    match e {
        SessionError::MbedTls(m) if m.code() == sys::MBEDTLS_ERR_SSL_ALLOC_FAILED => {
            TlsError::Internal("out of memory for a TLS session")
        }
        _ => TlsError::BadCredential("MbedTLS refused the configuration"),
    }
}

/// Why verification failed, from MbedTLS's `MBEDTLS_X509_BADCERT_*` flags.
fn verify_reason(flags: u32) -> &'static str {
    if flags & sys::MBEDTLS_X509_BADCERT_NOT_TRUSTED != 0 {
        "not signed by a trusted CA"
    } else if flags & sys::MBEDTLS_X509_BADCERT_CN_MISMATCH != 0 {
        "issued for another name"
    } else if flags & sys::MBEDTLS_X509_BADCERT_MISSING != 0 {
        "no certificate presented"
    } else if flags & sys::MBEDTLS_X509_BADCERT_EXPIRED != 0 {
        "expired"
    } else if flags & sys::MBEDTLS_X509_BADCERT_FUTURE != 0 {
        "not valid yet"
    } else if flags
        & (sys::MBEDTLS_X509_BADCERT_KEY_USAGE
            | sys::MBEDTLS_X509_BADCERT_EXT_KEY_USAGE
            | sys::MBEDTLS_X509_BADCERT_NS_CERT_TYPE)
        != 0
    {
        "not valid for this use"
    } else if flags
        & (sys::MBEDTLS_X509_BADCERT_BAD_MD
            | sys::MBEDTLS_X509_BADCERT_BAD_PK
            | sys::MBEDTLS_X509_BADCERT_BAD_KEY)
        != 0
    {
        "an unacceptable algorithm or key"
    } else {
        "invalid"
    }
}

/// An MbedTLS session error as the boundary's error; `flags`: the verification result.
fn map_error(e: &SessionError, flags: u32) -> TlsError {
    log::debug!("MbedTLS: {e} (verify flags {flags:#x})");
    let SessionError::MbedTls(m) = e else {
        return TlsError::Protocol("the connection failed");
    };
    match m.code() {
        sys::MBEDTLS_ERR_X509_CERT_VERIFY_FAILED => TlsError::PeerCertificate(verify_reason(flags)),
        sys::MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE => TlsError::PeerCertificate("no certificate presented"),
        sys::MBEDTLS_ERR_SSL_BAD_CERTIFICATE => TlsError::PeerCertificate("invalid"),
        sys::MBEDTLS_ERR_SSL_CERTIFICATE_VERIFICATION_WITHOUT_HOSTNAME => {
            TlsError::PeerCertificate("no name to check the certificate against")
        }
        // MbedTLS keeps the alert's description inside its context, which mbedtls-rs does not
        // expose.
        sys::MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE => TlsError::Protocol("the peer sent a fatal alert"),
        sys::MBEDTLS_ERR_SSL_ALLOC_FAILED => TlsError::Internal("out of memory"),
        sys::MBEDTLS_ERR_SSL_BAD_PROTOCOL_VERSION | sys::MBEDTLS_ERR_SSL_HANDSHAKE_FAILURE => {
            TlsError::Protocol("no protocol version or cipher suite in common")
        }
        sys::MBEDTLS_ERR_SSL_NO_APPLICATION_PROTOCOL => TlsError::Protocol("no ALPN protocol in common"),
        sys::MBEDTLS_ERR_SSL_INVALID_MAC => TlsError::Protocol("a record failed to decrypt"),
        sys::MBEDTLS_ERR_SSL_INVALID_RECORD
        | sys::MBEDTLS_ERR_SSL_DECODE_ERROR
        | sys::MBEDTLS_ERR_SSL_UNEXPECTED_MESSAGE
        | sys::MBEDTLS_ERR_SSL_UNEXPECTED_RECORD
        | sys::MBEDTLS_ERR_SSL_ILLEGAL_PARAMETER => TlsError::Protocol("unexpected or malformed message"),
        _ => TlsError::Protocol("handshake failed"),
    }
}

/// The ciphertext buffers between the socket and MbedTLS.
///
/// They live in the [`MbedtlsSession`] and are lent to the session's stream ([`Pipe`], through
/// the shared cell) only while a session future is polled, so that
/// [`TlsSession::incoming_space`] and [`TlsSession::outgoing`] can hand out plain slices.
#[derive(Default)]
struct Buffers {
    /// `INCOMING_CAPACITY` bytes; `in_start..in_end` not yet taken by MbedTLS.
    incoming: Vec<u8>,
    in_start: usize,
    in_end: usize,
    /// Ciphertext for the socket: at most `OUTGOING_CAPACITY` while application data flows.
    outgoing: Vec<u8>,
}

/// The stream MbedTLS reads and writes: the lent [`Buffers`]. Empty (read) or full (write)
/// is `Poll::Pending`: "poll again once the socket moved bytes".
struct Pipe(Rc<RefCell<Buffers>>);

impl embedded_io_async::ErrorType for Pipe {
    type Error = Infallible;
}

impl embedded_io_async::Read for Pipe {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        poll_fn(|_| {
            let mut b = self.0.borrow_mut();
            let n = buf.len().min(b.in_end - b.in_start);
            if n == 0 && !buf.is_empty() {
                return Poll::Pending;
            }
            let start = b.in_start;
            buf[..n].copy_from_slice(&b.incoming[start..start + n]);
            b.in_start += n;
            Poll::Ready(Ok(n))
        })
        .await
    }
}

impl embedded_io_async::Write for Pipe {
    /// Takes all of `buf`, always. mbedtls-rs 0.3.0 keeps one byte back and reports it as sent
    /// whenever the stream takes less than asked (or is `Pending`), and its handshake then
    /// waits to read without pushing that byte: the last byte of a flight larger than the
    /// buffer would never leave, and both peers would wait forever. Application data never
    /// overshoots [`OUTGOING_CAPACITY`] ([`TlsSession::write`] encrypts only what fits); a
    /// handshake flight may, by at most its own size (the certificate chains).
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        self.0.borrow_mut().outgoing.extend_from_slice(buf);
        Ok(buf.len())
    }

    async fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

/// Poll `f` once, with a waker that does nothing: the link manager polls again anyway.
fn poll_once<F: Future + ?Sized>(f: Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

enum Phase {
    /// The handshake future, which owns the session until it is done.
    Handshake(Handshake),
    Open(MbSession),
    /// Failed: the session is gone.
    Gone,
}

/// One connection (see [`TlsSession`] and the crate docs).
pub struct MbedtlsSession {
    phase: Phase,
    /// The ciphertext buffers, here between calls (see [`Buffers`]).
    bufs: Buffers,
    shared: Rc<RefCell<Buffers>>,
    /// Decrypted data; `plain_start..` not read yet.
    plain: Vec<u8>,
    plain_start: usize,
    /// `process` stopped with more data possibly waiting in MbedTLS.
    held: bool,
    peer_closed: bool,
    close_wanted: bool,
    close_sent: bool,
    /// A record MbedTLS still holds for the socket (a write that did not flush in one poll).
    flush_pending: bool,
    failed: Option<TlsError>,
    negotiated: Option<(u16, u16)>,
    /// The handshake finished (a failed handshake stays unfinished).
    established: bool,
}

impl fmt::Debug for MbedtlsSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MbedtlsSession")
            .field("handshaking", &self.is_handshaking())
            .field("incoming", &(self.bufs.in_end - self.bufs.in_start))
            .field("outgoing", &self.bufs.outgoing.len())
            .field("plain", &self.readable())
            .finish()
    }
}

impl MbedtlsSession {
    fn new(session: MbSession, shared: Rc<RefCell<Buffers>>) -> Self {
        let handshake: Handshake = Box::pin(async move {
            let mut session = session;
            let r = session.connect().await;
            (session, r)
        });
        MbedtlsSession {
            phase: Phase::Handshake(handshake),
            bufs: Buffers {
                incoming: vec![0; INCOMING_CAPACITY],
                in_start: 0,
                in_end: 0,
                outgoing: Vec::new(),
            },
            shared,
            plain: Vec::new(),
            plain_start: 0,
            held: false,
            peer_closed: false,
            close_wanted: false,
            close_sent: false,
            flush_pending: false,
            failed: None,
            negotiated: None,
            established: false,
        }
    }

    /// Run `f` with the buffers lent to the session's stream.
    fn lent<R>(&mut self, f: impl FnOnce(&mut Phase, &mut Vec<u8>) -> R) -> R {
        core::mem::swap(&mut self.bufs, &mut *self.shared.borrow_mut());
        let r = f(&mut self.phase, &mut self.plain);
        core::mem::swap(&mut self.bufs, &mut *self.shared.borrow_mut());
        r
    }

    fn fail(&mut self, e: TlsError) -> TlsError {
        self.failed = Some(e);
        self.phase = Phase::Gone;
        e
    }

    fn room(&self) -> usize {
        OUTGOING_CAPACITY.saturating_sub(self.bufs.outgoing.len())
    }

    /// Finish the handshake if the bytes allow; then the pending flush and close_notify; then
    /// decrypt into `plain` while it has room.
    fn advance(&mut self) -> Result<(), TlsError> {
        if let Phase::Handshake(h) = &mut self.phase {
            match poll_once(h.as_mut()) {
                Poll::Pending => return Ok(()),
                Poll::Ready((session, Ok(()))) => {
                    let v = match session.tls_version() {
                        Some(TlsVersion::Tls1_3) => 0x0304,
                        _ => 0x0303,
                    };
                    // mbedtls-rs does not expose the cipher suite: 0 = unknown.
                    self.negotiated = Some((v, 0));
                    self.established = true;
                    self.phase = Phase::Open(session);
                }
                Poll::Ready((session, Err(e))) => {
                    let flags = session.tls_verification_details();
                    return Err(map_error(&e, flags));
                }
            }
        }
        let Phase::Open(session) = &mut self.phase else { return Ok(()) };
        if self.flush_pending {
            match poll_once(pin!(session.flush())) {
                Poll::Ready(Ok(())) => self.flush_pending = false,
                Poll::Ready(Err(e)) => return Err(map_error(&e, 0)),
                Poll::Pending => {}
            }
        }
        // The buffers are lent to the stream here: its send buffer is the shared one.
        let room = OUTGOING_CAPACITY.saturating_sub(self.shared.borrow().outgoing.len());
        if self.close_wanted && !self.close_sent && !self.flush_pending && room >= RECORD_OVERHEAD {
            // With this much room close_notify is written in this one poll. Its result does
            // not matter: the session is over either way.
            let _ = poll_once(pin!(session.close()));
            self.close_sent = true;
        }
        Ok(())
    }

    fn read_records(&mut self) -> Result<(), TlsError> {
        self.held = false;
        let Phase::Open(session) = &mut self.phase else { return Ok(()) };
        if self.plain_start > 0 {
            self.plain.drain(..self.plain_start);
            self.plain_start = 0;
        }
        for _ in 0..MAX_READS {
            if self.peer_closed {
                return Ok(());
            }
            let start = self.plain.len();
            if start >= PLAIN_CAPACITY {
                self.held = true;
                return Ok(());
            }
            self.plain.resize(PLAIN_CAPACITY, 0);
            let r = poll_once(pin!(session.read(&mut self.plain[start..])));
            match r {
                Poll::Pending => {
                    self.plain.truncate(start);
                    return Ok(());
                }
                Poll::Ready(Ok(0)) => {
                    self.plain.truncate(start);
                    self.peer_closed = true;
                }
                Poll::Ready(Ok(n)) => self.plain.truncate(start + n),
                Poll::Ready(Err(e)) => {
                    self.plain.truncate(start);
                    return Err(map_error(&e, 0));
                }
            }
        }
        self.held = true;
        Ok(())
    }

    fn run(&mut self) -> Result<(), TlsError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        core::mem::swap(&mut self.bufs, &mut *self.shared.borrow_mut());
        let r = self.advance().and_then(|()| self.read_records());
        core::mem::swap(&mut self.bufs, &mut *self.shared.borrow_mut());
        r.map_err(|e| self.fail(e))
    }
}

impl TlsSession for MbedtlsSession {
    fn incoming_space(&mut self) -> &mut [u8] {
        let b = &mut self.bufs;
        if b.in_start > 0 {
            b.incoming.copy_within(b.in_start..b.in_end, 0);
            b.in_end -= b.in_start;
            b.in_start = 0;
        }
        &mut b.incoming[b.in_end..]
    }

    fn received(&mut self, n: usize) {
        self.bufs.in_end = (self.bufs.in_end + n).min(self.bufs.incoming.len());
    }

    fn process(&mut self) -> Result<(), TlsError> {
        self.run()
    }

    fn outgoing(&self) -> &[u8] {
        &self.bufs.outgoing
    }

    fn sent(&mut self, n: usize) {
        let n = n.min(self.bufs.outgoing.len());
        self.bufs.outgoing.drain(..n);
        if self.bufs.outgoing.is_empty() && self.bufs.outgoing.capacity() > 2 * MAX_WRITE {
            self.bufs.outgoing.shrink_to(2 * MAX_WRITE);
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> usize {
        let avail = &self.plain[self.plain_start..];
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.plain_start += n;
        if self.plain_start == self.plain.len() {
            self.plain.clear();
            self.plain_start = 0;
        }
        n
    }

    fn readable(&self) -> usize {
        self.plain.len() - self.plain_start
    }

    fn write(&mut self, data: &[u8]) -> Result<usize, TlsError> {
        // As at-tls-rustls: nothing is taken while handshaking (failed or not).
        if self.is_handshaking() || data.is_empty() {
            return Ok(0);
        }
        if let Some(e) = self.failed {
            return Err(e);
        }
        if self.close_wanted {
            return Err(TlsError::Closed);
        }
        if self.flush_pending {
            return Ok(0);
        }
        let room = self.room();
        if room <= RECORD_OVERHEAD {
            return Ok(0);
        }
        let n = data.len().min(MAX_WRITE).min(room - RECORD_OVERHEAD);
        let r = self.lent(|phase, _| {
            let Phase::Open(session) = phase else { return Poll::Ready(Ok(0)) };
            poll_once(pin!(session.write(&data[..n])))
        });
        match r {
            Poll::Ready(Ok(k)) => Ok(k),
            Poll::Ready(Err(e)) => Err(self.fail(map_error(&e, 0))),
            // MbedTLS encrypted all `n` bytes into one record and holds what the send buffer
            // did not take: pushed out by the next `process`.
            Poll::Pending => {
                self.flush_pending = true;
                Ok(n)
            }
        }
    }

    fn can_progress(&self) -> bool {
        self.held && self.readable() < PLAIN_CAPACITY
    }

    fn is_handshaking(&self) -> bool {
        !self.established
    }

    fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    fn close(&mut self) {
        if !self.close_wanted {
            self.close_wanted = true;
            let _ = self.run();
        }
    }

    fn negotiated(&self) -> Option<(u16, u16)> {
        self.negotiated
    }
}

/// The operating system's RNG (the host's [`MbedTls::host`]).
#[cfg(feature = "std")]
struct OsRng;

#[cfg(feature = "std")]
impl rand_core::TryRng for OsRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        if let Err(e) = getrandom::fill(dst) {
            // No entropy on a host is not something to run TLS without.
            panic!("the operating system's RNG failed: {e}");
        }
        Ok(())
    }
}

#[cfg(feature = "std")]
impl rand_core::TryCryptoRng for OsRng {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_matches_base64() {
        let mut s = String::new();
        pem_encode(b"Man", &mut s);
        assert!(s.contains("\nTWFu\n"));
        let mut s = String::new();
        pem_encode(b"Ma", &mut s);
        assert!(s.contains("\nTWE=\n"));
        let mut s = String::new();
        pem_encode(b"M", &mut s);
        assert!(s.contains("\nTQ==\n"));
        let mut s = String::new();
        pem_encode(&[0u8; 48], &mut s);
        assert_eq!(s.lines().nth(1).map(str::len), Some(64));
    }
}
