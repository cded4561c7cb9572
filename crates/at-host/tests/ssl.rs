//! SSL links of `at-sim` against real OpenSSL peers (`openssl s_client` / `s_server`), driven
//! over the AT port as a host would, and the seed scenario end to end.
//!
//! Credentials: the built-in store holds the public demo set (`crates/at-certstore/demo/`): a
//! CA, a server certificate it signed (`localhost`, `127.0.0.1`), a client certificate it
//! signed. "Another CA" material is made by the test with `openssl req`.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use common::{Client, Sim};

const T: Duration = Duration::from_secs(15);

fn demo(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../at-certstore/demo").join(file)
}

fn have_openssl() -> bool {
    Command::new("openssl").arg("version").output().is_ok_and(|o| o.status.success())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A port offset such that 333 + offset is free.
fn offset_for_333() -> (u16, u16) {
    loop {
        let p = free_port();
        if p > 333 {
            return (p - 333, p);
        }
    }
}

fn online(args: &[&str]) -> (Sim, Client) {
    let sim = Sim::start(args);
    let mut c = sim.connect();
    c.until("ready\r\n", T);
    assert_eq!(c.cmd("ATE0"), "ATE0\r\n\r\nOK\r\n");
    c.send(b"AT+CWJAP=\"esp-at-sim\",\"12345678\"\r\n");
    assert!(c.until("OK\r\n", T).ends_with("WIFI GOT IP\r\n\r\nOK\r\n"));
    (sim, c)
}

/// An OpenSSL process whose stdout lines arrive on a channel; killed on drop.
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
            .stderr(Stdio::piped())
            .spawn()
            .expect("openssl");
        let (tx, rx) = channel();
        let mut stdout = child.stdout.take().unwrap();
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            let mut b = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut b) {
                if n == 0 || tx.send(b[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx2.send(format!("{line}\n").into_bytes());
            }
        });
        let stdin = child.stdin.take();
        Peer { child, stdin, out: rx, got: Vec::new() }
    }

    fn send(&mut self, b: &[u8]) {
        let s = self.stdin.as_mut().unwrap();
        s.write_all(b).unwrap();
        s.flush().unwrap();
    }

    /// Wait until the peer printed `want` (stdout or stderr); returns everything so far.
    fn until(&mut self, want: &str, timeout: Duration) -> String {
        let end = Instant::now() + timeout;
        loop {
            let text = String::from_utf8_lossy(&self.got).into_owned();
            if text.contains(want) {
                return text;
            }
            let left = end.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "openssl never printed {want:?}; it printed:\n{text}");
            if let Ok(chunk) = self.out.recv_timeout(left.min(Duration::from_millis(100))) {
                self.got.extend_from_slice(&chunk);
            }
        }
    }

    fn exited(&mut self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.child.try_wait().unwrap().is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn s_client(port: u16, extra: &[&str]) -> Peer {
    let addr = format!("127.0.0.1:{port}");
    let mut args = vec!["s_client", "-connect", &addr, "-CAfile"];
    let ca = demo("ca.pem");
    let ca = ca.to_str().unwrap().to_owned();
    args.push(&ca);
    args.extend_from_slice(extra);
    Peer::spawn(&args)
}

/// Another CA and a client certificate it signed (what an attacker or a misconfigured device
/// would present).
fn foreign_client_cert(dir: &Path) -> (PathBuf, PathBuf) {
    let key = dir.join("other_key.pem");
    let cert = dir.join("other_cert.pem");
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "30",
        ])
        .args(["-subj", "/CN=not from the demo CA", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    (cert, key)
}

/// `AT+CIPMUX=1` and an SSL server (`<CA enable>` as given) on a free port; returns the port.
fn ssl_server(c: &mut Client, ca_enable: u8) -> u16 {
    let port = free_port();
    assert_eq!(c.cmd("AT+CIPMUX=1"), "\r\nOK\r\n");
    assert_eq!(c.cmd(&format!("AT+CIPSERVER=1,{port},\"SSL\",{ca_enable}")), "\r\nOK\r\n");
    port
}

/// The seed's exchange once `AT+CIPSERVER=1,333,"SSL",0` runs (multiplexed links): an
/// `openssl s_client` verifies the demo certificate, sends a line (`+IPD`), receives 6 bytes
/// (`AT+CIPSEND`), closes (`CLOSED`).
fn seed_exchange(c: &mut Client, port: u16) {
    let mut peer = s_client(port, &["-verify_return_error", "-servername", "localhost"]);
    assert_eq!(c.until("CONNECT\r\n", T), "0,CONNECT\r\n");
    peer.until("Verify return code: 0 (ok)", T);
    peer.send(b"hello over TLS\n");
    assert_eq!(c.until("TLS\n\r\n", T), "\r\n+IPD,0,15:hello over TLS\n\r\n");
    c.send(b"AT+CIPSEND=0,6\r\n");
    assert!(c.until(">", T).ends_with("\r\nOK\r\n\r\n>"));
    c.send(b"abc\r\n!");
    assert!(c.until("SEND OK\r\n", T).contains("Recv 6 bytes"));
    peer.until("abc\r\n!", T);
    drop(peer);
    assert_eq!(c.until("CLOSED\r\n", T), "0,CLOSED\r\n");
}

/// An `openssl s_server` whose certificate the demo CA did not sign, ready to accept.
fn foreign_s_server(dir_name: &str) -> (Peer, u16) {
    let dir = common::temp(dir_name);
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = foreign_client_cert(&dir);
    let port = free_port();
    let p = port.to_string();
    let mut rogue = Peer::spawn(&[
        "s_server",
        "-accept",
        &p,
        "-cert",
        cert.to_str().unwrap(),
        "-key",
        key.to_str().unwrap(),
    ]);
    rogue.until("ACCEPT", T);
    (rogue, port)
}

#[test]
fn the_seed_sequence_serves_openssl_s_client_both_ways() {
    if !have_openssl() {
        eprintln!("openssl not installed: skipped (CI installs it)");
        return;
    }
    let (offset, port) = offset_for_333();
    let sim = Sim::start(&["--port-offset", &offset.to_string()]);
    let mut c = sim.connect();
    c.until("ready\r\n", T);
    // The seed's command sequence, verbatim.
    assert_eq!(c.cmd("AT+CWMODE=1"), "AT+CWMODE=1\r\n\r\nOK\r\n");
    c.send(b"AT+CWJAP=\"esp-at-sim\",\"12345678\"\r\n");
    assert!(c.until("OK\r\n", T).ends_with("WIFI GOT IP\r\n\r\nOK\r\n"));
    c.send(b"AT+CIPSNTPCFG=1,0\r\n");
    assert!(c.until("+TIME_UPDATED\r\n", T).contains("OK\r\n"));
    assert_eq!(c.cmd("AT+CIPMUX=1"), "AT+CIPMUX=1\r\n\r\nOK\r\n");
    assert_eq!(c.cmd("AT+CIPSERVER=1,333,\"SSL\",0"), "AT+CIPSERVER=1,333,\"SSL\",0\r\n\r\nOK\r\n");
    seed_exchange(&mut c, port);
    assert_eq!(c.cmd("AT"), "AT\r\n\r\nOK\r\n");
}

#[test]
fn the_seed_flash_makes_cipserver_fail_with_the_cause_and_no_listener() {
    if !have_openssl() {
        return;
    }
    let dump = common::temp("seed-flash.bin");
    let gz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/flash/dumps/seed.bin.gz");
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(gz).unwrap()).read_to_end(&mut raw).unwrap();
    std::fs::write(&dump, raw).unwrap();
    let (offset, port) = offset_for_333();
    let sim = Sim::start(&["--port-offset", &offset.to_string(), "--flash", dump.to_str().unwrap()]);
    let mut c = sim.connect();
    c.until("ready\r\n", T);
    assert_eq!(c.cmd("AT+CWMODE=1"), "AT+CWMODE=1\r\n\r\nOK\r\n");
    c.send(b"AT+CWJAP=\"esp-at-sim\",\"12345678\"\r\n");
    c.until("WIFI GOT IP\r\n\r\nOK\r\n", T);
    c.send(b"AT+CIPSNTPCFG=1,0\r\n");
    c.until("+TIME_UPDATED\r\n", T);
    assert_eq!(c.cmd("AT+CIPMUX=1"), "AT+CIPMUX=1\r\n\r\nOK\r\n");
    // Without AT+SYSLOG: a plain ERROR, as a host driver expects from a failed command.
    assert_eq!(c.cmd("AT+CIPSERVER=1,333,\"SSL\",0"), "AT+CIPSERVER=1,333,\"SSL\",0\r\n\r\nERROR\r\n");
    // With it: the code and the cause, naming the entry.
    assert_eq!(c.cmd("AT+SYSLOG=1"), "AT+SYSLOG=1\r\n\r\nOK\r\n");
    let out = c.cmd("AT+CIPSERVER=1,333,\"SSL\",0");
    assert!(
        out.contains("+ERRINFO:\"server_cert/server_cert: ") && out.contains("flash encryption"),
        "{out}"
    );
    assert!(out.contains("ERR CODE:0x010a0102\r\n\r\nERROR\r\n"), "{out}");
    // No listener: nothing accepts, so nothing can accept-close-loop.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "something listens on {port}");
    assert_eq!(c.cmd("AT+CIPSERVER?"), "AT+CIPSERVER?\r\n+CIPSERVER:0\r\n\r\nOK\r\n");
    for _ in 0..20 {
        assert_eq!(c.cmd("AT"), "AT\r\n\r\nOK\r\n");
    }
}

#[test]
fn ca_enable_1_accepts_only_clients_signed_by_server_ca() {
    if !have_openssl() {
        return;
    }
    let (_sim, mut c) = online(&[]);
    let port = ssl_server(&mut c, 1);
    assert_eq!(c.cmd("AT+CIPSERVER?"), format!("+CIPSERVER:1,{port},\"SSL\",1,0\r\n\r\nOK\r\n"));
    // No client certificate: the handshake fails, nothing is announced, the server goes on.
    let mut none = s_client(port, &[]);
    assert!(none.exited(T), "s_client without a certificate was not refused");
    assert_eq!(c.drain(Duration::from_millis(300)), "", "a refused client must not be announced");
    // A certificate from another CA: refused the same way.
    let dir = common::temp("foreign-ca");
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = foreign_client_cert(&dir);
    let mut foreign = s_client(port, &["-cert", cert.to_str().unwrap(), "-key", key.to_str().unwrap()]);
    assert!(foreign.exited(T), "s_client with a foreign certificate was not refused");
    assert_eq!(c.drain(Duration::from_millis(300)), "");
    // The demo client certificate (signed by server_ca): served.
    let (cc, ck) = (demo("client_cert.pem"), demo("client_key.pem"));
    let mut good = s_client(port, &["-cert", cc.to_str().unwrap(), "-key", ck.to_str().unwrap()]);
    assert_eq!(c.until("CONNECT\r\n", T), "0,CONNECT\r\n");
    good.send(b"ping\n");
    assert_eq!(c.until("ping\n\r\n", T), "\r\n+IPD,0,5:ping\n\r\n");
    drop(good);
    c.until("0,CLOSED\r\n", T);
}

#[test]
fn garbage_and_truncated_handshakes_close_quietly_and_the_server_serves_on() {
    if !have_openssl() {
        return;
    }
    let (_sim, mut c) = online(&[]);
    let port = ssl_server(&mut c, 0);
    // Plain text instead of a ClientHello, then a ClientHello cut in the middle.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    let mut b = [0u8; 64];
    let n = s.read(&mut b).unwrap_or(0);
    assert!(n == 0 || b[0] == 0x15, "expected an alert or a close, got {:?}", &b[..n]);
    let mut cut = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    cut.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]).unwrap();
    drop(cut);
    assert_eq!(c.drain(Duration::from_millis(500)), "", "failed handshakes print nothing");
    let mut good = s_client(port, &[]);
    assert_eq!(c.until("CONNECT\r\n", T), "0,CONNECT\r\n");
    good.send(b"still here\n");
    c.until("still here\n\r\n", T);
    assert_eq!(c.cmd("AT"), "\r\nOK\r\n");
}

#[test]
fn tls_1_2_and_1_3_both_work() {
    if !have_openssl() {
        return;
    }
    let (_sim, mut c) = online(&[]);
    let port = ssl_server(&mut c, 0);
    for (flag, want) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
        let mut p = s_client(port, &[flag]);
        let id = c.until("CONNECT\r\n", T);
        p.until(&format!("New, {want}"), T);
        p.send(b"x\n");
        c.until("x\n\r\n", T);
        drop(p);
        let closed = c.until("CLOSED\r\n", T);
        assert_eq!(closed.trim_start_matches("\r\n").split(',').next(), id.split(',').next());
    }
}

/// `openssl s_server` on a free port with the demo server certificate.
fn s_server(extra: &[&str]) -> (Peer, u16) {
    let port = free_port();
    let (cert, key) = (demo("server_cert.pem"), demo("server_key.pem"));
    let p = port.to_string();
    let mut args =
        vec!["s_server", "-accept", &p, "-cert", cert.to_str().unwrap(), "-key", key.to_str().unwrap()];
    args.extend_from_slice(extra);
    let mut peer = Peer::spawn(&args);
    peer.until("ACCEPT", T);
    (peer, port)
}

#[test]
fn ssl_client_verifies_the_server_with_client_ca_and_never_connects_to_a_wrong_one() {
    if !have_openssl() {
        return;
    }
    let (_sim, mut c) = online(&[]);
    // Mode 2: verify the server against client_ca.0 (the demo CA, which signed it).
    assert_eq!(c.cmd("AT+CIPSSLCCONF=2,0,0"), "\r\nOK\r\n");
    let (mut server, port) = s_server(&[]);
    assert_eq!(c.cmd(&format!("AT+CIPSTART=\"SSL\",\"localhost\",{port}")), "CONNECT\r\n\r\nOK\r\n");
    server.send(b"from the server\n");
    assert_eq!(c.until("server\n\r\n", T), "\r\n+IPD,16:from the server\n\r\n");
    c.send(b"AT+CIPSEND=5\r\n");
    c.until(">", T);
    c.send(b"hello");
    c.until("SEND OK\r\n", T);
    server.until("hello", T);
    assert_eq!(c.cmd("AT+CIPCLOSE"), "CLOSED\r\n\r\nOK\r\n");
    drop(server);
    // A server whose certificate is not from client_ca.0: ERROR, no CONNECT (ESP-AT #132).
    let (_rogue, port) = foreign_s_server("foreign-server");
    let out = c.cmd(&format!("AT+CIPSTART=\"SSL\",\"localhost\",{port}"));
    assert_eq!(out, "\r\nERROR\r\n", "a server that fails verification must never get CONNECT");
    assert_eq!(c.cmd("AT+CIPSTATUS"), "STATUS:4\r\n\r\nOK\r\n");
}

#[test]
fn ssl_client_presents_its_certificate_sends_sni_and_alpn() {
    if !have_openssl() {
        return;
    }
    let (_sim, mut c) = online(&[]);
    assert_eq!(c.cmd("AT+CIPSSLCCONF=3,0,0"), "\r\nOK\r\n");
    assert_eq!(c.cmd("AT+CIPSSLCSNI=\"localhost\""), "\r\nOK\r\n");
    assert_eq!(c.cmd("AT+CIPSSLCALPN=2,\"h2\",\"http/1.1\""), "\r\nOK\r\n");
    assert_eq!(c.cmd("AT+CIPSSLCCONF?"), "+CIPSSLCCONF:0,3,0,0\r\n\r\nOK\r\n");
    assert_eq!(c.cmd("AT+CIPSSLCSNI?"), "+CIPSSLCSNI:0,localhost\r\n\r\nOK\r\n");
    assert_eq!(c.cmd("AT+CIPSSLCALPN?"), "+CIPSSLCALPN:0,h2,http/1.1\r\n\r\nOK\r\n");
    let ca = demo("ca.pem");
    let (mut server, port) = s_server(&[
        "-Verify",
        "1",
        "-CAfile",
        ca.to_str().unwrap(),
        "-verify_return_error",
        "-alpn",
        "http/1.1",
        "-tlsextdebug",
    ]);
    assert_eq!(c.cmd(&format!("AT+CIPSTART=\"SSL\",\"127.0.0.1\",{port}")), "CONNECT\r\n\r\nOK\r\n");
    let seen = server.until("CN = esp-at-sim-client", T);
    // ALPN (AT+CIPSSLCALPN) went out: -tlsextdebug dumps the extension with both names.
    let alpn = seen.split("application layer protocol negotiation").nth(1).unwrap_or_default();
    let dump: String = alpn.lines().take(3).collect();
    assert!(dump.contains("h2") && dump.contains("http/1.1"), "{seen}");
    c.send(b"AT+CIPSEND=3\r\n");
    c.until(">", T);
    c.send(b"hi!");
    c.until("SEND OK\r\n", T);
    server.until("hi!", T);
    // SNI went out (AT+CIPSSLCSNI, although the host is an address): -tlsextdebug dumps it.
    assert!(seen.contains("TLS client extension \"server name\"") && seen.contains("localhost"), "{seen}");
}

#[test]
fn a_missing_client_certificate_is_an_error_before_connecting() {
    let (_sim, mut c) = online(&[]);
    assert_eq!(c.cmd("AT+SYSLOG=1"), "\r\nOK\r\n");
    // pki 3 does not exist: ESP-AT's warnings, then OK.
    assert_eq!(c.cmd("AT+CIPSSLCCONF=1,3,0"), "NO CERT FOUND\r\nNO PRVT_KEY FOUND\r\n\r\nOK\r\n");
    let port = free_port();
    let out = c.cmd(&format!("AT+CIPSTART=\"SSL\",\"127.0.0.1\",{port}"));
    assert!(out.starts_with("+ERRNO:0x4301\r\n+ERRINFO:\"client_cert/client_cert.3: "), "{out}");
    assert!(out.ends_with("ERR CODE:0x010a0140\r\n\r\nERROR\r\n"), "{out}");
    let out = c.cmd("AT+CIPSSLCPSK=\"k\",\"h\"");
    assert!(out.contains("TLS-PSK is not supported") && out.ends_with("\r\nERROR\r\n"), "{out}");
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some(i) = stat.rfind(')') else { return 0 };
    let f: Vec<&str> = stat[i + 2..].split(' ').collect();
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

#[test]
fn a_flood_of_stalled_handshakes_never_starves_the_at_port() {
    let (sim, mut c) = online(&[]);
    let port = ssl_server(&mut c, 0);
    // 200 connections that never send a ClientHello (or send half of one), held open.
    let mut stalled = Vec::new();
    let mut worst = Duration::ZERO;
    for i in 0..200 {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            if i % 2 == 0 {
                let _ = s.write_all(&[0x16, 0x03, 0x01, 0x01]);
            }
            stalled.push(s);
        }
        if i % 10 == 0 {
            let t0 = Instant::now();
            c.send(b"AT\r\n");
            c.until("\r\nOK\r\n", T);
            worst = worst.max(t0.elapsed());
        }
    }
    assert!(stalled.len() >= 150, "only {} connections", stalled.len());
    assert!(worst < Duration::from_millis(50), "an AT took {worst:?} during the flood");
    // Nothing was announced: no handshake finished.
    let printed = c.drain(Duration::from_millis(200));
    assert!(!printed.contains("CONNECT"), "{printed}");
    drop(stalled);
    // Afterwards the simulator idles.
    std::thread::sleep(Duration::from_millis(500));
    let before = cpu_ticks(sim.child.id());
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(sim.child.id()) - before;
    assert!(used < 4, "at-sim used {used} ticks in 2 s after the flood");
    assert_eq!(c.cmd("AT"), "\r\nOK\r\n");
}

/// Write a PEM into `mfg_nvs` with AT+SYSMFG (string type 7).
fn sysmfg_write(c: &mut Client, ns: &str, key: &str, pem: &[u8]) {
    c.send(format!("AT+SYSMFG=2,\"{ns}\",\"{key}\",7,{}\r\n", pem.len()).as_bytes());
    c.until(">", T);
    c.send(pem);
    assert!(c.until("OK\r\n", T).ends_with("\r\nOK\r\n"));
}

fn openssl_ok(args: &[&str]) {
    let o = Command::new("openssl").args(args).output().unwrap();
    assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn rsa_and_sec1_server_keys_work_and_a_rewrite_takes_effect_on_the_next_connection() {
    if !have_openssl() {
        return;
    }
    let dir = common::temp("server-keys");
    std::fs::create_dir_all(&dir).unwrap();
    let p = |f: &str| dir.join(f).to_str().unwrap().to_owned();
    // RSA 2048 in PKCS#1 ("BEGIN RSA PRIVATE KEY") and P-256 in SEC1 ("BEGIN EC PRIVATE KEY").
    openssl_ok(&["genrsa", "-traditional", "-out", &p("rsa.pem"), "2048"]);
    openssl_ok(&[
        "req",
        "-new",
        "-x509",
        "-key",
        &p("rsa.pem"),
        "-subj",
        "/CN=rsa",
        "-days",
        "30",
        "-out",
        &p("rsa_cert.pem"),
    ]);
    openssl_ok(&["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", &p("ec.pem")]);
    openssl_ok(&[
        "req",
        "-new",
        "-x509",
        "-key",
        &p("ec.pem"),
        "-subj",
        "/CN=ec",
        "-days",
        "30",
        "-out",
        &p("ec_cert.pem"),
    ]);
    let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
    assert!(read("rsa.pem").starts_with(b"-----BEGIN RSA PRIVATE KEY"));
    assert!(read("ec.pem").starts_with(b"-----BEGIN EC PRIVATE KEY"));

    let (_sim, mut c) = online(&[]);
    sysmfg_write(&mut c, "server_cert", "server_cert", &read("rsa_cert.pem"));
    sysmfg_write(&mut c, "server_key", "server_key", &read("rsa.pem"));
    let port = ssl_server(&mut c, 0);
    let mut rsa = Peer::spawn(&["s_client", "-connect", &format!("127.0.0.1:{port}")]);
    c.until("0,CONNECT\r\n", T);
    rsa.until("subject=CN = rsa", T);
    drop(rsa);
    c.until("0,CLOSED\r\n", T);
    // Rewrite the certificate and key while the server runs: the next client sees the new one.
    sysmfg_write(&mut c, "server_cert", "server_cert", &read("ec_cert.pem"));
    sysmfg_write(&mut c, "server_key", "server_key", &read("ec.pem"));
    let mut ec = Peer::spawn(&["s_client", "-connect", &format!("127.0.0.1:{port}")]);
    c.until("0,CONNECT\r\n", T);
    ec.until("subject=CN = ec", T);
    drop(ec);
    c.until("0,CLOSED\r\n", T);
    // A key that does not match its certificate is refused at AT+CIPSERVER, by name.
    assert_eq!(c.cmd("AT+CIPSERVER=0"), "\r\nOK\r\n");
    sysmfg_write(&mut c, "server_key", "server_key", &read("rsa.pem"));
    assert_eq!(c.cmd("AT+SYSLOG=1"), "\r\nOK\r\n");
    let out = c.cmd(&format!("AT+CIPSERVER=1,{port},\"SSL\",0"));
    assert!(out.contains("server_key/server_key does not match server_cert/server_cert"), "{out}");
    assert!(out.ends_with("ERR CODE:0x010a0143\r\n\r\nERROR\r\n"), "{out}");
}

#[test]
fn ssl_passthrough_and_passive_receive() {
    if !have_openssl() {
        return;
    }
    let (_sim, mut c) = online(&[]);
    let (mut server, port) = s_server(&[]);
    // Passthrough over SSL: raw bytes both ways, +++ back to commands.
    assert_eq!(c.cmd("AT+CIPMODE=1"), "\r\nOK\r\n");
    assert_eq!(c.cmd(&format!("AT+CIPSTART=\"SSL\",\"127.0.0.1\",{port}")), "CONNECT\r\n\r\nOK\r\n");
    c.send(b"AT+CIPSEND\r\n");
    c.until(">", T);
    c.send(b"through TLS\n");
    server.until("through TLS", T);
    server.send(b"and back\n");
    assert_eq!(c.until("back\n", T), "and back\n");
    std::thread::sleep(Duration::from_millis(50));
    c.send(b"+++");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(c.cmd("AT+CIPMODE=0"), "\r\nOK\r\n");
    assert_eq!(c.cmd("AT+CIPCLOSE"), "CLOSED\r\n\r\nOK\r\n");
    drop(server);
    // Passive receive on an SSL link: notice, then the bytes exactly once.
    let (mut server, port) = s_server(&[]);
    assert_eq!(c.cmd("AT+CIPRECVTYPE=1"), "\r\nOK\r\n");
    assert_eq!(c.cmd(&format!("AT+CIPSTART=\"SSL\",\"127.0.0.1\",{port}")), "CONNECT\r\n\r\nOK\r\n");
    server.send(b"0123456789\n");
    assert_eq!(c.until("\r\n+IPD,11\r\n", T), "\r\n+IPD,11\r\n");
    assert_eq!(c.cmd("AT+CIPRECVLEN?"), "+CIPRECVLEN:11\r\n\r\nOK\r\n");
    // A partial read: the rest is announced again after the OK (as ESP-AT).
    c.send(b"AT+CIPRECVDATA=4\r\n");
    assert_eq!(c.until("+IPD,7\r\n", T), "+CIPRECVDATA:4,0123\r\nOK\r\n\r\n+IPD,7\r\n");
    assert_eq!(c.cmd("AT+CIPRECVDATA=100"), "+CIPRECVDATA:7,456789\n\r\nOK\r\n");
}

#[test]
fn a_megabyte_uploaded_over_ssl_reaches_the_host_and_then_closed() {
    if !have_openssl() {
        return;
    }
    let (_sim, mut c) = online(&[]);
    let port = ssl_server(&mut c, 0);
    let data: Vec<u8> = (0..1024 * 1024u32).map(|i| b'a' + (i % 26) as u8).collect();
    let file = common::temp("upload.bin");
    std::fs::write(&file, &data).unwrap();
    // An OpenSSL client (Python's ssl module: `openssl s_client` drops bytes of a piped
    // binary file, seen against `openssl s_server` too) sends the file, then close_notify.
    let script = format!(
        "import socket,ssl\n\
         ctx=ssl.create_default_context(cafile={ca:?})\n\
         s=ctx.wrap_socket(socket.create_connection(('127.0.0.1',{port})),server_hostname='localhost')\n\
         s.sendall(open({file:?},'rb').read())\n\
         s.unwrap()\n",
        ca = demo("ca.pem").to_str().unwrap(),
        file = file.to_str().unwrap(),
    );
    let mut p = Command::new("python3")
        .args(["-c", &script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The whole stream, until the link is reported closed (after its last byte).
    let mut wire = Vec::new();
    let end = Instant::now() + Duration::from_secs(30);
    while !wire.ends_with(b"0,CLOSED\r\n") {
        assert!(Instant::now() < end, "stalled after {} bytes on the AT port", wire.len());
        wire.extend(c.read_n(1, Duration::from_secs(5)));
        let more = c.drain_bytes();
        wire.extend(more);
    }
    let _ = p.kill();
    let _ = p.wait();
    let text = &wire[..];
    let mut payload = Vec::new();
    let mut rest = &text["0,CONNECT\r\n".len()..text.len() - "0,CLOSED\r\n".len()];
    while !rest.is_empty() {
        assert!(rest.starts_with(b"\r\n+IPD,0,"), "framing");
        rest = &rest[9..];
        let colon = rest.iter().position(|&b| b == b':').unwrap();
        let len: usize = std::str::from_utf8(&rest[..colon]).unwrap().parse().unwrap();
        payload.extend_from_slice(&rest[colon + 1..colon + 1 + len]);
        rest = &rest[colon + 1 + len + 2..];
    }
    let first_diff = payload.iter().zip(&data).position(|(a, b)| a != b);
    assert_eq!(payload.len(), data.len(), "first difference at {first_diff:?}");
    assert!(payload == data, "first difference at {first_diff:?}");
}

#[test]
fn savetranslink_ssl_enters_passthrough_over_tls_at_boot() {
    if !have_openssl() {
        return;
    }
    let (mut server, port) = s_server(&[]);
    let state = common::temp("translink-state.bin");
    let st = state.to_str().unwrap().to_owned();
    {
        let (_sim, mut c) = online(&["--state", &st]);
        assert_eq!(c.cmd(&format!("AT+SAVETRANSLINK=1,\"127.0.0.1\",{port},\"SSL\"")), "\r\nOK\r\n");
    }
    // Power cycle: the stored AP is joined, the SSL link opened, passthrough entered.
    let sim = Sim::start(&["--state", &st]);
    let mut c = sim.connect();
    let boot = c.until("\r\n>", T);
    assert!(boot.contains("WIFI GOT IP"), "{boot}");
    c.send(b"over TLS from boot\n");
    server.until("over TLS from boot", T);
    server.send(b"welcome\n");
    assert_eq!(c.until("welcome\n", T), "welcome\n");
    drop(sim);
    let _ = std::fs::remove_file(&state);
}

#[test]
fn an_oversized_record_fails_the_connection_without_spinning() {
    let (sim, mut c) = online(&[]);
    let port = ssl_server(&mut c, 0);
    // A handshake record claiming 17,000 and then 24,000 bytes: more than a record may hold.
    for len in [17_000u16, 24_000] {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut rec = vec![0x16, 0x03, 0x01, (len >> 8) as u8, len as u8];
        rec.extend(std::iter::repeat_n(b'A', usize::from(len)));
        let _ = s.write_all(&rec);
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut b = [0u8; 64];
        let t0 = Instant::now();
        // The server gives up on the connection promptly (an alert and/or a close).
        loop {
            match s.read(&mut b) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        assert!(t0.elapsed() < Duration::from_secs(3), "the connection was held {:?}", t0.elapsed());
    }
    std::thread::sleep(Duration::from_millis(300));
    let before = cpu_ticks(sim.child.id());
    std::thread::sleep(Duration::from_secs(2));
    assert!(cpu_ticks(sim.child.id()) - before < 4, "at-sim spins after oversized records");
    assert_eq!(c.drain(Duration::from_millis(100)), "", "nothing announced");
}

/// The seed scenario and an SSL client link with the ESP32-C3's TLS (`--tls mbedtls`:
/// MbedTLS through at-tls-mbedtls instead of rustls): SSL handshakes through the same TLS
/// code the chip runs, driven by at-core and at-links over the host's sockets.
#[test]
fn with_the_devices_mbedtls_the_seed_sequence_and_a_verified_client_link_work() {
    if !have_openssl() {
        eprintln!("openssl not installed: skipped (CI installs it)");
        return;
    }
    let (offset, port) = offset_for_333();
    let sim = Sim::start(&["--tls", "mbedtls", "--port-offset", &offset.to_string()]);
    let mut c = sim.connect();
    c.until("ready\r\n", T);
    // The seed's command sequence: an SSL server without client certificates.
    assert_eq!(c.cmd("AT+CWMODE=1"), "AT+CWMODE=1\r\n\r\nOK\r\n");
    c.send(b"AT+CWJAP=\"esp-at-sim\",\"12345678\"\r\n");
    assert!(c.until("OK\r\n", T).ends_with("WIFI GOT IP\r\n\r\nOK\r\n"));
    assert_eq!(c.cmd("ATE0"), "ATE0\r\n\r\nOK\r\n");
    assert_eq!(c.cmd("AT+CIPMUX=1"), "\r\nOK\r\n");
    assert_eq!(c.cmd("AT+CIPSERVER=1,333,\"SSL\",0"), "\r\nOK\r\n");
    seed_exchange(&mut c, port);
    assert_eq!(c.cmd("AT+CIPSERVER=0,1"), "\r\nOK\r\n");

    // A client link in mode 2: the server is verified against client_ca.0.
    assert_eq!(c.cmd("AT+CIPSSLCCONF=0,2,0,0"), "\r\nOK\r\n");
    let (mut server, sport) = s_server(&[]);
    let out = c.cmd(&format!("AT+CIPSTART=0,\"SSL\",\"localhost\",{sport}"));
    assert_eq!(out, "0,CONNECT\r\n\r\nOK\r\n");
    server.send(b"from the server\n");
    assert_eq!(c.until("server\n\r\n", T), "\r\n+IPD,0,16:from the server\n\r\n");
    c.send(b"AT+CIPSEND=0,5\r\n");
    c.until(">", T);
    c.send(b"hello");
    c.until("SEND OK\r\n", T);
    server.until("hello", T);
    assert_eq!(c.cmd("AT+CIPCLOSE=0"), "0,CLOSED\r\n\r\nOK\r\n");
    drop(server);
    // A server the CA did not sign: ERROR, never CONNECT.
    let (rogue, rport) = foreign_s_server("mbedtls-foreign-server");
    let out = c.cmd(&format!("AT+CIPSTART=0,\"SSL\",\"localhost\",{rport}"));
    assert_eq!(out, "\r\nERROR\r\n", "a server that fails verification must never get CONNECT");
    drop(rogue);
    // MbedTLS (mbedtls-rs 0.3.0) cannot restrict cipher suites: a link with an
    // AT+CIPSSLCCIPHER list is refused before connecting rather than offering others
    // (docs/compat.md). rustls would connect here.
    assert_eq!(c.cmd("AT+CIPSSLCCIPHER=0,1,4865"), "\r\nOK\r\n");
    let (_server, sport) = s_server(&[]);
    let out = c.cmd(&format!("AT+CIPSTART=0,\"SSL\",\"localhost\",{sport}"));
    assert_eq!(out, "\r\nERROR\r\n");
}
