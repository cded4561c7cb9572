//! Whole AT sessions: bytes in, exact bytes out.

mod common;

use std::time::Duration;

use at_hal::uart::{FlowControl, Parity, StopBits, UartConfig};
use common::Bench;

#[test]
fn basic_echo_and_ok() {
    let mut b = Bench::new();
    assert_eq!(b.cmd("AT"), "AT\r\n\r\nOK\r\n");
    assert_eq!(b.cmd("ATE0"), "ATE0\r\n\r\nOK\r\n");
    assert_eq!(b.cmd("AT"), "\r\nOK\r\n");
    assert_eq!(b.cmd("ATE1"), "\r\nOK\r\n");
    assert_eq!(b.cmd("AT"), "AT\r\n\r\nOK\r\n");
}

#[test]
fn gmr_prints_four_version_lines() {
    let mut b = Bench::new();
    let out = b.cmd("AT+GMR");
    let lines: Vec<&str> = out.split("\r\n").collect();
    assert_eq!(lines[0], "AT+GMR");
    // The ESP-AT release whose wire format this matches; our name inside the parentheses.
    let version = lines[1].strip_prefix("AT version:4.1.1.0(esp-at-rs ").expect(&out);
    let (_, rest) = version.split_once(" - ESP32C3 - ").expect(&out);
    // `Mmm dd yyyy hh:mm:ss)` as C's __DATE__ __TIME__.
    assert_eq!(rest.len(), 21, "{rest}");
    assert!(rest.ends_with(')') && rest.as_bytes()[11] == b' ' && rest.as_bytes()[14] == b':', "{rest}");
    assert!(lines[2].starts_with("SDK version:"), "{out}");
    assert!(lines[3].starts_with("compile time(esp-at-rs ") && lines[3].contains("):"), "{out}");
    assert!(lines[4].starts_with("Bin version:esp-at-rs-v") && lines[4].ends_with("(MINI-1)"), "{out}");
    assert!(out.ends_with("\r\n\r\nOK\r\n"));
}

#[test]
fn unknown_command_and_syslog() {
    let mut b = Bench::new();
    assert_eq!(b.cmd("AT+FAKE"), "AT+FAKE\r\n\r\nERROR\r\n");
    assert_eq!(b.fw.last_error().unwrap().code.0, 0x0109_0000);
    assert_eq!(b.cmd("AT+SYSLOG=1"), "AT+SYSLOG=1\r\n\r\nOK\r\n");
    assert_eq!(
        b.cmd("AT+FAKE"),
        "AT+FAKE\r\n+ERRINFO:\"unknown command\"\r\nERR CODE:0x01090000\r\n\r\nERROR\r\n"
    );
    assert_eq!(b.cmd("AT+SYSLOG?"), "AT+SYSLOG?\r\n+SYSLOG:1\r\n\r\nOK\r\n");
    // A form the command lacks: ESP-AT prints a bare ERROR (no ERR CODE); so do the test
    // forms of every built-in command.
    assert_eq!(
        b.cmd("AT+GMR?"),
        "AT+GMR?\r\n+ERRINFO:\"command does not support this form\"\r\n\r\nERROR\r\n"
    );
    assert!(b.cmd("AT+CWMODE=?").ends_with("\"\r\n\r\nERROR\r\n"));
    // Out of range: bare; AT+CWMODE above 4 is one of the few that print (0x01070001, sic).
    assert_eq!(b.cmd("AT+SYSLOG=2"), "AT+SYSLOG=2\r\n+ERRINFO:\"parameter out of range\"\r\n\r\nERROR\r\n");
    assert_eq!(
        b.cmd("AT+CWMODE=5"),
        "AT+CWMODE=5\r\n+ERRINFO:\"parameter out of range\"\r\nERR CODE:0x01070001\r\n\r\nERROR\r\n"
    );
    // A string where a number belongs: the getters' 0x0108000N.
    assert!(b.cmd("AT+CWMODE=\"1\"").contains("ERR CODE:0x01080000\r\n\r\nERROR\r\n"));
    // An empty line: 0x01030000.
    assert_eq!(
        b.cmd(""),
        "\r\n+ERRINFO:\"command does not start with \\\"AT\\\"\"\r\nERR CODE:0x01030000\r\n\r\nERROR\r\n"
    );
}

#[test]
fn the_seeds_first_commands() {
    let mut b = Bench::new();
    assert_eq!(b.cmd("AT+CWMODE=1"), "AT+CWMODE=1\r\n\r\nOK\r\n");
    assert_eq!(
        b.cmd("AT+CWJAP=\"HomeAP\",\"secret123\""),
        "AT+CWJAP=\"HomeAP\",\"secret123\"\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n"
    );
    assert_eq!(b.cmd("AT+CIPSNTPCFG=1,0"), "AT+CIPSNTPCFG=1,0\r\n\r\nOK\r\n");
    b.advance(Duration::from_millis(500));
    assert_eq!(b.take(), "+TIME_UPDATED\r\n");
    let t = b.cmd("AT+CIPSNTPTIME?");
    assert!(t.starts_with("AT+CIPSNTPTIME?\r\n+CIPSNTPTIME:"), "{t}");
    assert!(t.contains(" 2024\r\n"), "{t}");
    assert_eq!(b.cmd("AT+CWSTATE?"), "AT+CWSTATE?\r\n+CWSTATE:2,\"HomeAP\"\r\n\r\nOK\r\n");
    let q = b.cmd("AT+CWJAP?");
    assert!(q.starts_with("AT+CWJAP?\r\n+CWJAP:\"HomeAP\",\"02:5a:"), "{q}");
    // <pci_en> 0 (not the auth mode), reconnect 1 s, listen 3, scan 0, pmf 0 (the firmware's
    // default when omitted).
    assert!(q.ends_with(",6,-50,0,1,3,0,0\r\n\r\nOK\r\n"), "{q}");
}

#[test]
fn wrong_password_and_missing_ap() {
    let mut b = Bench::new();
    assert_eq!(
        b.cmd("AT+CWJAP=\"HomeAP\",\"nope-nope\""),
        "AT+CWJAP=\"HomeAP\",\"nope-nope\"\r\n+CWJAP:2\r\n\r\nERROR\r\n"
    );
    assert_eq!(
        b.cmd("AT+CWJAP=\"Elsewhere\",\"whatever1\""),
        "AT+CWJAP=\"Elsewhere\",\"whatever1\"\r\n+CWJAP:3\r\n\r\nERROR\r\n"
    );
    assert_eq!(b.cmd("AT+CWSTATE?"), "AT+CWSTATE?\r\n+CWSTATE:4,\"Elsewhere\"\r\n\r\nOK\r\n");
    // Not connected: just OK ("No AP" goes to the log, not the AT port).
    assert_eq!(b.cmd("AT+CWJAP?"), "AT+CWJAP?\r\n\r\nOK\r\n");
}

#[test]
fn busy_while_joining() {
    let mut b = Bench::new();
    b.send(b"AT+CWJAP=\"HomeAP\",\"secret123\"\r\n");
    b.advance(Duration::from_millis(100));
    b.send(b"AT\r\n");
    b.advance(Duration::from_millis(100));
    // No echo while busy.
    assert_eq!(b.take(), "AT+CWJAP=\"HomeAP\",\"secret123\"\r\n\r\nbusy p...\r\n");
    b.send(b"AT+SYSLOG?\r\n");
    let rest = b.settle();
    assert_eq!(rest, "\r\nbusy p...\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n");
    assert_eq!(b.cmd("AT"), "AT\r\n\r\nOK\r\n");
}

#[test]
fn malformed_input_gets_error_and_recovers() {
    let mut b = Bench::new();
    b.cmd("ATE0");
    let long = format!("AT+{}", "A".repeat(297));
    assert_eq!(b.cmd(&long), "\r\nERROR\r\n");
    assert_eq!(b.fw.last_error().unwrap().reason, "command line longer than 256 bytes");
    assert_eq!(b.fw.last_error().unwrap().code.0, 0x0103_0000);
    assert_eq!(b.cmd("AT"), "\r\nOK\r\n");
    b.send(b"A\0T\0\r\n");
    assert_eq!(b.settle(), "\r\nERROR\r\n");
    assert_eq!(b.cmd("AT"), "\r\nOK\r\n");
    b.send(b"AT+CW\xff\xfeJAP\r\n");
    assert_eq!(b.settle(), "\r\nERROR\r\n");
    assert_eq!(b.cmd("AT+CWJAP=\"unterminated"), "\r\nERROR\r\n");
    assert_eq!(b.fw.last_error().unwrap().code.0, 0x0108_0000);
    assert_eq!(b.cmd("AT+CWMODE=99999999999999999999999"), "\r\nERROR\r\n");
    assert_eq!(b.cmd("AT+CWMODE=4"), "\r\nERROR\r\n");
    assert_eq!(b.cmd("AT+CWMODE=\"1\""), "\r\nERROR\r\n");
    // Any case of the prefix, as ESP-AT's firmware (its docs say otherwise).
    assert_eq!(b.cmd("at"), "\r\nOK\r\n");
    assert_eq!(b.cmd("at+cwmode?"), "+CWMODE:1\r\n\r\nOK\r\n");
    // Only CR LF ends a line: `AT\n` waits, and becomes the front of the next line.
    b.send(b"AT\n");
    assert_eq!(b.settle(), "");
    b.send(b"AT\r\n");
    assert_eq!(b.settle(), "\r\nERROR\r\n");
    assert_eq!(b.fw.last_error().unwrap().code.0, 0x0109_0000);
    b.send(b"\n");
    assert_eq!(b.settle(), "");
    b.send(b"\r\n");
    assert_eq!(b.settle(), "\r\nERROR\r\n");
    assert_eq!(b.cmd("AT"), "\r\nOK\r\n");
    assert_eq!(b.cmd("AT+CWMODE?"), "+CWMODE:1\r\n\r\nOK\r\n");
}

#[test]
fn sysstore_persists_across_restart() {
    let mut b = Bench::new();
    b.cmd("AT+CWMODE=3");
    b.cmd("AT+SYSMSG=2");
    b.cmd("AT+SYSSTORE=0");
    b.cmd("AT+CWRECONNCFG=5,10");
    b.cmd("AT+UART_DEF=921600,8,1,0,3");
    b.cmd("AT+CWAUTOCONN=0");
    let mut b = b.power_cycle();
    assert_eq!(b.cmd("AT+CWMODE?"), "AT+CWMODE?\r\n+CWMODE:3\r\n\r\nOK\r\n");
    assert_eq!(b.cmd("AT+SYSMSG?"), "AT+SYSMSG?\r\n+SYSMSG:2\r\nOK\r\n");
    // Set while AT+SYSSTORE=0: not kept.
    assert_eq!(b.cmd("AT+CWRECONNCFG?"), "AT+CWRECONNCFG?\r\n+CWRECONNCFG:1,0\r\n\r\nOK\r\n");
    // Always saved, whatever AT+SYSSTORE says.
    assert_eq!(b.cmd("AT+UART_DEF?"), "AT+UART_DEF?\r\n+UART_DEF:921600,8,1,0,3\r\n\r\nOK\r\n");
    assert_eq!(b.cmd("AT+CWAUTOCONN?"), "AT+CWAUTOCONN?\r\n+CWAUTOCONN:0\r\nOK\r\n");
    assert_eq!(b.cmd("AT+SYSSTORE?"), "AT+SYSSTORE?\r\n+SYSSTORE:1\r\n\r\nOK\r\n");
    assert_eq!(b.cmd("AT+RESTORE"), "AT+RESTORE\r\n\r\nOK\r\n");
    b.advance(Duration::from_millis(10));
    assert_eq!(b.take(), "\r\nready\r\n");
    assert_eq!(b.cmd("AT+CWMODE?"), "AT+CWMODE?\r\n+CWMODE:1\r\n\r\nOK\r\n");
}

#[test]
fn autoconnect_at_boot() {
    let mut b = Bench::new();
    b.cmd("AT+CWJAP=\"HomeAP\",\"secret123\"");
    let mut b = b.power_cycle();
    b.advance(Duration::from_secs(2));
    assert_eq!(b.take(), "WIFI CONNECTED\r\nWIFI GOT IP\r\n");
    assert!(b.cmd("AT+CIFSR").contains("+CIFSR:STAIP,\"192.168."));
}

#[test]
fn rst_prints_ready_again() {
    let mut b = Bench::new();
    b.cmd("ATE0");
    assert_eq!(b.cmd("AT+RST"), "\r\nOK\r\n");
    b.advance(Duration::from_millis(10));
    assert_eq!(b.take(), "\r\nready\r\n");
    assert_eq!(b.fw.platform().system.restarts, 1);
    // Echo is back on after a restart.
    assert_eq!(b.cmd("AT"), "AT\r\n\r\nOK\r\n");
}

#[test]
fn uart_setting_applies_after_ok() {
    let mut b = Bench::new();
    b.send(b"AT+UART_CUR=115200,8,1,0,3\r\n");
    let applied_before = b.fw.platform().uart.applied.len();
    assert_eq!(b.take(), "AT+UART_CUR=115200,8,1,0,3\r\n\r\nOK\r\n");
    b.fw.poll(b.now);
    let applied = &b.fw.platform().uart.applied;
    assert_eq!(applied.len(), applied_before + 1, "applied once the OK is out");
    assert_eq!(
        applied.last().unwrap(),
        &UartConfig {
            baudrate: 115_200,
            data_bits: 8,
            stop_bits: StopBits::One,
            parity: Parity::None,
            flow_control: FlowControl::RtsCts
        }
    );
    assert_eq!(b.cmd("AT+UART_CUR?"), "AT+UART_CUR?\r\n+UART_CUR:115200,8,1,0,3\r\n\r\nOK\r\n");
    for bad in [
        "AT+UART_CUR=79,8,1,0,0",
        "AT+UART_CUR=115200,9,1,0,0",
        "AT+UART_CUR=115200,8,1,0",
        "AT+UART_CUR=115200,8,4,0,0",
    ] {
        assert!(b.cmd(bad).ends_with("\r\nERROR\r\n"), "{bad}");
    }
}

#[test]
fn scan_lists_aps_with_cwlapopt() {
    let mut b = Bench::new();
    b.cmd("ATE0");
    let out = b.cmd("AT+CWLAP");
    assert!(out.contains("+CWLAP:(3,\"HomeAP\",-50,\"02:5a:"), "{out}");
    assert!(out.contains("+CWLAP:(0,\"Open\",-50,"), "{out}");
    assert!(out.ends_with("\r\n\r\nOK\r\n"));
    b.cmd("AT+CWLAPOPT=1,6,-100,1");
    assert_eq!(b.cmd("AT+CWLAP"), "+CWLAP:(\"Open\",-50)\r\n\r\nOK\r\n");
    b.cmd("AT+CWLAPOPT=0,2047");
    let out = b.cmd("AT+CWLAP=\"HomeAP\"");
    assert_eq!(out.matches("+CWLAP:").count(), 1, "{out}");
}

#[test]
fn station_addressing_commands() {
    let mut b = Bench::new();
    b.cmd("ATE0");
    assert_eq!(b.cmd("AT+CIPSTAMAC?"), "+CIPSTAMAC:\"58:cf:79:00:00:01\"\r\n\r\nOK\r\n");
    assert_eq!(b.cmd("AT+CIPSTAMAC=\"15:fe:35:98:d3:7b\""), "\r\nERROR\r\n");
    assert_eq!(b.cmd("AT+CIPSTAMAC=\"1a:fe:35:98:d3:7b\""), "\r\nOK\r\n");
    assert_eq!(b.cmd("AT+CIPSTA=\"192.168.6.100\",\"192.168.6.1\",\"255.255.255.0\""), "\r\nOK\r\n");
    assert_eq!(b.cmd("AT+CWDHCP?"), "+CWDHCP:2\r\nOK\r\n");
    assert_eq!(
        b.cmd("AT+CIPSTA?"),
        "+CIPSTA:ip:\"192.168.6.100\"\r\n+CIPSTA:gateway:\"192.168.6.1\"\r\n+CIPSTA:netmask:\"255.255.255.0\"\r\n\r\nOK\r\n"
    );
    assert_eq!(b.cmd("AT+CIPSTA=\"300.1.1.1\""), "\r\nERROR\r\n");
    assert_eq!(b.cmd("AT+CWDHCP=1,1"), "\r\nOK\r\n");
    assert_eq!(b.cmd("AT+CWDHCP?"), "+CWDHCP:3\r\nOK\r\n");
    assert_eq!(b.cmd("AT+CWHOSTNAME=\"my_test\""), "\r\nOK\r\n");
    assert_eq!(b.cmd("AT+CWHOSTNAME?"), "+CWHOSTNAME:my_test\r\n\r\nOK\r\n");
    assert_eq!(b.fw.platform().net.hostname(), "my_test");
    assert_eq!(
        b.cmd("AT+CIFSR"),
        "+CIFSR:STAIP,\"0.0.0.0\"\r\n+CIFSR:STAMAC,\"1a:fe:35:98:d3:7b\"\r\n\r\nOK\r\n"
    );
    b.cmd("AT+CWMODE=0");
    assert_eq!(b.cmd("AT+CIFSR"), "\r\nOK\r\n");
    // ESP-AT's firmware has no station-mode check here (its docs say it has).
    assert_eq!(b.cmd("AT+CWHOSTNAME=\"x\""), "\r\nOK\r\n");
    assert_eq!(b.cmd(&format!("AT+CWHOSTNAME=\"{}\"", "h".repeat(33))), "\r\nERROR\r\n");
}

#[test]
fn reconnects_after_ap_loss() {
    let mut b = Bench::new();
    b.cmd("ATE0");
    b.cmd("AT+CWRECONNCFG=1,3");
    b.cmd("AT+CWJAP=\"HomeAP\",\"secret123\",,,1");
    b.fw.platform().wifi.aps_mut()[0].present = false;
    b.advance(Duration::from_millis(50));
    assert_eq!(b.take(), "WIFI DISCONNECT\r\n");
    b.fw.platform().wifi.aps_mut()[0].present = true;
    b.advance(Duration::from_secs(3));
    assert_eq!(b.take(), "WIFI CONNECTED\r\nWIFI GOT IP\r\n");
    // After AT+CWQAP there is no reconnection.
    assert_eq!(b.cmd("AT+CWQAP"), "\r\nOK\r\nWIFI DISCONNECT\r\n");
    b.advance(Duration::from_secs(5));
    assert_eq!(b.take(), "");
    assert_eq!(b.cmd("AT+CWSTATE?"), "+CWSTATE:4,\"HomeAP\"\r\n\r\nOK\r\n");
}

#[test]
fn cmd_query_lists_every_builtin() {
    let mut b = Bench::new();
    let out = b.cmd("AT+CMD?");
    assert!(out.contains("+CMD:0,\"AT\",0,0,0,1\r\n"), "{out}");
    assert!(out.contains("\"AT+CWJAP\",0,1,1,1\r\n"), "{out}");
    assert!(out.contains("\"AT+GMR\",0,0,0,1\r\n"), "{out}");
}

#[test]
fn sntp_config_round_trip() {
    let mut b = Bench::new();
    b.cmd("ATE0");
    // At boot no server is set: the flag shows 0.
    assert_eq!(b.cmd("AT+CIPSNTPCFG?"), "+CIPSNTPCFG:0,0\r\n\r\nOK\r\n");
    assert_eq!(b.cmd("AT+CIPSNTPCFG=1,-500,\"0.pool.ntp.org\",\"time.google.com\""), "\r\nOK\r\n");
    // The timezone as given; only the servers that are set.
    assert_eq!(
        b.cmd("AT+CIPSNTPCFG?"),
        "+CIPSNTPCFG:1,-500,\"0.pool.ntp.org\",\"time.google.com\"\r\n\r\nOK\r\n"
    );
    // `=1` alone keeps the timezone and takes the default servers.
    assert_eq!(b.cmd("AT+CIPSNTPCFG=1"), "\r\nOK\r\n");
    assert_eq!(
        b.cmd("AT+CIPSNTPCFG?"),
        "+CIPSNTPCFG:1,-500,\"cn.ntp.org.cn\",\"ntp.sjtu.edu.cn\",\"us.pool.ntp.org\"\r\n\r\nOK\r\n"
    );
    for bad in [
        "AT+CIPSNTPCFG=1,1500",
        "AT+CIPSNTPCFG=1,60",
        "AT+CIPSNTPCFG=1,,\"a.org\"",
        "AT+CIPSNTPCFG=0,8,\"a.org\"",
        "AT+CIPSNTPCFG=1,8,\"\"",
        "AT+CIPSNTPCFG=1,8,\"a.org\",,\"b.org\"",
        "AT+CIPSNTPCFG=1,-9223372036854775808",
        "AT+CIPSNTPCFG=1,9223372036854775807",
    ] {
        assert_eq!(b.cmd(bad), "\r\nERROR\r\n", "{bad}");
    }
    let long = format!("AT+CIPSNTPCFG=1,8,\"{}\"", "s".repeat(33));
    assert_eq!(b.cmd(&long), "\r\nERROR\r\n");
    let ok32 = format!("AT+CIPSNTPCFG=1,015,\"{}\"", "s".repeat(32));
    assert_eq!(b.cmd(&ok32), "\r\nOK\r\n");
    assert!(b.cmd("AT+CIPSNTPCFG?").starts_with("+CIPSNTPCFG:1,15,"));
    assert_eq!(b.cmd("AT+CIPSNTPCFG=0"), "\r\nOK\r\n");
    assert_eq!(b.cmd("AT+CIPSNTPCFG?"), "+CIPSNTPCFG:0,15\r\n\r\nOK\r\n");
    assert_eq!(b.cmd("AT+CIPSNTPINTV=14"), "\r\nERROR\r\n");
    assert_eq!(b.cmd("AT+CIPSNTPINTV=3600"), "\r\nOK\r\n");
    assert_eq!(b.cmd("AT+CIPSNTPINTV?"), "+CIPSNTPINTV:3600\r\n\r\nOK\r\n");
}

#[test]
fn sysram_reports_heap() {
    let mut b = Bench::new();
    // No CR LF of its own: no blank line before OK (ESP-AT's "%s:%u,%u").
    assert_eq!(b.cmd("AT+SYSRAM?"), "AT+SYSRAM?\r\n+SYSRAM:166912,152300\r\nOK\r\n");
    assert_eq!(
        b.cmd("AT+SYSRAM=0x1800"),
        "AT+SYSRAM=0x1800\r\n+SYSRAM:118784,166912,152300,262144\r\nOK\r\n"
    );
    assert!(b.cmd("AT+SYSRAM=0").ends_with("\r\nERROR\r\n"));
}
