//! `at-sim` as a host driver meets it: a real process, a real TCP socket, real time.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Sim, temp};

#[test]
fn acceptance_session_over_tcp() {
    let sim = Sim::start(&["--ap", "lab:password1"]);
    let mut c = sim.connect();
    assert_eq!(c.until("ready\r\n", Duration::from_secs(5)), "\r\nready\r\n");
    assert_eq!(c.cmd("AT"), "AT\r\n\r\nOK\r\n");
    assert_eq!(c.cmd("AT+FAKE"), "AT+FAKE\r\n\r\nERROR\r\n");
    c.cmd("AT+SYSLOG=1");
    assert_eq!(
        c.cmd("AT+FAKE"),
        "AT+FAKE\r\n+ERRINFO:\"unknown command\"\r\nERR CODE:0x01090000\r\n\r\nERROR\r\n"
    );
    c.cmd("AT+SYSLOG=0");
    assert_eq!(c.cmd("ATE0"), "ATE0\r\n\r\nOK\r\n");
    assert_eq!(c.cmd("AT"), "\r\nOK\r\n");
    assert!(c.cmd("AT+GMR").contains("\r\nBin version:"));
    assert_eq!(c.cmd("AT+CWMODE=1"), "\r\nOK\r\n");
    c.send(b"AT+CWJAP=\"lab\",\"password1\"\r\nAT\r\n");
    assert_eq!(
        c.until("GOT IP\r\n\r\nOK\r\n", Duration::from_secs(5)),
        "\r\nbusy p...\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n"
    );
    // The set form disconnects first (ESP-AT), so the drop is reported before the failure.
    assert_eq!(c.cmd("AT+CWJAP=\"lab\",\"wrongpass\""), "WIFI DISCONNECT\r\n+CWJAP:2\r\n\r\nERROR\r\n");
    c.cmd("AT+CWJAP=\"lab\",\"password1\"");
    c.drain(Duration::from_millis(100));
    assert_eq!(c.cmd("AT+CIPSNTPCFG=1,0"), "\r\nOK\r\n");
    assert_eq!(c.until("+TIME_UPDATED\r\n", Duration::from_secs(5)), "+TIME_UPDATED\r\n");
    // Malformed input: each gets ERROR, and AT still works.
    let long = format!("AT+{}", "X".repeat(297));
    for bad in [
        long.as_bytes(),
        b"AT\0\0",
        b"AT+\xff\xfe",
        b"AT+CWJAP=\"unterminated",
        b"AT+CWMODE=99999999999999999999",
    ] {
        c.send(bad);
        c.send(b"\r\n");
        assert_eq!(c.until("ERROR\r\n", Duration::from_secs(5)), "\r\nERROR\r\n", "{:?}", bad.escape_ascii());
        assert_eq!(c.cmd("AT"), "\r\nOK\r\n");
    }
    // A second client is refused while the first is attached; after it leaves, a new one
    // gets the port (without a second `ready`).
    let mut other = sim.connect();
    assert!(other.drain(Duration::from_millis(200)).contains("another client is attached"));
    drop(c);
    std::thread::sleep(Duration::from_millis(100));
    let mut c = sim.connect();
    assert_eq!(c.cmd("AT"), "\r\nOK\r\n");
    assert_eq!(c.cmd("AT+RST"), "\r\nOK\r\n");
    assert_eq!(c.until("ready\r\n", Duration::from_secs(5)), "\r\nready\r\n");
    assert_eq!(c.cmd("AT"), "AT\r\n\r\nOK\r\n", "echo is back on after a restart");
}

#[test]
fn settings_survive_a_restart_of_at_sim() {
    let state = temp("state.bin");
    let st = state.to_str().unwrap();
    {
        let sim = Sim::start(&["--state", st]);
        let mut c = sim.connect();
        c.until("ready\r\n", Duration::from_secs(5));
        assert_eq!(c.cmd("AT+CWMODE=3"), "AT+CWMODE=3\r\n\r\nOK\r\n");
        c.cmd("AT+SYSSTORE=0");
        c.cmd("AT+SYSMSG=4");
    }
    assert_eq!(std::fs::metadata(&state).unwrap().len(), 0xE000);
    let sim = Sim::start(&["--state", st]);
    let mut c = sim.connect();
    c.until("ready\r\n", Duration::from_secs(5));
    assert_eq!(c.cmd("AT+CWMODE?"), "AT+CWMODE?\r\n+CWMODE:3\r\n\r\nOK\r\n");
    assert_eq!(c.cmd("AT+SYSMSG?"), "AT+SYSMSG?\r\n+SYSMSG:0\r\nOK\r\n");
    drop(sim);
    std::fs::remove_file(&state).unwrap();
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses): utime is 14th, stime 15th.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn idle_simulator_sleeps() {
    if !Path::new("/proc/self/stat").exists() {
        return;
    }
    let sim = Sim::start(&[]);
    let mut c = sim.connect();
    c.until("ready\r\n", Duration::from_secs(5));
    c.cmd("AT+CWJAP=\"esp-at-sim\",\"12345678\"");
    std::thread::sleep(Duration::from_millis(300));
    // Idle with a link up: a server with an accepted client that sends nothing.
    assert_eq!(c.cmd("AT+CIPMUX=1"), "AT+CIPMUX=1\r\n\r\nOK\r\n");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    c.cmd(&format!("AT+CIPSERVER=1,{port}"));
    let _client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.until("0,CONNECT\r\n", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(300));
    let before = cpu_ticks(sim.child.id());
    std::thread::sleep(Duration::from_secs(3));
    let used = cpu_ticks(sim.child.id()) - before;
    // Clock ticks are 10 ms: 1% of 3 s is 3 ticks.
    assert!(used < 3, "idle at-sim (one server link open) used {used} ticks of CPU in 3 s");
}
