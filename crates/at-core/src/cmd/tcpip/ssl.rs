//! SSL: the client link settings (AT+CIPSSLCCONF, AT+CIPSSLCSNI, AT+CIPSSLCALPN, AT+CIPSSLCCN,
//! AT+CIPSSLCCIPHER; AT+CIPSSLCPSK(HEX) answer `ERROR`), and turning the cert store and those
//! settings into TLS sessions for `AT+CIPSTART="SSL"` and `AT+CIPSERVER=1,<port>,"SSL"`.
//!
//! Credentials are read from `mfg_nvs` when the command runs (and the server's again when
//! AT+SYSMFG rewrites them). Every way they can be wrong — missing, empty, unreadable (the
//! seed's flash-encrypted partition), not PEM/DER, a key of another certificate — is an
//! `ERROR` with its own `ERR CODE` and a `+ERRINFO` naming the entry, before any socket exists.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use at_certstore::{AuthMode, CertError, CertStore, KeyFormat, PrivateKey};
use at_hal::Platform;
use at_hal::tls::{ClientParams, Identity, KeyEncoding, ServerParams, TlsAcceptor, TlsError, TlsSession};
use at_links::MAX_LINKS;
use at_parser::{Args, AtError, Call, ExecFail, Outcome, ok};

use super::util::refuse;
use crate::core::Core;

type Out<P> = Outcome<Core<P>>;

/// Longest SNI / common name (ESP-AT: 64 bytes).
pub const MAX_NAME: usize = 64;
/// Most ALPN protocols per link (ESP-AT: 5), each at most 32 bytes... ESP-AT counts the total.
pub const MAX_ALPN: usize = 5;
/// Most cipher suites per link.
pub const MAX_CIPHERS: usize = 32;

/// One link slot's SSL client settings.
#[derive(Debug, Clone, Default)]
pub(crate) struct SslConf {
    pub auth: u8,
    pub pki: u16,
    pub ca: u16,
    pub sni: Option<String>,
    pub cn: Option<String>,
    pub alpn: Vec<String>,
    pub ciphers: Vec<u16>,
}

fn key_encoding(k: &PrivateKey) -> KeyEncoding {
    match k.format() {
        KeyFormat::Pkcs1 => KeyEncoding::Pkcs1,
        KeyFormat::Pkcs8 => KeyEncoding::Pkcs8,
        KeyFormat::Sec1 => KeyEncoding::Sec1,
    }
}

/// A cert-store failure as the command's error, naming the entry.
pub(crate) fn cert_error(e: &CertError) -> AtError {
    let err = match e {
        CertError::Missing { .. } => AtError::exec(ExecFail::CertMissing),
        CertError::Empty { .. } => AtError::exec(ExecFail::CertEmpty),
        CertError::Unreadable { cause, .. } => crate::cmd::mfg::unreadable_error(*cause),
        CertError::Invalid { .. } | CertError::WrongType { .. } => AtError::exec(ExecFail::CertInvalid),
        CertError::KeyMismatch { .. } => AtError::exec(ExecFail::KeyMismatch),
        CertError::Store { .. } => AtError::exec(ExecFail::MfgFlash),
        CertError::Index(_) => AtError::exec(ExecFail::CertMissing),
        CertError::KeyReadbackRefused { .. } => AtError::exec(ExecFail::KeyReadRefused),
    };
    log::warn!("SSL credentials: {e}");
    // The detail names the entry (it has room for 64 bytes); the reason says what is wrong.
    match e {
        CertError::Missing { entry } | CertError::Empty { entry } | CertError::Unreadable { entry, .. } => {
            err.with_detail(format_args!("{entry}"))
        }
        CertError::Invalid { entry, problem, .. } => err.with_detail(format_args!("{entry}: {problem}")),
        CertError::KeyMismatch { cert, key } => {
            err.with_detail(format_args!("{} does not match {}", key.entry(), cert.entry()))
        }
        _ => err.with_detail(format_args!("{e}")),
    }
}

fn tls_error(e: TlsError) -> AtError {
    log::warn!("TLS: {e}");
    let fail = match e {
        TlsError::BadCredential(_) | TlsError::Unsupported(_) | TlsError::Internal(_) => ExecFail::TlsConfig,
        _ => ExecFail::TlsHandshake,
    };
    AtError::exec(fail).with_detail(format_args!("{e}"))
}

/// A handshake failure of a client link, as `AT+CIPSTART`'s error.
pub(crate) fn handshake_error(e: TlsError) -> AtError {
    tls_error(e)
}

impl<P: Platform> Core<P> {
    /// The wall clock for certificate checks: `None` until SNTP synced.
    pub(crate) fn wall_time(&self, now: at_hal::time::Instant) -> Option<u64> {
        (self.clock.base.0 != 0).then(|| self.unix_now(now))
    }

    /// Read the server's credentials and build its acceptor (`ca`: clients must present a
    /// certificate signed by `server_ca`).
    pub(crate) fn ssl_acceptor(
        &mut self,
        ca: bool,
        now: at_hal::time::Instant,
    ) -> Result<Box<dyn TlsAcceptor>, AtError> {
        let unix_time = self.wall_time(now);
        let parts = self.platform.parts();
        let creds =
            CertStore::new(&mut *parts.mfg).load_server_credentials(ca).map_err(|e| cert_error(&e))?;
        let chain: Vec<&[u8]> = creds.cert_chain.iter().map(|c| c.as_ref()).collect();
        let ca_list: Option<Vec<&[u8]>> =
            creds.client_ca.as_ref().map(|v| v.iter().map(|c| c.as_ref()).collect());
        let params = ServerParams {
            identity: Identity {
                chain: &chain,
                key: creds.key.secret_der(),
                key_encoding: key_encoding(&creds.key),
            },
            client_ca: ca_list.as_deref(),
            unix_time,
        };
        parts.tls.server(&params).map_err(tls_error)
    }

    /// A session for an SSL client link in slot `id` to `host`, per its AT+CIPSSLC* settings.
    pub(crate) fn ssl_client_session(
        &mut self,
        id: u8,
        host: &str,
        now: at_hal::time::Instant,
    ) -> Result<Box<dyn TlsSession>, AtError> {
        let unix_time = self.wall_time(now);
        let conf = self.st.tcpip.ssl[usize::from(id)].clone();
        let mode = AuthMode::from_code(conf.auth).unwrap_or(AuthMode::None);
        let parts = self.platform.parts();
        let creds = CertStore::new(&mut *parts.mfg)
            .load_client_credentials(mode, conf.pki, conf.ca)
            .map_err(|e| cert_error(&e))?;
        let chain: Vec<&[u8]> = creds
            .identity
            .as_ref()
            .map(|i| i.cert_chain.iter().map(|c| c.as_ref()).collect())
            .unwrap_or_default();
        let identity = creds.identity.as_ref().map(|i| Identity {
            chain: &chain,
            key: i.key.secret_der(),
            key_encoding: key_encoding(&i.key),
        });
        let ca_list: Option<Vec<&[u8]>> =
            creds.server_ca.as_ref().map(|v| v.iter().map(|c| c.as_ref()).collect());
        let alpn: Vec<&[u8]> = conf.alpn.iter().map(|a| a.as_bytes()).collect();
        let params = ClientParams {
            host,
            sni: conf.sni.as_deref(),
            alpn: &alpn,
            identity,
            server_ca: ca_list.as_deref(),
            common_name: conf.cn.as_deref(),
            cipher_suites: (!conf.ciphers.is_empty()).then_some(&conf.ciphers[..]),
            unix_time,
        };
        parts.tls.client(&params).map_err(tls_error)
    }

    /// AT+SYSMFG changed `namespace`: a running SSL server re-reads its credentials, so the
    /// next accepted connection uses the new ones (connections already up keep theirs). If
    /// the new ones are unusable, the server keeps the previous ones and says why in the log.
    pub(crate) fn ssl_credentials_changed(&mut self, namespace: &str, now: at_hal::time::Instant) {
        if !matches!(namespace, "server_cert" | "server_key" | "server_ca") {
            return;
        }
        if self.st.tcpip.links.server().is_none_or(|(_, p)| p != at_links::Proto::Ssl) {
            return;
        }
        let ca = self.st.tcpip.server_ca;
        match self.ssl_acceptor(ca, now) {
            Ok(a) => {
                log::info!("SSL server: {namespace} rewritten; new connections use it");
                self.st.tcpip.links.set_acceptor(a);
            }
            Err(e) => log::error!(
                "SSL server: {namespace} rewritten but unusable ({e}); keeping the previous credentials"
            ),
        }
    }
}

/// `[<link>,]` prefix of the SSL commands: with CIPMUX=1 the link id (5 = all) comes first;
/// with CIPMUX=0 the settings apply to link 0... ESP-AT: to every link.
fn targets<P: Platform>(c: &Core<P>, a: &Args<'_>) -> Result<(Vec<usize>, usize), AtError> {
    if c.st.tcpip.mux {
        let id = a.int_in(0, 0..=MAX_LINKS as i64)? as usize;
        let ids = if id == MAX_LINKS { (0..MAX_LINKS).collect() } else { alloc::vec![id] };
        Ok((ids, 1))
    } else {
        Ok(((0..MAX_LINKS).collect(), 0))
    }
}

/// ESP-AT refuses to change a link's SSL settings while that link is connected.
fn refuse_connected<P: Platform>(c: &Core<P>, ids: &[usize]) -> Result<(), AtError> {
    let connected = ids.iter().any(|&i| c.st.tcpip.links.get(i as u8).is_some());
    if connected && c.st.tcpip.mux {
        return Err(refuse("the link is connected: change its SSL settings before AT+CIPSTART"));
    }
    Ok(())
}

fn shown_ids<P: Platform>(c: &Core<P>) -> core::ops::Range<usize> {
    if c.st.tcpip.mux { 0..MAX_LINKS } else { 0..1 }
}

/// `AT+CIPSSLCCONF?`: `+CIPSSLCCONF:<id>,<auth>,<pki>,<ca>` per link.
pub(crate) fn cconf_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    for i in shown_ids(c) {
        let s = &c.st.tcpip.ssl[i];
        call.line(format_args!("+CIPSSLCCONF:{i},{},{},{}", s.auth, s.pki, s.ca));
    }
    ok()
}

/// `AT+CIPSSLCCONF=[<link>,]<auth_mode>[,<pki_number>,<ca_number>]`. Warns `NO CERT FOUND`,
/// `NO PRVT_KEY FOUND`, `NO CA FOUND` (then `OK`) for items the mode needs that are missing.
pub(crate) fn cconf_set<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    let (ids, o) = targets(c, a)?;
    a.expect_count(o + 1, o + 3)?;
    let auth = a.int_in(o, 0..=3)? as u8;
    let (pki, ca) = if auth == 0 {
        a.expect_count(o + 1, o + 1)?;
        (0, 0)
    } else {
        // The firmware wants both indices once a mode needs either.
        a.expect_count(o + 3, o + 3)?;
        (a.int_in(o + 1, 0..=0xffff)? as u16, a.int_in(o + 2, 0..=0xffff)? as u16)
    };
    let mode = AuthMode::from_code(auth).unwrap_or(AuthMode::None);
    {
        use at_certstore::{Feature, Item, PkiItem};
        let mut store = CertStore::new(c.platform.mfg());
        let mut have = |item: Item, index: u16| {
            PkiItem::new(Feature::Client, item, index).is_ok_and(|p| store.contains(p).unwrap_or(false))
        };
        if mode.presents_client_cert() {
            if !have(Item::Cert, pki) {
                call.line(format_args!("NO CERT FOUND"));
            }
            if !have(Item::Key, pki) {
                call.line(format_args!("NO PRVT_KEY FOUND"));
            }
        }
        if mode.verifies_server() && !have(Item::Ca, ca) {
            call.line(format_args!("NO CA FOUND"));
        }
    }
    for i in ids {
        let s = &mut c.st.tcpip.ssl[i];
        s.auth = auth;
        s.pki = pki;
        s.ca = ca;
    }
    ok()
}

fn name_query<P: Platform>(
    c: &Core<P>,
    call: &mut Call<'_>,
    what: &str,
    get: fn(&SslConf) -> Option<&String>,
) {
    for i in shown_ids(c) {
        if let Some(n) = get(&c.st.tcpip.ssl[i]) {
            call.line(format_args!("+{what}:{i},{n}"));
        }
    }
}

fn name_arg(a: &Args<'_>, i: usize) -> Result<Option<String>, AtError> {
    let Some(raw) = a.opt_str(i)? else { return Ok(None) };
    if raw.is_empty() {
        return Ok(None);
    }
    if raw.len() > MAX_NAME {
        return Err(AtError::invalid(i, "at most 64 bytes"));
    }
    let s = core::str::from_utf8(raw).map_err(|_| AtError::invalid(i, "not UTF-8"))?;
    Ok(Some(String::from(s)))
}

/// `AT+CIPSSLCSNI?`: links with an SNI set.
pub(crate) fn sni_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    name_query(c, call, "CIPSSLCSNI", |s| s.sni.as_ref());
    ok()
}

/// `AT+CIPSSLCSNI=[<link>,]"<sni>"` (empty clears).
pub(crate) fn sni_set<P: Platform>(c: &mut Core<P>, _: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    let (ids, o) = targets(c, a)?;
    a.expect_count(o + 1, o + 1)?;
    refuse_connected(c, &ids)?;
    let v = name_arg(a, o)?;
    for i in ids {
        c.st.tcpip.ssl[i].sni = v.clone();
    }
    ok()
}

/// `AT+CIPSSLCCN?`: links with a common name set.
pub(crate) fn cn_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    name_query(c, call, "CIPSSLCCN", |s| s.cn.as_ref());
    ok()
}

/// `AT+CIPSSLCCN=[<link>,]"<common name>"` (empty clears).
pub(crate) fn cn_set<P: Platform>(c: &mut Core<P>, _: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    let (ids, o) = targets(c, a)?;
    a.expect_count(o + 1, o + 1)?;
    refuse_connected(c, &ids)?;
    let v = name_arg(a, o)?;
    for i in ids {
        c.st.tcpip.ssl[i].cn = v.clone();
    }
    ok()
}

/// `AT+CIPSSLCALPN?`: `+CIPSSLCALPN:<id>,<p1>[,<p2>...]` for links with ALPN set.
pub(crate) fn alpn_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    for i in shown_ids(c) {
        let s = &c.st.tcpip.ssl[i];
        if s.alpn.is_empty() {
            continue;
        }
        call.text(format_args!("+CIPSSLCALPN:{i}"));
        for p in &s.alpn {
            call.text(format_args!(",{p}"));
        }
        call.write(b"\r\n");
    }
    ok()
}

/// `AT+CIPSSLCALPN=[<link>,]<counts>[,"<alpn>"...]` (0 clears).
pub(crate) fn alpn_set<P: Platform>(c: &mut Core<P>, _: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    let (ids, o) = targets(c, a)?;
    let n = a.int_in(o, 0..=MAX_ALPN as i64)? as usize;
    a.expect_count(o + 1 + n, o + 1 + n)?;
    refuse_connected(c, &ids)?;
    let mut list = Vec::new();
    for k in 0..n {
        let raw = a.str_len(o + 1 + k, 1..=32)?;
        let s = core::str::from_utf8(raw).map_err(|_| AtError::invalid(o + 1 + k, "not UTF-8"))?;
        list.push(String::from(s));
    }
    for i in ids {
        c.st.tcpip.ssl[i].alpn = list.clone();
    }
    ok()
}

/// The IANA ids of the suites this firmware's TLS offers (ESP-AT lists its MbedTLS build's).
const SUPPORTED_SUITES: &[u16] = &[
    0x1301, 0x1302, 0x1303, // TLS 1.3: AES-128-GCM, AES-256-GCM, CHACHA20-POLY1305
    0xc02b, 0xc02c, 0xcca9, // ECDHE-ECDSA: AES-128-GCM, AES-256-GCM, CHACHA20
    0xc02f, 0xc030, 0xcca8, // ECDHE-RSA: AES-128-GCM, AES-256-GCM, CHACHA20
];

/// `AT+CIPSSLCCIPHER?`: every suite the TLS build supports, `+CIPSSLCCIPHER:<idx>,0x<XXXX>`
/// (the firmware lists the global table, not a link's choice).
pub(crate) fn cipher_query<P: Platform>(_: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    for (i, id) in SUPPORTED_SUITES.iter().enumerate() {
        call.line(format_args!("+CIPSSLCCIPHER:{i},0x{id:04X}"));
    }
    ok()
}

/// `AT+CIPSSLCCIPHER=[<link>,]<counts>[,<cipher>...]`: unsupported suites are skipped (as
/// ESP-AT); none left → `ERROR`; 0 clears.
pub(crate) fn cipher_set<P: Platform>(c: &mut Core<P>, _: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    let (ids, o) = targets(c, a)?;
    let n = a.int_in(o, 0..=MAX_CIPHERS as i64)? as usize;
    a.expect_count(o + 1 + n, o + 1 + n)?;
    let mut list = Vec::new();
    for k in 0..n {
        let id = a.int_in(o + 1 + k, 0..=0xffff)? as u16;
        if SUPPORTED_SUITES.contains(&id) {
            list.push(id);
        } else {
            log::warn!("AT+CIPSSLCCIPHER: 0x{id:04X} is not supported here; skipped");
        }
    }
    if n > 0 && list.is_empty() {
        return Err(refuse("none of the cipher suites is supported (see AT+CIPSSLCCIPHER?)"));
    }
    for i in ids {
        c.st.tcpip.ssl[i].ciphers = list.clone();
    }
    ok()
}

/// `AT+CIPSSLCPSK` / `AT+CIPSSLCPSKHEX`: `ERROR` — rustls offers no PSK cipher suites, and a
/// link configured for PSK could not connect.
pub(crate) fn psk_set<P: Platform>(_: &mut Core<P>, _: &mut Call<'_>, _: &Args<'_>) -> Out<P> {
    Err(refuse("TLS-PSK is not supported: rustls (and this firmware's TLS) has no PSK cipher suites"))
}

/// `AT+CIPSSLCPSK?`: nothing configured.
pub(crate) fn psk_query<P: Platform>(_: &mut Core<P>, _: &mut Call<'_>) -> Out<P> {
    ok()
}
