//! Client and server sessions of this crate talking to each other in memory: handshakes,
//! verification outcomes, data both ways.

use at_certstore::{demo, format};
use at_hal::tls::{ClientParams, Identity, KeyEncoding, ServerParams, Tls, TlsError, TlsSession};
use at_tls_rustls::RustlsTls;

struct Creds {
    chain: Vec<Vec<u8>>,
    key: Vec<u8>,
    enc: KeyEncoding,
}

fn load(cert_pem: &[u8], key_pem: &[u8]) -> Creds {
    let chain = format::parse_certificates(cert_pem).unwrap().into_iter().map(|c| c.to_vec()).collect();
    let key = format::parse_private_key(key_pem).unwrap();
    let enc = match key.format() {
        at_certstore::KeyFormat::Pkcs1 => KeyEncoding::Pkcs1,
        at_certstore::KeyFormat::Pkcs8 => KeyEncoding::Pkcs8,
        at_certstore::KeyFormat::Sec1 => KeyEncoding::Sec1,
    };
    Creds { chain, key: key.secret_der().to_vec(), enc }
}

fn ca() -> Vec<Vec<u8>> {
    format::parse_certificates(demo::CA_CERT).unwrap().into_iter().map(|c| c.to_vec()).collect()
}

/// Move bytes between the two until neither has anything to send; the first error wins.
fn transfer(from: &mut dyn TlsSession, to: &mut dyn TlsSession) -> bool {
    let out = from.outgoing().to_vec();
    if out.is_empty() {
        return false;
    }
    let space = to.incoming_space();
    let n = out.len().min(space.len());
    space[..n].copy_from_slice(&out[..n]);
    to.received(n);
    from.sent(n);
    n > 0
}

fn pump(a: &mut dyn TlsSession, b: &mut dyn TlsSession) -> Result<(), (char, TlsError)> {
    for _ in 0..100 {
        let moved = transfer(a, b) | transfer(b, a);
        a.process().map_err(|e| ('a', e))?;
        b.process().map_err(|e| ('b', e))?;
        if !moved && a.outgoing().is_empty() && b.outgoing().is_empty() {
            return Ok(());
        }
    }
    Ok(())
}

fn server(tls: &mut RustlsTls, creds: &Creds, client_ca: Option<&[Vec<u8>]>) -> Box<dyn TlsSession> {
    let chain: Vec<&[u8]> = creds.chain.iter().map(Vec::as_slice).collect();
    let ca: Option<Vec<&[u8]>> = client_ca.map(|v| v.iter().map(Vec::as_slice).collect());
    let p = ServerParams {
        identity: Identity { chain: &chain, key: &creds.key, key_encoding: creds.enc },
        client_ca: ca.as_deref(),
        unix_time: Some(1_800_000_000),
    };
    tls.server(&p).unwrap().accept(Some(1_800_000_000)).unwrap()
}

fn client(
    tls: &mut RustlsTls,
    host: &str,
    server_ca: Option<&[Vec<u8>]>,
    id: Option<&Creds>,
) -> Box<dyn TlsSession> {
    let ca: Option<Vec<&[u8]>> = server_ca.map(|v| v.iter().map(Vec::as_slice).collect());
    let chain: Vec<&[u8]> = id.map(|c| c.chain.iter().map(Vec::as_slice).collect()).unwrap_or_default();
    let p = ClientParams {
        host,
        sni: None,
        alpn: &[],
        identity: id.map(|c| Identity { chain: &chain, key: &c.key, key_encoding: c.enc }),
        server_ca: ca.as_deref(),
        common_name: None,
        cipher_suites: None,
        unix_time: Some(1_800_000_000),
    };
    tls.client(&p).unwrap()
}

/// A self-signed certificate for `localhost`, valid for 20 years, that the demo CA did not
/// sign (test-only credentials, made with `openssl req -x509`).
fn rogue() -> Creds {
    load(include_bytes!("rogue_cert.pem"), include_bytes!("rogue_key.pem"))
}

#[test]
fn a_verified_handshake_moves_data_both_ways() {
    let mut tls = RustlsTls::default();
    let creds = load(demo::SERVER_CERT, demo::SERVER_KEY);
    let mut s = server(&mut tls, &creds, None);
    let mut c = client(&mut tls, "localhost", Some(&ca()), None);
    pump(&mut *c, &mut *s).unwrap();
    assert!(!c.is_handshaking() && !s.is_handshaking());
    assert_eq!(c.write(b"hello").unwrap(), 5);
    pump(&mut *c, &mut *s).unwrap();
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf);
    assert_eq!(&buf[..n], b"hello");
}

#[test]
fn a_server_not_signed_by_the_ca_fails_the_handshake() {
    let mut tls = RustlsTls::default();
    let mut s = server(&mut tls, &rogue(), None);
    let mut c = client(&mut tls, "localhost", Some(&ca()), None);
    let r = pump(&mut *c, &mut *s);
    assert!(matches!(r, Err(('a', TlsError::PeerCertificate(_)))), "{r:?}");
    assert!(c.is_handshaking());
}

#[test]
fn a_client_without_a_certificate_is_refused_when_the_server_requires_one() {
    let mut tls = RustlsTls::default();
    let creds = load(demo::SERVER_CERT, demo::SERVER_KEY);
    let mut s = server(&mut tls, &creds, Some(&ca()));
    let mut c = client(&mut tls, "localhost", None, None);
    let r = pump(&mut *c, &mut *s);
    assert!(r.is_err() || s.is_handshaking(), "server accepted a client without a certificate");
    let id = load(demo::CLIENT_CERT, demo::CLIENT_KEY);
    let mut s = server(&mut tls, &creds, Some(&ca()));
    let mut c = client(&mut tls, "localhost", None, Some(&id));
    pump(&mut *c, &mut *s).unwrap();
    assert!(!s.is_handshaking());
}

#[test]
fn before_the_first_sntp_sync_dates_are_not_checked_but_everything_else_is() {
    let mut tls = RustlsTls::default();
    let unsynced = |tls: &mut RustlsTls, ca: &[Vec<u8>]| {
        let ca: Vec<&[u8]> = ca.iter().map(Vec::as_slice).collect();
        let p = ClientParams {
            host: "localhost",
            sni: None,
            alpn: &[],
            identity: None,
            server_ca: Some(&ca),
            common_name: None,
            cipher_suites: None,
            unix_time: None,
        };
        tls.client(&p).unwrap()
    };
    // The right server: accepted although the clock reads 1970.
    let creds = load(demo::SERVER_CERT, demo::SERVER_KEY);
    let mut s = server(&mut tls, &creds, None);
    let mut c = unsynced(&mut tls, &ca());
    pump(&mut *c, &mut *s).unwrap();
    assert!(!c.is_handshaking());
    // A server the CA did not sign: still refused (not masked as a date problem).
    let mut s = server(&mut tls, &rogue(), None);
    let mut c = unsynced(&mut tls, &ca());
    let r = pump(&mut *c, &mut *s);
    assert!(
        matches!(r, Err(('a', TlsError::PeerCertificate(w))) if w != "not valid yet" && w != "expired"),
        "{r:?}"
    );
}

#[test]
fn records_that_arrive_together_are_announced_one_after_the_other() {
    let mut tls = RustlsTls::default();
    let creds = load(demo::SERVER_CERT, demo::SERVER_KEY);
    let mut s = server(&mut tls, &creds, None);
    let mut c = client(&mut tls, "localhost", Some(&ca()), None);
    pump(&mut *c, &mut *s).unwrap();
    // Four records in one go (as one TCP segment would bring them).
    for msg in [&b"one"[..], b"two", b"three", b"four"] {
        assert_eq!(c.write(msg).unwrap(), msg.len());
    }
    assert!(transfer(&mut *c, &mut *s));
    s.process().unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    for _ in 0..10 {
        let n = s.read(&mut buf);
        got.extend_from_slice(&buf[..n]);
        if s.readable() == 0 && !s.can_progress() {
            break;
        }
        // The session says more waits: processing again (without new bytes) yields it.
        s.process().unwrap();
    }
    assert_eq!(got, b"onetwothreefour");
}

#[test]
fn a_handshake_message_larger_than_the_buffer_is_an_error_not_a_wait() {
    let mut tls = RustlsTls::default();
    let creds = load(demo::SERVER_CERT, demo::SERVER_KEY);
    let mut s = server(&mut tls, &creds, None);
    // A ClientHello header claiming 60,000 bytes, then bytes until the buffer is full.
    let mut hello = vec![0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x00, 0xea, 0x60];
    hello.resize(at_tls_rustls::INCOMING_CAPACITY, 0);
    let mut fed = 0;
    let mut failed = false;
    for _ in 0..100 {
        let space = s.incoming_space();
        let n = space.len().min(hello.len() - fed);
        space[..n].copy_from_slice(&hello[fed..fed + n]);
        s.received(n);
        fed += n;
        if s.process().is_err() {
            failed = true;
            break;
        }
    }
    assert!(failed, "the session kept waiting for a message that cannot fit");
}
