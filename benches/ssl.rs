//! The SSL server against `openssl s_server`, side by side in one run, serving the same client.
//!
//! The client is rustls (in this process), verifying the demo CA; both servers use the demo
//! server certificate (P-256). Measured:
//!
//! * **bulk**: the client sends `SSL_MB` MiB and a `close_notify`, then waits for the server
//!   to close. at-sim closes only after every byte reached its AT host (as `+IPD`, read by a
//!   thread here); `s_server` after writing them to its stdout (`/dev/null`).
//! * **handshakes/s**: `SSL_HANDSHAKES` sequential connections, each a full handshake (no
//!   resumption) and a close.
//!
//! ```text
//! cargo bench -p at-benches --bench ssl        # SSL_MB=32 SSL_HANDSHAKES=200
//! ```
//!
//! at-sim runs in a child process (this binary with `--at-sim-child`, `--link-buffer 65536`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CHILD_FLAG: &str = "--at-sim-child";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(CHILD_FLAG) {
        run_simulator();
        return;
    }
    if args.iter().any(|a| a == "--list") {
        return;
    }
    if Command::new("openssl").arg("version").output().is_err() {
        println!("openssl not found: install it for the reference");
        return;
    }
    let mb: usize = env_or("SSL_MB", 32);
    let n: usize = env_or("SSL_HANDSHAKES", 200);
    let config = client_config();
    let data: Vec<u8> = (0..mb * 1024 * 1024).map(|i| (i * 7 + 1) as u8).collect();

    let (sim, at, sim_port) = start_sim();
    let sim_bulk = bulk(&config, sim_port, &data);
    let sim_hs = handshakes(&config, sim_port, n);
    drop(at);
    drop(sim);

    let (server, port) = start_s_server();
    let ref_bulk = bulk(&config, port, &data);
    let ref_hs = handshakes(&config, port, n);
    drop(server);

    let mbs = |d: Duration| data.len() as f64 / 1e6 / d.as_secs_f64();
    let hps = |d: Duration| n as f64 / d.as_secs_f64();
    println!("SSL server, {mb} MiB upload and {n} full handshakes (rustls client, P-256 certificate)");
    println!("{:<22} {:>12} {:>14}", "server", "bulk MB/s", "handshakes/s");
    println!("{:<22} {:>12.1} {:>14.0}", "at-sim", mbs(sim_bulk), hps(sim_hs));
    println!("{:<22} {:>12.1} {:>14.0}", "openssl s_server", mbs(ref_bulk), hps(ref_hs));
    println!(
        "at-sim / openssl: bulk {:.2}x, handshakes {:.2}x",
        ref_bulk.as_secs_f64() / sim_bulk.as_secs_f64(),
        ref_hs.as_secs_f64() / sim_hs.as_secs_f64()
    );
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn demo(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crates/at-certstore/demo").join(file)
}

fn client_config() -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in at_certstore::format::parse_certificates(at_certstore::demo::CA_CERT).unwrap() {
        roots.add(c).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut c = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    c.resumption = rustls::client::Resumption::disabled();
    Arc::new(c)
}

fn connect(
    config: &Arc<rustls::ClientConfig>,
    port: u16,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(config.clone(), name).unwrap();
    let sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_nodelay(true).unwrap();
    rustls::StreamOwned::new(conn, sock)
}

/// Upload `data`, close, wait for the server's close.
fn bulk(config: &Arc<rustls::ClientConfig>, port: u16, data: &[u8]) -> Duration {
    let t0 = Instant::now();
    let mut s = connect(config, port);
    for chunk in data.chunks(16 * 1024) {
        s.write_all(chunk).unwrap();
    }
    s.conn.send_close_notify();
    s.flush().unwrap();
    let _ = s.sock.flush();
    let mut sink = [0u8; 4096];
    loop {
        match s.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    t0.elapsed()
}

fn handshakes(config: &Arc<rustls::ClientConfig>, port: u16, n: usize) -> Duration {
    let t0 = Instant::now();
    for _ in 0..n {
        let mut s = connect(config, port);
        while s.conn.is_handshaking() {
            s.conn.complete_io(&mut s.sock).unwrap();
        }
        s.conn.send_close_notify();
        let _ = s.conn.complete_io(&mut s.sock);
    }
    t0.elapsed()
}

struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_s_server() -> (Reaped, u16) {
    let port = free_port();
    let mut child = Command::new("openssl")
        .args(["s_server", "-quiet", "-accept", &port.to_string()])
        .arg("-cert")
        .arg(demo("server_cert.pem"))
        .arg("-key")
        .arg(demo("server_key.pem"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_server");
    let _keep_stdin_open = child.stdin.take().map(Box::new).map(Box::leak);
    let end = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < end, "s_server did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    (Reaped(child), port)
}

/// at-sim with an SSL server; a thread reads (and drops) its AT port's output.
fn start_sim() -> (Reaped, TcpStream, u16) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg(CHILD_FLAG)
        .env("RUST_LOG", std::env::var("SSL_LOG").unwrap_or_else(|_| "off".into()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("simulator");
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let addr = line.trim().rsplit("tcp://").next().unwrap().to_owned();
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    let child = Reaped(child);
    let mut at = TcpStream::connect(&addr).unwrap();
    let port = free_port();
    let mut got = Vec::new();
    let mut b = [0u8; 4096];
    let mut cmd = |at: &mut TcpStream, c: &str, want: &str| {
        at.write_all(c.as_bytes()).unwrap();
        let end = Instant::now() + Duration::from_secs(10);
        while !String::from_utf8_lossy(&got).contains(want) {
            assert!(Instant::now() < end, "{c:?}: {:?}", String::from_utf8_lossy(&got));
            let n = at.read(&mut b).unwrap();
            got.extend_from_slice(&b[..n]);
        }
        got.clear();
    };
    cmd(&mut at, "", "ready\r\n");
    cmd(&mut at, "ATE0\r\n", "OK\r\n");
    cmd(&mut at, "AT+CWJAP=\"bench\",\"12345678\"\r\n", "OK\r\n");
    cmd(&mut at, "AT+CIPMUX=1\r\n", "OK\r\n");
    cmd(&mut at, &format!("AT+CIPSERVER=1,{port},\"SSL\",0\r\n"), "OK\r\n");
    // The AT host: read everything (+IPD, CONNECT, CLOSED) as fast as it comes.
    let mut reader = at.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut b = vec![0u8; 64 * 1024];
        while matches!(reader.read(&mut b), Ok(n) if n > 0) {}
    });
    (child, at, port)
}

fn run_simulator() {
    use at_host::sim::{SimConfig, run};
    let cfg = SimConfig {
        uart: at_host::transport::UartMode::Tcp("127.0.0.1:0".parse().unwrap()),
        terminator: None,
        aps: vec![at_mock::SimAp::new(b"bench", b"12345678")],
        join: Duration::from_millis(10),
        state: None,
        mfg: at_host::mfg::MfgSource::default(),
        net: at_host::StdNetConfig::default(),
        // PC-sized link buffers (as the relay bench's second run): a link reads 64 KiB per
        // poll instead of one frame's worth.
        link_buffer: 64 * 1024,
        tls: Default::default(),
    };
    if let Err(e) = run(cfg) {
        eprintln!("simulator: {e}");
        std::process::exit(1);
    }
}
