//! Heap a TCP link costs, idle and busy, and an SSL link during a transfer, counted with
//! dhat's allocator (so it is its own bench binary: the counting would distort timings).
//!
//! `cargo bench -p at-benches --bench link_heap`

#[path = "rig.rs"]
mod rig;

use std::time::Duration;

use rig::Rig;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let _profiler = dhat::Profiler::builder().testing().build();
    heap_report();
    ssl_heap_report(false);
    ssl_heap_report(true);
}

/// The simulator (host platform, real loopback sockets) runs in a thread of this process; the
/// SSL client is another process (Python's ssl module, OpenSSL), so only the firmware side is
/// counted. Reported: heap added by one SSL link idle after its handshake, and at its peak
/// while 4 MiB stream in and out as `+IPD` to a host reading the AT port.
fn ssl_heap_report(ssl: bool) {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::process::{Command, Stdio};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    if Command::new("python3").arg("-c").arg("import ssl").output().is_err() {
        println!("ssl heap: python3 not found, skipped");
        return;
    }
    let free = || TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let at_port = free();
    let ssl_port = free();
    std::thread::spawn(move || {
        let cfg = at_host::sim::SimConfig {
            uart: at_host::transport::UartMode::Tcp(format!("127.0.0.1:{at_port}").parse().unwrap()),
            terminator: None,
            aps: vec![at_mock::SimAp::new(b"bench", b"12345678")],
            join: Duration::from_millis(10),
            state: None,
            mfg: at_host::mfg::MfgSource::default(),
            net: at_host::StdNetConfig::default(),
            link_buffer: 2920,
            tls: Default::default(),
        };
        let _ = at_host::sim::run(cfg);
    });
    let mut at = loop {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", at_port)) {
            break s;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut buf = vec![0u8; 64 * 1024];
    let mut seen = Vec::with_capacity(64 * 1024 + 256);
    let mut wait_for = |at: &mut TcpStream, want: &[u8]| {
        // Keep only a short tail: the stream itself must not count as the firmware's heap.
        while !seen.windows(want.len()).any(|w| w == want) {
            let n = at.read(&mut buf).unwrap();
            seen.extend_from_slice(&buf[..n]);
            if seen.len() > 256 {
                seen.drain(..seen.len() - 64);
            }
        }
        seen.clear();
    };
    wait_for(&mut at, b"ready\r\n");
    for (cmd, want) in [
        ("ATE0\r\n", &b"OK\r\n"[..]),
        ("AT+CWJAP=\"bench\",\"12345678\"\r\n", b"OK\r\n"),
        ("AT+CIPMUX=1\r\n", b"OK\r\n"),
        (&format!("AT+CIPSERVER=1,{ssl_port},\"{}\",0\r\n", if ssl { "SSL" } else { "TCP" }), b"OK\r\n"),
    ] {
        at.write_all(cmd.as_bytes()).unwrap();
        wait_for(&mut at, want);
    }
    std::thread::sleep(Duration::from_millis(200));
    let live = || dhat::HeapStats::get().curr_bytes;
    let base = live();
    let peak = Arc::new(AtomicUsize::new(base));
    let sampling = Arc::new(AtomicBool::new(true));
    {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(dhat::HeapStats::get().curr_bytes, Ordering::Relaxed);
                std::thread::sleep(Duration::from_micros(200));
            }
        });
    }
    let ca = concat!(env!("CARGO_MANIFEST_DIR"), "/../crates/at-certstore/demo/ca.pem");
    let script = if ssl {
        format!(
            "import socket,ssl,time\n\
             ctx=ssl.create_default_context(cafile='{ca}')\n\
             s=ctx.wrap_socket(socket.create_connection(('127.0.0.1',{ssl_port})),server_hostname='localhost')\n\
             time.sleep(0.5)\n\
             s.sendall(b'x'*(4<<20))\n\
             s.unwrap()\n"
        )
    } else {
        format!(
            "import socket,time\n\
             s=socket.create_connection(('127.0.0.1',{ssl_port}))\n\
             time.sleep(0.5)\n\
             s.sendall(b'x'*(4<<20))\n\
             s.close()\n"
        )
    };
    let mut client = Command::new("python3")
        .args(["-c", &script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&mut at, b"0,CONNECT\r\n");
    std::thread::sleep(Duration::from_millis(250));
    let idle = live().saturating_sub(base);
    wait_for(&mut at, b"0,CLOSED\r\n");
    sampling.store(false, Ordering::Relaxed);
    let _ = client.wait();
    let busy = peak.load(Ordering::Relaxed).saturating_sub(base);
    let what = if ssl { "SSL link" } else { "TCP link (same harness)" };
    println!("heap: {what} idle after connecting {idle:>8} B; peak while 4 MiB stream in {busy:>8} B");
}

/// Heap per link, idle and busy, with everything else held constant.
fn heap_report() {
    let live = || dhat::HeapStats::get().curr_bytes;
    let base = {
        let r = Rig::new(0);
        let h = live();
        drop(r);
        h
    };
    let idle = {
        let r = Rig::new(5);
        let h = live();
        drop(r);
        h
    };
    // Busy: the peers push more than the links hold and nobody reads the AT port; the links
    // also hold unsent bytes (the peers stop reading).
    let busy = {
        let mut r = Rig::new(5);
        let payload = vec![0x11; 16 * 1024];
        for &p in &r.peers.clone() {
            r.fw.platform().net.peer_send(p, &payload);
        }
        for _ in 0..50 {
            r.now = r.now + Duration::from_millis(1);
            r.fw.poll(r.now);
        }
        let h = live();
        drop(r);
        h
    };
    let per = |h: usize| (h.saturating_sub(base)) as f64 / 5.0;
    println!("heap: device with server, no links {base} B (firmware, mock platform and simulated stack)");
    println!("heap: per idle TCP link   {:>8.0} B (link buffers are allocated when it opens)", per(idle));
    println!(
        "heap: per busy TCP link   {:>8.0} B (receive buffer full, AT port not read; includes the \
         simulated stack's queued bytes)",
        per(busy)
    );
}
