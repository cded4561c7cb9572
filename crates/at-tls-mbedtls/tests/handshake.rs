//! MbedTLS sessions of this crate against real OpenSSL peers over loopback TCP:
//! `openssl s_server -rev` (a TLS echo that reverses each line) for client sessions and
//! `openssl s_client` for server sessions. The session is driven exactly as at-links drives
//! it: non-blocking socket, `outgoing`/`sent`, `incoming_space`/`received`, `process`.
//!
//! Credentials: the public demo set (`crates/at-certstore/demo/`: a CA, a server certificate
//! for `esp-at-sim`, `localhost` and `127.0.0.1`, a client certificate) and at-tls-rustls's
//! self-signed "rogue" certificate that the demo CA did not sign.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use at_certstore::format;
use at_hal::tls::{ClientParams, Identity, KeyEncoding, ServerParams, Tls, TlsError, TlsSession};
use at_tls_mbedtls::MbedTls;

const T: Duration = Duration::from_secs(20);

/// MbedTLS's global state (PSA initialisation, the RNG slot) is set up lazily by the first
/// session; the tests take turns rather than race it.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn demo(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../at-certstore/demo").join(file)
}

fn rogue(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../at-tls-rustls/tests").join(file)
}

fn have_openssl() -> bool {
    Command::new("openssl").arg("version").output().is_ok_and(|o| o.status.success())
}

struct Creds {
    chain: Vec<Vec<u8>>,
    key: Vec<u8>,
    enc: KeyEncoding,
}

impl Creds {
    fn load(cert: &Path, key: &Path) -> Creds {
        let chain = certs(cert);
        let key = format::parse_private_key(&std::fs::read(key).unwrap()).unwrap();
        let enc = match key.format() {
            at_certstore::KeyFormat::Pkcs1 => KeyEncoding::Pkcs1,
            at_certstore::KeyFormat::Pkcs8 => KeyEncoding::Pkcs8,
            at_certstore::KeyFormat::Sec1 => KeyEncoding::Sec1,
        };
        Creds { chain, key: key.secret_der().to_vec(), enc }
    }
}

fn certs(pem: &Path) -> Vec<Vec<u8>> {
    format::parse_certificates(&std::fs::read(pem).unwrap())
        .unwrap()
        .into_iter()
        .map(|c| c.to_vec())
        .collect()
}

/// An OpenSSL process; its stdout arrives on a channel; killed on drop.
struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Receiver<Vec<u8>>,
    got: Vec<u8>,
}

impl Peer {
    fn spawn(args: &[&str]) -> Peer {
        let mut child = Command::new("openssl")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl");
        let (tx, rx) = channel();
        let mut stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut b = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut b) {
                if n == 0 || tx.send(b[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Peer { child, stdin, out: rx, got: Vec::new() }
    }

    /// Wait until stdout contains `what`.
    fn until(&mut self, what: &str) -> bool {
        let end = Instant::now() + T;
        while Instant::now() < end {
            if String::from_utf8_lossy(&self.got).contains(what) {
                return true;
            }
            if let Ok(b) = self.out.recv_timeout(Duration::from_millis(50)) {
                self.got.extend_from_slice(&b);
            }
        }
        false
    }

    fn send(&mut self, data: &[u8]) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(data).unwrap();
        stdin.flush().unwrap();
    }

    /// Wait for the process to end (s_client after a failed handshake); its exit status.
    fn exit(&mut self) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + T;
        while Instant::now() < end {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `openssl s_server -rev` on a free port, listening.
fn s_server(extra: &[&str]) -> (Peer, u16) {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cert = demo("server_cert.pem");
    let key = demo("server_key.pem");
    let mut args = vec![
        "s_server".to_string(),
        "-accept".into(),
        format!("127.0.0.1:{port}"),
        "-cert".into(),
        cert.display().to_string(),
        "-key".into(),
        key.display().to_string(),
        "-rev".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut p = Peer::spawn(&args);
    assert!(p.until("ACCEPT"), "s_server did not start");
    (p, port)
}

/// One at-links-style step: send, receive, process.
fn step(s: &mut dyn TlsSession, sock: &mut TcpStream, eof: &mut bool) -> Result<(), TlsError> {
    if !s.outgoing().is_empty() {
        match sock.write(s.outgoing()) {
            Ok(n) => s.sent(n),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => *eof = true,
        }
    }
    if !*eof {
        let space = s.incoming_space();
        if !space.is_empty() {
            match sock.read(space) {
                Ok(0) => *eof = true,
                Ok(n) => s.received(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => *eof = true,
            }
        }
    }
    s.process()
}

/// Drive `s` until `done` says so, an error, the peer closing, or the timeout.
fn drive(
    s: &mut dyn TlsSession,
    sock: &mut TcpStream,
    mut done: impl FnMut(&mut dyn TlsSession) -> bool,
) -> Result<(), TlsError> {
    let end = Instant::now() + T;
    let mut eof = false;
    while Instant::now() < end {
        step(s, sock, &mut eof)?;
        if done(s) {
            return Ok(());
        }
        if eof && s.outgoing().is_empty() {
            return Err(TlsError::Protocol("test: the peer closed the connection"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Err(TlsError::HandshakeTimeout)
}

fn connect(port: u16) -> TcpStream {
    let sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_nonblocking(true).unwrap();
    sock.set_nodelay(true).unwrap();
    sock
}

/// Client parameters for `host` with the given CA (modes 2/3) and identity (modes 1/3).
fn client(
    tls: &mut MbedTls,
    host: &str,
    common_name: Option<&str>,
    ca: Option<&[Vec<u8>]>,
    id: Option<&Creds>,
    alpn: &[&[u8]],
) -> Result<Box<dyn TlsSession>, TlsError> {
    let ca: Option<Vec<&[u8]>> = ca.map(|v| v.iter().map(Vec::as_slice).collect());
    let chain: Vec<&[u8]> = id.map(|c| c.chain.iter().map(Vec::as_slice).collect()).unwrap_or_default();
    let p = ClientParams {
        host,
        sni: None,
        alpn,
        identity: id.map(|c| Identity { chain: &chain, key: &c.key, key_encoding: c.enc }),
        server_ca: ca.as_deref(),
        common_name,
        cipher_suites: None,
        unix_time: None,
    };
    tls.client(&p)
}

/// Send `line` through the session and read the echo back (s_server -rev reverses it).
fn echo(s: &mut dyn TlsSession, sock: &mut TcpStream, line: &str) -> String {
    let mut data = line.as_bytes().to_vec();
    data.push(b'\n');
    let mut off = 0;
    let mut got = Vec::new();
    drive(s, sock, |s| {
        if off < data.len() {
            off += s.write(&data[off..]).unwrap();
        }
        let mut b = [0u8; 256];
        let n = s.read(&mut b);
        got.extend_from_slice(&b[..n]);
        got.ends_with(b"\n")
    })
    .unwrap();
    String::from_utf8(got).unwrap()
}

/// Read through the session until a newline arrives.
fn read_line(s: &mut dyn TlsSession, sock: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    drive(s, sock, |s| {
        let mut b = [0u8; 64];
        let n = s.read(&mut b);
        got.extend_from_slice(&b[..n]);
        got.ends_with(b"\n")
    })
    .unwrap();
    got
}

/// Write `data` through the session until it has all left for the socket.
fn write_all(s: &mut dyn TlsSession, sock: &mut TcpStream, data: &[u8]) {
    let mut off = 0;
    drive(s, sock, |s| {
        off += s.write(&data[off..]).unwrap();
        off == data.len() && s.outgoing().is_empty()
    })
    .unwrap();
}

fn reversed(s: &str) -> String {
    s.chars().rev().collect::<String>() + "\n"
}

#[test]
fn client_verifies_s_server_and_echoes_tls13() {
    if !have_openssl() {
        eprintln!("skipped: no openssl");
        return;
    }
    let _g = serial();
    let mut tls = MbedTls::host();
    let (_srv, port) = s_server(&[]);
    let mut sock = connect(port);
    let mut s = client(&mut tls, "localhost", None, Some(&certs(&demo("ca.pem"))), None, &[]).unwrap();
    drive(&mut *s, &mut sock, |s| !s.is_handshaking()).unwrap();
    assert_eq!(s.negotiated().map(|n| n.0), Some(0x0304));
    assert_eq!(echo(&mut *s, &mut sock, "hello from mbedtls"), reversed("hello from mbedtls"));
    // A bigger transfer: several records, more than the plaintext buffer at once.
    let long: String = (0..6000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    assert_eq!(echo(&mut *s, &mut sock, &long), reversed(&long));
    s.close();
    assert!(!s.outgoing().is_empty(), "close_notify queued");
    assert_eq!(s.write(b"x"), Err(TlsError::Closed));
}

#[test]
fn client_over_tls12_with_a_client_certificate_and_alpn() {
    if !have_openssl() {
        eprintln!("skipped: no openssl");
        return;
    }
    let _g = serial();
    let mut tls = MbedTls::host();
    let ca = demo("ca.pem");
    let (_srv, port) =
        s_server(&["-tls1_2", "-Verify", "1", "-CAfile", &ca.display().to_string(), "-alpn", "h2,http/1.1"]);
    let id = Creds::load(&demo("client_cert.pem"), &demo("client_key.pem"));
    let mut sock = connect(port);
    let mut s = client(&mut tls, "127.0.0.1", None, Some(&certs(&ca)), Some(&id), &[b"http/1.1"]).unwrap();
    drive(&mut *s, &mut sock, |s| !s.is_handshaking()).unwrap();
    assert_eq!(s.negotiated().map(|n| n.0), Some(0x0303));
    assert_eq!(echo(&mut *s, &mut sock, "mutual"), reversed("mutual"));
}

#[test]
fn client_without_its_certificate_is_refused_by_s_server() {
    if !have_openssl() {
        eprintln!("skipped: no openssl");
        return;
    }
    let _g = serial();
    let mut tls = MbedTls::host();
    let ca = demo("ca.pem");
    let (_srv, port) = s_server(&["-Verify", "1", "-CAfile", &ca.display().to_string()]);
    let mut sock = connect(port);
    let mut s = client(&mut tls, "localhost", None, Some(&certs(&ca)), None, &[]).unwrap();
    // TLS 1.3: the client's handshake completes before the server's verdict; the alert then
    // ends the session on the next read.
    let r = drive(&mut *s, &mut sock, |s| {
        let _ = s.write(b"x\n");
        false
    });
    assert!(r.is_err(), "{r:?}");
}

#[test]
fn a_wrong_ca_fails_the_handshake_closed() {
    if !have_openssl() {
        eprintln!("skipped: no openssl");
        return;
    }
    let _g = serial();
    let mut tls = MbedTls::host();
    let (_srv, port) = s_server(&[]);
    // Trusting only the rogue self-signed certificate: the demo server is not signed by it.
    let mut sock = connect(port);
    let mut s =
        client(&mut tls, "localhost", None, Some(&certs(&rogue("rogue_cert.pem"))), None, &[]).unwrap();
    let r = drive(&mut *s, &mut sock, |s| !s.is_handshaking());
    assert_eq!(r, Err(TlsError::PeerCertificate("not signed by a trusted CA")));
    assert!(s.is_handshaking());
    // The error sticks; nothing is readable or writable.
    assert!(s.process().is_err());
    assert_eq!(s.write(b"x"), Ok(0));
}

#[test]
fn the_name_is_checked_and_only_with_a_ca() {
    if !have_openssl() {
        eprintln!("skipped: no openssl");
        return;
    }
    let _g = serial();
    let mut tls = MbedTls::host();
    let ca = certs(&demo("ca.pem"));
    let (_srv, port) = s_server(&[]);
    // s_server serves one connection at a time: each attempt closes its socket.
    let attempt = |tls: &mut MbedTls, host: &str, cn: Option<&str>, ca: Option<&[Vec<u8>]>| {
        let mut sock = connect(port);
        let mut s = client(tls, host, cn, ca, None, &[]).unwrap();
        let r = drive(&mut *s, &mut sock, |s| !s.is_handshaking());
        let echoed = r.is_ok().then(|| echo(&mut *s, &mut sock, "checked"));
        (r, echoed)
    };
    // AT+CIPSSLCCN with a name the certificate does not carry: refused.
    let (r, _) = attempt(&mut tls, "localhost", Some("wrong.example"), Some(&ca));
    assert_eq!(r, Err(TlsError::PeerCertificate("issued for another name")));
    // A host name the certificate does not carry: refused.
    let (r, _) = attempt(&mut tls, "not-localhost", None, Some(&ca));
    assert_eq!(r, Err(TlsError::PeerCertificate("issued for another name")));
    // AT+CIPSSLCCN naming one of the certificate's names: accepted whatever the host.
    let (r, e) = attempt(&mut tls, "not-localhost", Some("esp-at-sim"), Some(&ca));
    assert_eq!((r, e), (Ok(()), Some(reversed("checked"))));
    // A numeric host without SNI or common name: chain verified, name not checked.
    let (r, _) = attempt(&mut tls, "127.0.0.1", None, Some(&ca));
    assert_eq!(r, Ok(()));
    // Mode 0 (no CA): neither the chain nor the name is checked.
    let (r, e) = attempt(&mut tls, "not-localhost", None, None);
    assert_eq!((r, e), (Ok(()), Some(reversed("checked"))));
}

/// Accept one connection on `listener` and run the server session until `done`.
fn serve(
    acceptor: &mut dyn at_hal::tls::TlsAcceptor,
    listener: &TcpListener,
) -> (Box<dyn TlsSession>, TcpStream) {
    listener.set_nonblocking(false).unwrap();
    let (sock, _) = listener.accept().unwrap();
    sock.set_nonblocking(true).unwrap();
    (acceptor.accept(None).unwrap(), sock)
}

fn server_params<'a>(
    chain: &'a [&'a [u8]],
    creds: &'a Creds,
    client_ca: Option<&'a [&'a [u8]]>,
) -> ServerParams<'a> {
    ServerParams {
        identity: Identity { chain, key: &creds.key, key_encoding: creds.enc },
        client_ca,
        unix_time: None,
    }
}

/// A server session factory with the demo certificate (requiring client certificates from the
/// demo CA when `client_ca`), and a listener for it.
fn demo_server(tls: &mut MbedTls, client_ca: bool) -> (Box<dyn at_hal::tls::TlsAcceptor>, TcpListener, u16) {
    let creds = Creds::load(&demo("server_cert.pem"), &demo("server_key.pem"));
    let chain: Vec<&[u8]> = creds.chain.iter().map(Vec::as_slice).collect();
    let ca_der = certs(&demo("ca.pem"));
    let ca_list: Vec<&[u8]> = ca_der.iter().map(Vec::as_slice).collect();
    let acceptor = tls.server(&server_params(&chain, &creds, client_ca.then_some(&ca_list[..]))).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (acceptor, listener, port)
}

#[test]
fn server_answers_s_client_without_client_certificates() {
    if !have_openssl() {
        eprintln!("skipped: no openssl");
        return;
    }
    let _g = serial();
    let mut tls = MbedTls::host();
    let (mut acceptor, listener, port) = demo_server(&mut tls, false);
    let ca = demo("ca.pem");
    let mut peer = Peer::spawn(&[
        "s_client",
        "-connect",
        &format!("127.0.0.1:{port}"),
        "-CAfile",
        &ca.display().to_string(),
        "-verify_return_error",
        "-servername",
        "localhost",
        "-quiet",
    ]);
    let (mut s, mut sock) = serve(&mut *acceptor, &listener);
    drive(&mut *s, &mut sock, |s| !s.is_handshaking()).unwrap();
    peer.send(b"ping\n");
    let got = read_line(&mut *s, &mut sock);
    assert_eq!(got, b"ping\n");
    write_all(&mut *s, &mut sock, b"pong\n");
    assert!(peer.until("pong"), "s_client got {:?}", String::from_utf8_lossy(&peer.got));
}

#[test]
fn server_requiring_client_certificates_accepts_the_cas_and_refuses_others() {
    if !have_openssl() {
        eprintln!("skipped: no openssl");
        return;
    }
    let _g = serial();
    let mut tls = MbedTls::host();
    let (mut acceptor, listener, port) = demo_server(&mut tls, true);
    let ca = demo("ca.pem").display().to_string();
    let addr = format!("127.0.0.1:{port}");
    let client_cert = demo("client_cert.pem").display().to_string();
    let client_key = demo("client_key.pem").display().to_string();

    // With the CA's client certificate: accepted.
    let mut peer = Peer::spawn(&[
        "s_client",
        "-connect",
        &addr,
        "-CAfile",
        &ca,
        "-verify_return_error",
        "-cert",
        &client_cert,
        "-key",
        &client_key,
        "-quiet",
    ]);
    let (mut s, mut sock) = serve(&mut *acceptor, &listener);
    drive(&mut *s, &mut sock, |s| !s.is_handshaking()).unwrap();
    peer.send(b"hi\n");
    let got = read_line(&mut *s, &mut sock);
    assert_eq!(got, b"hi\n");
    drop(peer);

    // Without a certificate: refused.
    let _peer = Peer::spawn(&["s_client", "-connect", &addr, "-CAfile", &ca, "-quiet"]);
    let (mut s, mut sock) = serve(&mut *acceptor, &listener);
    let r = drive(&mut *s, &mut sock, |s| !s.is_handshaking());
    assert_eq!(r, Err(TlsError::PeerCertificate("no certificate presented")), "{r:?}");

    // With a certificate the CA did not sign: refused.
    let rogue_cert = rogue("rogue_cert.pem").display().to_string();
    let rogue_key = rogue("rogue_key.pem").display().to_string();
    let mut peer = Peer::spawn(&[
        "s_client",
        "-connect",
        &addr,
        "-CAfile",
        &ca,
        "-cert",
        &rogue_cert,
        "-key",
        &rogue_key,
        "-quiet",
    ]);
    let (mut s, mut sock) = serve(&mut *acceptor, &listener);
    let r = drive(&mut *s, &mut sock, |s| !s.is_handshaking());
    assert_eq!(r, Err(TlsError::PeerCertificate("not signed by a trusted CA")), "{r:?}");
    // The refusal reaches s_client as an alert: it ends.
    let mut eof = false;
    for _ in 0..50 {
        let _ = step(&mut *s, &mut sock, &mut eof);
    }
    drop(sock);
    assert!(peer.exit().is_some(), "s_client still running after the refusal");
}

#[test]
fn bad_parameters_are_refused_up_front() {
    let _g = serial();
    let mut tls = MbedTls::host();
    // AT+CIPSSLCCIPHER: not available with mbedtls-rs.
    let p = ClientParams {
        host: "localhost",
        sni: None,
        alpn: &[],
        identity: None,
        server_ca: None,
        common_name: None,
        cipher_suites: Some(&[0x1301]),
        unix_time: None,
    };
    assert!(matches!(tls.client(&p), Err(TlsError::Unsupported(_))));
    // A CA that is not a certificate.
    let junk: &[&[u8]] = &[b"not a certificate"];
    let p = ClientParams { cipher_suites: None, server_ca: Some(junk), ..p };
    assert!(matches!(tls.client(&p), Err(TlsError::BadCredential(_))));
    // A server key that is not a key.
    let creds = Creds::load(&demo("server_cert.pem"), &demo("server_key.pem"));
    let chain: Vec<&[u8]> = creds.chain.iter().map(Vec::as_slice).collect();
    let bad = Creds { chain: creds.chain.clone(), key: vec![0x30, 0x03, 0x02, 0x01, 0x00], enc: creds.enc };
    assert!(matches!(tls.server(&server_params(&chain, &bad, None)), Err(TlsError::BadCredential(_))));
    // A CA list of several certificates parses (the PEM path), one bad entry fails it.
    let two = certs(&demo("ca.pem")).into_iter().chain(certs(&rogue("rogue_cert.pem"))).collect::<Vec<_>>();
    let two: Vec<&[u8]> = two.iter().map(Vec::as_slice).collect();
    let p = ClientParams { server_ca: Some(&two), ..p };
    assert!(tls.client(&p).is_ok());
    let mixed: Vec<&[u8]> = vec![two[0], b"junk"];
    let p = ClientParams { server_ca: Some(&mixed), ..p };
    assert!(matches!(tls.client(&p), Err(TlsError::BadCredential(_))));
}

/// Pins the documented limitation: the prebuilt MbedTLS checks no validity dates, so a server
/// certificate that expired (signed by the trusted CA, `-days 0`) is accepted, while the chain
/// and the name are still checked.
#[test]
fn an_expired_certificate_is_accepted_dates_are_not_checked() {
    if !have_openssl() {
        eprintln!("skipped: no openssl");
        return;
    }
    let _g = serial();
    let dir = std::env::temp_dir().join(format!("at-tls-mbedtls-expired-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (key, csr, ext, cert, srl) =
        (dir.join("k.pem"), dir.join("r.csr"), dir.join("ext"), dir.join("c.pem"), dir.join("srl"));
    let run = |args: &[&str]| {
        let o = Command::new("openssl").args(args).output().unwrap();
        assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    };
    let p = |p: &PathBuf| p.display().to_string();
    run(&["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", &p(&key)]);
    run(&["req", "-new", "-key", &p(&key), "-subj", "/CN=localhost", "-out", &p(&csr)]);
    std::fs::write(&ext, "subjectAltName=DNS:localhost\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        &p(&csr),
        "-CA",
        &p(&demo("ca.pem")),
        "-CAkey",
        &p(&demo("ca_key.pem")),
        "-CAcreateserial",
        "-CAserial",
        &p(&srl),
        "-days",
        "0",
        "-extfile",
        &p(&ext),
        "-out",
        &p(&cert),
    ]);
    std::thread::sleep(Duration::from_millis(1100));
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let accept = format!("127.0.0.1:{port}");
    let mut srv =
        Peer::spawn(&["s_server", "-accept", &accept, "-cert", &p(&cert), "-key", &p(&key), "-rev"]);
    assert!(srv.until("ACCEPT"));
    let mut tls = MbedTls::host();
    let mut sock = connect(port);
    let mut s = client(&mut tls, "localhost", None, Some(&certs(&demo("ca.pem"))), None, &[]).unwrap();
    drive(&mut *s, &mut sock, |s| !s.is_handshaking()).unwrap();
    assert_eq!(echo(&mut *s, &mut sock, "expired"), reversed("expired"));
    drop(sock);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Move at most `chunk` bytes of `from`'s ciphertext to `to`.
fn trickle(from: &mut dyn TlsSession, to: &mut dyn TlsSession, chunk: usize) -> bool {
    let n = from.outgoing().len().min(chunk);
    let space = to.incoming_space();
    let n = n.min(space.len());
    space[..n].copy_from_slice(&from.outgoing()[..n]);
    to.received(n);
    from.sent(n);
    n > 0
}

/// A client and a server session of this crate in memory, ciphertext moved a few bytes at a
/// time: every handshake flight and record is split, so both sessions see "poll again"
/// (empty receive buffer) in the middle of messages and resume correctly; then 20 KB of data
/// (more than one record and more than the buffers) each way.
#[test]
fn sessions_resume_across_arbitrary_splits_in_memory() {
    let _g = serial();
    let mut tls = MbedTls::host();
    let creds = Creds::load(&demo("server_cert.pem"), &demo("server_key.pem"));
    let chain: Vec<&[u8]> = creds.chain.iter().map(Vec::as_slice).collect();
    let ca_der = certs(&demo("ca.pem"));
    let ca_list: Vec<&[u8]> = ca_der.iter().map(Vec::as_slice).collect();
    let mut acceptor = tls.server(&server_params(&chain, &creds, Some(&ca_list))).unwrap();
    let id = Creds::load(&demo("client_cert.pem"), &demo("client_key.pem"));
    let mut c = client(&mut tls, "localhost", None, Some(&ca_der), Some(&id), &[]).unwrap();
    let mut s = acceptor.accept(None).unwrap();
    for _ in 0..20_000 {
        trickle(&mut *c, &mut *s, 97);
        trickle(&mut *s, &mut *c, 89);
        c.process().unwrap();
        s.process().unwrap();
        if !c.is_handshaking() && !s.is_handshaking() && c.outgoing().is_empty() && s.outgoing().is_empty() {
            break;
        }
    }
    assert!(!c.is_handshaking() && !s.is_handshaking());
    let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    send_all(&mut *c, &mut *s, &data);
    send_all(&mut *s, &mut *c, &data);
    // close_notify reaches the peer.
    c.close();
    for _ in 0..10 {
        trickle(&mut *c, &mut *s, 1000);
        s.process().unwrap();
    }
    assert!(s.peer_closed());
}

/// Write `data` on `a`, move it to `b` in 1000-byte pieces, read it all back from `b`.
fn send_all(a: &mut dyn TlsSession, b: &mut dyn TlsSession, data: &[u8]) {
    let (mut off, mut got) = (0, Vec::new());
    for _ in 0..100_000 {
        if off < data.len() {
            off += a.write(&data[off..]).unwrap();
        }
        trickle(a, b, 1000);
        a.process().unwrap();
        b.process().unwrap();
        let mut buf = [0u8; 700];
        let n = b.read(&mut buf);
        got.extend_from_slice(&buf[..n]);
        if got.len() == data.len() {
            break;
        }
    }
    assert_eq!(got.len(), data.len());
    assert!(got == data, "data corrupted");
}
