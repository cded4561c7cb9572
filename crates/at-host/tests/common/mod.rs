//! Drives the real `at-sim` binary over TCP.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Sim {
    pub child: Child,
    pub addr: String,
}

impl Sim {
    pub fn start(extra: &[&str]) -> Sim {
        let mut child = Command::new(env!("CARGO_BIN_EXE_at-sim"))
            .args(["--uart", "tcp:127.0.0.1:0", "--join-ms", "300", "--log-level", "warn"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn at-sim");
        let mut err = BufReader::new(child.stderr.take().expect("stderr"));
        let mut line = String::new();
        err.read_line(&mut line).expect("read stderr");
        let addr = line.trim().rsplit("tcp://").next().expect("address line").to_owned();
        // Keep draining stderr so logging never fills the pipe.
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = err.read_to_end(&mut sink);
        });
        Sim { child, addr }
    }

    pub fn connect(&self) -> Client {
        let s = TcpStream::connect(&self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        Client { s, buf: Vec::new() }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Client {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn send(&mut self, b: &[u8]) {
        self.s.write_all(b).unwrap();
    }

    /// Read until `want` has arrived (returns everything up to and including it).
    pub fn until(&mut self, want: &str, timeout: Duration) -> String {
        let end = Instant::now() + timeout;
        loop {
            if let Some(i) = find(&self.buf, want.as_bytes()) {
                let rest = self.buf.split_off(i + want.len());
                let got = std::mem::replace(&mut self.buf, rest);
                return String::from_utf8_lossy(&got).into_owned();
            }
            assert!(
                Instant::now() < end,
                "timed out waiting for {want:?}; got {:?}",
                String::from_utf8_lossy(&self.buf)
            );
            let mut tmp = [0u8; 1024];
            match self.s.read(&mut tmp) {
                Ok(0) => panic!("connection closed; got {:?}", String::from_utf8_lossy(&self.buf)),
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
                Err(_) => {}
            }
        }
    }

    /// Exactly `n` raw bytes (whatever they are), within `timeout`.
    pub fn read_n(&mut self, n: usize, timeout: Duration) -> Vec<u8> {
        let end = Instant::now() + timeout;
        let mut tmp = vec![0u8; 65536];
        while self.buf.len() < n {
            assert!(Instant::now() < end, "timed out: {} of {n} bytes", self.buf.len());
            match self.s.read(&mut tmp) {
                Ok(0) => panic!("connection closed after {} of {n} bytes", self.buf.len()),
                Ok(k) => self.buf.extend_from_slice(&tmp[..k]),
                Err(_) => {}
            }
        }
        let rest = self.buf.split_off(n);
        std::mem::replace(&mut self.buf, rest)
    }

    /// Everything buffered plus what one read (≤ 50 ms) brings, as bytes.
    pub fn drain_bytes(&mut self) -> Vec<u8> {
        let mut tmp = vec![0u8; 65536];
        if let Ok(k) = self.s.read(&mut tmp) {
            self.buf.extend_from_slice(&tmp[..k]);
        }
        std::mem::take(&mut self.buf)
    }

    /// A second handle on the connection, for writing from another thread.
    pub fn writer(&self) -> TcpStream {
        self.s.try_clone().expect("clone")
    }

    /// Read and count bytes until nothing arrives for `quiet`.
    pub fn drain_count(&mut self, quiet: Duration) -> usize {
        let mut total = std::mem::take(&mut self.buf).len();
        let mut last = Instant::now();
        let mut tmp = vec![0u8; 65536];
        while last.elapsed() < quiet {
            if let Ok(n) = self.s.read(&mut tmp) {
                if n == 0 {
                    break;
                }
                total += n;
                last = Instant::now();
            }
        }
        total
    }

    /// Whatever arrives within `d`.
    pub fn drain(&mut self, d: Duration) -> String {
        let end = Instant::now() + d;
        while Instant::now() < end {
            let mut tmp = [0u8; 1024];
            if let Ok(n) = self.s.read(&mut tmp) {
                if n == 0 {
                    break;
                }
                self.buf.extend_from_slice(&tmp[..n]);
            }
        }
        String::from_utf8_lossy(&std::mem::take(&mut self.buf)).into_owned()
    }

    pub fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes());
        let s = self.until("\r\n", Duration::from_secs(5));
        let mut out = s;
        loop {
            let more = self.until("\r\n", Duration::from_secs(5));
            out.push_str(&more);
            if more.ends_with("OK\r\n") || more.ends_with("ERROR\r\n") {
                return out;
            }
        }
    }
}

pub fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

pub fn temp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("at-sim-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}
