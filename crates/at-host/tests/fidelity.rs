//! `at-sim` probed over TCP as a host driver would, for each wire detail where ESP-AT's
//! shipped firmware (v4.1.1.0) is the reference (docs/compat.md).

mod common;

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use common::{Client, Sim, temp};

const T: Duration = Duration::from_secs(5);

fn healthy_dump() -> PathBuf {
    let raw = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/flash/dumps/healthy.bin.gz"),
    )
    .unwrap();
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut bytes).unwrap();
    let p = temp("fidelity-healthy.bin");
    std::fs::write(&p, &bytes).unwrap();
    p
}

fn start(args: &[&str]) -> (Sim, Client) {
    let sim = Sim::start(args);
    let mut c = sim.connect();
    assert_eq!(c.until("ready\r\n", T), "\r\nready\r\n");
    (sim, c)
}

#[test]
fn wire_details_as_the_firmware_prints_them() {
    let dump = healthy_dump();
    let (_sim, mut c) = start(&["--flash", dump.to_str().unwrap()]);
    // Echo byte by byte, as the bytes arrive.
    c.send(b"A");
    assert_eq!(c.until("A", T), "A");
    c.send(b"T");
    assert_eq!(c.until("T", T), "T");
    c.send(b"\r\n");
    assert_eq!(c.until("OK\r\n", T), "\r\n\r\nOK\r\n");
    // AT version: the ESP-AT release matched; our name inside the parentheses.
    let gmr = c.cmd("AT+GMR");
    assert!(gmr.starts_with("AT+GMR\r\nAT version:4.1.1.0(at-sim "), "{gmr}");
    assert!(gmr.contains(" - ESP32C3 - ") && gmr.contains("\r\ncompile time("), "{gmr}");
    assert_eq!(c.cmd("ATE0"), "ATE0\r\n\r\nOK\r\n");
    // Lower-case prefix accepted.
    assert_eq!(c.cmd("at"), "\r\nOK\r\n");
    // A lone LF does not end a line.
    c.send(b"AT\n");
    assert_eq!(c.drain(Duration::from_millis(200)), "");
    c.send(b"\r\n");
    assert_eq!(c.until("ERROR\r\n", T), "\r\nERROR\r\n");
    // No blank line before OK after these.
    assert!(c.cmd("AT+SYSRAM?").ends_with("\r\nOK\r\n") && !c.cmd("AT+SYSRAM?").contains("\r\n\r\nOK"));
    assert_eq!(c.cmd("AT+SYSMSG?"), "+SYSMSG:0\r\nOK\r\n");
    assert_eq!(c.cmd("AT+CWAUTOCONN?"), "+CWAUTOCONN:1\r\nOK\r\n");
    assert_eq!(c.cmd("AT+CWDHCP?"), "+CWDHCP:3\r\nOK\r\n");
    let t = c.cmd("AT+CIPSNTPTIME?");
    assert!(t.starts_with("+CIPSNTPTIME:") && t.ends_with("\r\nOK\r\n") && !t.contains("\r\n\r\n"), "{t}");
    // Not connected: AT+CWJAP? is just OK.
    assert_eq!(c.cmd("AT+CWJAP?"), "\r\nOK\r\n");
    // No password field: ERROR.
    assert_eq!(c.cmd("AT+CWJAP=\"esp-at-sim\""), "\r\nERROR\r\n");
    c.send(b"AT+CWJAP=\"esp-at-sim\",\"12345678\"\r\n");
    assert!(c.until("OK\r\n", T).ends_with("WIFI GOT IP\r\n\r\nOK\r\n"));
    // The fifth field is <pci_en>.
    let q = c.cmd("AT+CWJAP?");
    assert!(q.starts_with("+CWJAP:\"esp-at-sim\",\"") && q.ends_with(",0,1,3,0,0\r\n\r\nOK\r\n"), "{q}");
    // Exec while connected: OK at once. Set while connected: the disconnect first.
    assert_eq!(c.cmd("AT+CWJAP"), "\r\nOK\r\n");
    c.send(b"AT+CWJAP=\"esp-at-sim\",\"12345678\"\r\n");
    assert_eq!(c.until("OK\r\n", T), "WIFI DISCONNECT\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n");
    // SNTP configuration rules.
    assert_eq!(c.cmd("AT+CIPSNTPCFG=1,,\"pool.ntp.org\""), "\r\nERROR\r\n");
    assert_eq!(c.cmd("AT+CIPSNTPCFG=0,8,\"pool.ntp.org\""), "\r\nERROR\r\n");
    assert_eq!(c.cmd(&format!("AT+CIPSNTPCFG=1,8,\"{}\"", "n".repeat(33))), "\r\nERROR\r\n");
    assert_eq!(c.cmd("AT+CIPSNTPCFG=1,8"), "\r\nOK\r\n");
    assert_eq!(c.cmd("AT+CIPSNTPCFG=1"), "\r\nOK\r\n");
    assert!(c.cmd("AT+CIPSNTPCFG?").starts_with("+CIPSNTPCFG:1,8,\"cn.ntp.org.cn\""));
    assert_eq!(c.cmd("AT+CIPSNTPCFG=1,-9223372036854775808"), "\r\nERROR\r\n");
    // Error codes: a form the command lacks is a bare ERROR even with AT+SYSLOG=1.
    c.cmd("AT+SYSLOG=1");
    let e = c.cmd("AT+GMR?");
    assert!(e.ends_with("\r\nERROR\r\n") && !e.contains("ERR CODE"), "{e}");
    assert!(c.cmd("AT+NOPE").contains("ERR CODE:0x01090000\r\n"));
    c.cmd("AT+SYSLOG=0");
    // AT+SYSFLASH: a bare `>` prompt, and read data without a CR LF of its own.
    let parts = c.cmd("AT+SYSFLASH?");
    assert!(parts.contains("+SYSFLASH:\"mfg_nvs\""), "{parts}");
    let user = parts
        .lines()
        .filter_map(|l| l.strip_prefix("+SYSFLASH:\""))
        .map(|l| l.split('"').next().unwrap_or_default().to_owned())
        .find(|l| l != "mfg_nvs")
        .expect("a user partition besides mfg_nvs");
    assert_eq!(c.cmd(&format!("AT+SYSFLASH=0,\"{user}\",0,4096")), "\r\nOK\r\n");
    c.send(format!("AT+SYSFLASH=1,\"{user}\",0,4\r\n").as_bytes());
    assert_eq!(c.until(">", T), ">");
    c.send(b"abcd");
    assert_eq!(c.until("OK\r\n", T), "\r\nOK\r\n");
    assert_eq!(c.cmd(&format!("AT+SYSFLASH=2,\"{user}\",0,4")), "+SYSFLASH:4,abcd\r\nOK\r\n");
    // SYSMFG lists keys in storage order (the CSV order of the image), not alphabetically.
    let keys = c.cmd("AT+SYSMFG=1,\"factory_param\"");
    let names: Vec<&str> = keys.lines().filter_map(|l| l.split('"').nth(3)).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert!(names.len() > 3 && names != sorted, "{names:?}");
    assert_eq!(names.first(), Some(&"version"), "{names:?}");
    let _ = std::fs::remove_file(dump);
}

#[test]
fn at_rst_while_busy_forces_a_restart() {
    // The test harness's joins take 300 ms: AT+RST arrives while AT+CWJAP runs.
    let (_sim, mut c) = start(&[]);
    c.send(b"AT+CWJAP=\"esp-at-sim\",\"12345678\"\r\n");
    std::thread::sleep(Duration::from_millis(100));
    c.send(b"AT+RST\r\n");
    let out = c.until("ready\r\n", T);
    assert!(out.ends_with("\r\nWill force to restart!!!\r\n\r\nOK\r\n\r\nready\r\n"), "{out}");
    assert_eq!(c.cmd("AT"), "AT\r\n\r\nOK\r\n");
}
