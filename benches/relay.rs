//! Passthrough relay throughput: `at-sim` against `socat`, side by side in one run.
//!
//! Both relay the same bytes between the same kind of endpoints: a "host" TCP connection on
//! one side (at-sim's AT port over TCP, or socat's listening socket) and a loopback TCP peer on
//! the other (the link at-sim opens with `AT+CIPSTART`, or socat's connect). The host and the
//! peer send `RELAY_MB` MiB each at the same time; both sides check every byte. Reported: the
//! wall time, MB/s through the relay (both directions counted), and the relay process's CPU
//! seconds per MB (user + system, from `/proc/<pid>/stat`).
//!
//! ```text
//! cargo bench -p at-benches --bench relay            # RELAY_MB=16 RELAY_RUNS=3 by default
//! ```
//!
//! The simulator runs in a child process (this binary, re-executed with `--at-sim-child`), so
//! its CPU time is measured exactly as socat's is. Needs `socat` on the PATH (skipped with a
//! note otherwise).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const CHILD_FLAG: &str = "--at-sim-child";
/// Link buffers of the PC run (`at-sim --link-buffer`).
const PC_BUFFER: usize = 64 * 1024;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(CHILD_FLAG) {
        run_simulator(args.get(2).and_then(|v| v.parse().ok()).unwrap_or(2920));
        return;
    }
    if args.iter().any(|a| a == "--list") {
        // `cargo bench -- --list` and test discovery: nothing to list.
        return;
    }
    let mb: usize = env_or("RELAY_MB", 16);
    let runs: usize = env_or("RELAY_RUNS", 3);
    let bytes = mb * 1024 * 1024;
    println!("passthrough relay: {mb} MiB each way at once, {runs} runs, best run shown");
    println!("{:<34} {:>10} {:>10} {:>14}", "relay", "time (s)", "MB/s", "CPU s per MB");
    let device = best(runs, || relay_at_sim(bytes, 2920));
    report("at-sim (device buffers, 2920 B)", bytes, device);
    let sim = best(runs, || relay_at_sim(bytes, PC_BUFFER));
    report("at-sim (--link-buffer 65536)", bytes, sim);
    let have_socat =
        Command::new("socat").arg("-V").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    if !have_socat {
        println!("socat not found: install it (Debian: apt-get install socat) for the reference");
        return;
    }
    let socat = best(runs, || relay_socat(bytes));
    report("socat (reference)", bytes, socat);
    println!(
        "at-sim / socat: throughput {:.2}×, CPU per MB {:.2}×",
        socat.wall.as_secs_f64() / sim.wall.as_secs_f64(),
        sim.cpu_s / socat.cpu_s.max(1e-9)
    );
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[derive(Debug, Clone, Copy)]
struct Run {
    wall: Duration,
    /// CPU seconds the relay process used for the transfer.
    cpu_s: f64,
}

fn best(runs: usize, mut f: impl FnMut() -> Run) -> Run {
    (0..runs.max(1)).map(|_| f()).min_by(|a, b| a.wall.cmp(&b.wall)).expect("one run")
}

fn report(name: &str, bytes: usize, r: Run) {
    let mb = 2.0 * bytes as f64 / 1e6;
    println!(
        "{name:<34} {:>10.3} {:>10.1} {:>14.5}",
        r.wall.as_secs_f64(),
        mb / r.wall.as_secs_f64(),
        r.cpu_s / mb
    );
}

/// User + system CPU seconds of `pid` so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    // USER_HZ is 100 on Linux.
    ticks as f64 / 100.0
}

/// Bytes that differ per position and per direction.
fn pattern(seed: u32, len: usize) -> Vec<u8> {
    (0..len as u32).map(|i| (i.wrapping_add(seed).wrapping_mul(2_654_435_761) >> 17) as u8).collect()
}

/// Send `data` on `w` while reading `expect.len()` bytes from `r` and checking them; returns
/// when both are done.
fn exchange(
    side: &'static str,
    mut w: TcpStream,
    mut r: TcpStream,
    data: Vec<u8>,
    expect: Vec<u8>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let writer = thread::spawn(move || {
            for chunk in data.chunks(16 * 1024) {
                w.write_all(chunk).expect("write");
            }
            w
        });
        let mut got = 0;
        let mut buf = vec![0u8; 64 * 1024];
        r.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        while got < expect.len() {
            let n = r.read(&mut buf).unwrap_or_else(|e| panic!("{side}: read after {got} bytes: {e}"));
            assert!(n > 0, "{side}: relay closed after {got} of {} bytes", expect.len());
            if let Some(at) = (0..n).find(|&i| buf[i] != expect[got + i]) {
                let from = at.saturating_sub(8);
                panic!(
                    "{side}: byte {} differs: got {:?}, want {:?}",
                    got + at,
                    &buf[from..(at + 8).min(n)],
                    &expect[got + from..(got + at + 8).min(expect.len())]
                );
            }
            got += n;
        }
        let _w = writer.join().expect("writer");
    })
}

/// Time the simultaneous exchange through a relay whose process is `pid`: `host` is the
/// host's connection to the relay, `peer` the relay's connection to the peer.
fn measure(pid: u32, host: TcpStream, peer: TcpStream, bytes: usize) -> Run {
    let up = pattern(1, bytes);
    let down = pattern(2, bytes);
    let cpu0 = cpu_seconds(pid);
    let t0 = Instant::now();
    let a = exchange("host", host.try_clone().unwrap(), host, up.clone(), down.clone());
    let b = exchange("peer", peer.try_clone().unwrap(), peer, down, up);
    a.join().expect("host side");
    b.join().expect("peer side");
    let wall = t0.elapsed();
    Run { wall, cpu_s: cpu_seconds(pid) - cpu0 }
}

struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn relay_at_sim(bytes: usize, link_buffer: usize) -> Run {
    let exe = std::env::current_exe().expect("own path");
    let mut child = Command::new(exe)
        .arg(CHILD_FLAG)
        .arg(link_buffer.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the simulator");
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let child = Reaped(child);
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let addr = line.trim().rsplit("tcp://").next().unwrap().to_owned();
    thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));

    let peer_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let peer_port = peer_listener.local_addr().unwrap().port();
    let mut host = TcpStream::connect(&addr).unwrap();
    host.set_nodelay(true).unwrap();
    let mut at = |cmd: &str, want: &str| {
        host.write_all(cmd.as_bytes()).unwrap();
        let mut got = Vec::new();
        let mut b = [0u8; 256];
        let end = Instant::now() + Duration::from_secs(10);
        while !String::from_utf8_lossy(&got).contains(want) {
            assert!(Instant::now() < end, "{cmd:?}: no {want:?} in {:?}", String::from_utf8_lossy(&got));
            let n = host.read(&mut b).unwrap();
            got.extend_from_slice(&b[..n]);
        }
    };
    at("", "ready\r\n");
    at("ATE0\r\n", "OK\r\n");
    at("AT+CWJAP=\"bench\",\"12345678\"\r\n", "OK\r\n");
    at(&format!("AT+CIPSTART=\"TCP\",\"127.0.0.1\",{peer_port}\r\n"), "OK\r\n");
    let (peer, _) = peer_listener.accept().unwrap();
    at("AT+CIPMODE=1\r\n", "OK\r\n");
    at("AT+CIPSEND\r\n", ">");
    let run = measure(child.0.id(), host, peer, bytes);
    drop(child);
    run
}

fn relay_socat(bytes: usize) -> Run {
    let peer_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let peer_port = peer_listener.local_addr().unwrap().port();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("socat")
        .arg(format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr"))
        .arg(format!("TCP:127.0.0.1:{peer_port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn socat");
    let child = Reaped(child);
    let end = Instant::now() + Duration::from_secs(10);
    let host = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(_) if Instant::now() < end => thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("socat did not listen: {e}"),
        }
    };
    host.set_nodelay(true).unwrap();
    let (peer, _) = peer_listener.accept().unwrap();
    let run = measure(child.0.id(), host, peer, bytes);
    drop(child);
    run
}

/// The child: at-sim with its AT port on an ephemeral TCP port (printed first on stderr).
fn run_simulator(link_buffer: usize) {
    use at_host::sim::{SimConfig, run};
    let cfg = SimConfig {
        uart: at_host::transport::UartMode::Tcp("127.0.0.1:0".parse().unwrap()),
        terminator: None,
        aps: vec![at_mock::SimAp::new(b"bench", b"12345678")],
        join: Duration::from_millis(10),
        state: None,
        mfg: at_host::mfg::MfgSource::default(),
        net: at_host::StdNetConfig::default(),
        link_buffer,
        tls: Default::default(),
    };
    if let Err(e) = run(cfg) {
        eprintln!("simulator: {e}");
        std::process::exit(1);
    }
}
