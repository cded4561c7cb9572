//! `at-sim` behaves like a serial port: bounded input against a host that never reads, and
//! an interactive terminal in raw mode with one echo per character and a quit key.

mod common;

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::Sim;

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn a_host_that_writes_without_reading_is_held_back() {
    let sim = Sim::start(&[]);
    let mut c = sim.connect();
    c.until("ready\r\n", Duration::from_secs(5));
    // 20 MB of one endless line: with echo on, every byte produces output, which this host
    // does not read.
    let mut w = c.writer();
    w.set_write_timeout(Some(Duration::from_secs(3))).unwrap();
    let written = Arc::new(AtomicUsize::new(0));
    let count = written.clone();
    let writer = std::thread::spawn(move || {
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..(20 * 1024 * 1024 / chunk.len()) {
            match w.write(&chunk) {
                Ok(n) => {
                    count.fetch_add(n, Ordering::SeqCst);
                }
                Err(_) => return false,
            }
        }
        true
    });
    std::thread::sleep(Duration::from_secs(4));
    let stalled_at = written.load(Ordering::SeqCst);
    assert!(stalled_at < 20 * 1024 * 1024, "at-sim took 20 MB from a host that reads nothing");
    if let Some(kib) = rss_kib(sim.child.id()) {
        assert!(kib < 64 * 1024, "at-sim RSS {kib} KiB while held back");
    }
    assert!(!writer.join().unwrap(), "the writer should have been blocked by flow control");
    // Reading again, everything is echoed and the port answers.
    let echoed = c.drain_count(Duration::from_secs(2));
    assert!(echoed >= stalled_at.min(1024 * 1024), "echo of what was taken: {echoed} of {stalled_at}");
    c.send(b"\r\nAT\r\n");
    let out = c.until("\r\nOK\r\n", Duration::from_secs(20));
    assert!(out.ends_with("ERROR\r\nAT\r\n\r\nOK\r\n"), "{}", &out[out.len().saturating_sub(60)..]);
    if let Some(kib) = rss_kib(sim.child.id()) {
        assert!(kib < 64 * 1024, "at-sim RSS {kib} KiB afterwards");
    }
}

#[test]
fn interactive_terminal_echoes_once_and_quits_with_ctrl_bracket() {
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let slave_in = pty.slave.try_clone().unwrap();
    let slave_out = pty.slave.try_clone().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_at-sim"))
        .args(["--log-level", "off"])
        .stdin(Stdio::from(slave_in))
        .stdout(Stdio::from(slave_out))
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn at-sim");
    drop(pty.slave);
    let mut master = std::fs::File::from(pty.master);
    let read_until = |master: &mut std::fs::File, want: &str| -> String {
        let end = Instant::now() + Duration::from_secs(10);
        let mut got = Vec::new();
        let fd = master.as_fd().try_clone_to_owned().unwrap();
        nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK)).unwrap();
        while !String::from_utf8_lossy(&got).contains(want) {
            assert!(
                Instant::now() < end,
                "timed out waiting for {want:?}: {:?}",
                String::from_utf8_lossy(&got)
            );
            let mut b = [0u8; 256];
            match master.read(&mut b) {
                Ok(n) => got.extend_from_slice(&b[..n]),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        String::from_utf8_lossy(&got).into_owned()
    };
    assert!(read_until(&mut master, "ready\r\n").ends_with("\r\nready\r\n"));
    // Typed character by character, as a person would: each is echoed once, by the firmware.
    for b in b"AT" {
        master.write_all(&[*b]).unwrap();
        std::thread::sleep(Duration::from_millis(30));
    }
    master.write_all(b"\r").unwrap();
    let out = read_until(&mut master, "OK\r\n");
    assert_eq!(out, "AT\r\n\r\nOK\r\n", "one echo, Enter passed on as CR LF");
    // Ctrl-] quits even from a data phase that is still waiting for its bytes.
    master.write_all(b"AT+SYSFLASH=1,\"mfg_nvs\",0,64\r").unwrap();
    read_until(&mut master, ">");
    master.write_all(b"abc").unwrap();
    master.write_all(&[0x1d]).unwrap();
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success());
            break;
        }
        assert!(Instant::now() < end, "Ctrl-] did not quit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn piped_input_that_ends_inside_a_data_phase_ends_the_simulator() {
    // `printf ... | at-sim`: the input stops after a command that opened a data phase. Nothing
    // can complete it, so at-sim prints what it has and exits instead of waiting forever.
    let mut child = Command::new(env!("CARGO_BIN_EXE_at-sim"))
        .args(["--log-level", "off"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn at-sim");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"AT\nAT+SYSFLASH=1,\"mfg_nvs\",0,64\nabc").unwrap();
    drop(stdin);
    let end = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < end, "at-sim kept waiting for the rest of the data phase");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(out.contains("\r\nOK\r\n") && out.ends_with(">"), "{out:?}");
}
