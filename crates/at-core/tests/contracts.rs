//! The contracts links build on, as whole AT sessions: data phases (failure discards the rest,
//! backpressure, early end, `+++`), deferred actions and restarts, unsolicited messages, and
//! the wire details ESP-AT's firmware has that its docs do not.

mod common;

use std::time::Duration;

use at_core::{Firmware, Options};
use at_hal::kv::{EntryInfo, Kv, KvError, MemKv, Unreadable, Value};
use at_hal::storage::{MfgStore, PartitionError, PartitionInfo, UserPartitions};
use at_hal::time::Instant;
use at_mock::MockPlatform;
use at_parser::{Args, Call, CommandDef, DataEvent, DataFlow, DataPhase, Outcome, Reply, ok};
use common::{Bench, Dev};

/// `mfg_nvs` in memory plus one 64 KiB user partition whose writes can be made to fail.
struct FlashMfg {
    kv: MemKv,
    part: Vec<u8>,
    /// Writes fail once this many bytes have been written.
    fail_after: Option<usize>,
    written: usize,
    erases: usize,
}

impl FlashMfg {
    fn new() -> Self {
        FlashMfg { kv: MemKv::new(), part: vec![0xff; 64 * 1024], fail_after: None, written: 0, erases: 0 }
    }
}

impl Kv for FlashMfg {
    fn info(&mut self, ns: &str, key: &str) -> Result<EntryInfo, KvError> {
        self.kv.info(ns, key)
    }
    fn get<'b>(&mut self, ns: &str, key: &str, buf: &'b mut [u8]) -> Result<Value<'b>, KvError> {
        self.kv.get(ns, key, buf)
    }
    fn set(&mut self, ns: &str, key: &str, value: Value<'_>) -> Result<(), KvError> {
        self.kv.set(ns, key, value)
    }
    fn erase(&mut self, ns: &str, key: &str) -> Result<(), KvError> {
        self.kv.erase(ns, key)
    }
    fn erase_namespace(&mut self, ns: &str) -> Result<(), KvError> {
        self.kv.erase_namespace(ns)
    }
    fn for_each_namespace(&mut self, f: &mut dyn FnMut(&str)) -> Result<(), KvError> {
        self.kv.for_each_namespace(f)
    }
    fn for_each_entry(&mut self, ns: &str, f: &mut dyn FnMut(&str, EntryInfo)) -> Result<(), KvError> {
        self.kv.for_each_entry(ns, f)
    }
}

impl MfgStore for FlashMfg {
    fn unreadable(&self) -> Option<Unreadable> {
        None
    }
    fn partitions(&mut self) -> Option<&mut dyn UserPartitions> {
        Some(self)
    }
}

impl UserPartitions for FlashMfg {
    fn for_each_partition(&mut self, f: &mut dyn FnMut(&PartitionInfo)) -> Result<(), PartitionError> {
        f(&PartitionInfo::new("ble_data", 0x40, 0xff, 0x3a_0000, 0x1_0000, false).unwrap());
        Ok(())
    }
    fn read(&mut self, label: &str, offset: u32, buf: &mut [u8]) -> Result<(), PartitionError> {
        let at = offset as usize;
        if label != "ble_data" {
            return Err(PartitionError::NotFound);
        }
        buf.copy_from_slice(self.part.get(at..at + buf.len()).ok_or(PartitionError::OutOfRange)?);
        Ok(())
    }
    fn erase(&mut self, _: &str, offset: u32, len: u32) -> Result<(), PartitionError> {
        self.erases += 1;
        let at = offset as usize;
        self.part.get_mut(at..at + len as usize).ok_or(PartitionError::OutOfRange)?.fill(0xff);
        Ok(())
    }
    fn write(&mut self, _: &str, offset: u32, data: &[u8]) -> Result<(), PartitionError> {
        if self.fail_after.is_some_and(|n| self.written + data.len() > n) {
            return Err(PartitionError::Flash);
        }
        self.written += data.len();
        let at = offset as usize;
        for (d, s) in
            self.part.get_mut(at..at + data.len()).ok_or(PartitionError::OutOfRange)?.iter_mut().zip(data)
        {
            *d &= *s;
        }
        Ok(())
    }
}

#[test]
fn a_failed_data_phase_discards_its_payload_and_never_runs_it() {
    let mut mfg = FlashMfg::new();
    mfg.fail_after = Some(8);
    let mut d = Dev::new(mfg, Options::default());
    d.send(b"ATE0\r\nAT+SYSLOG=1\r\nAT+SYSSTORE=1\r\nAT+CWMODE=3\r\n");
    // The write prompt is a bare `>` (no OK first), as ESP-AT prints it.
    assert_eq!(d.send(b"AT+SYSFLASH=1,\"ble_data\",0,41\r\n"), ">");
    // 41 bytes: the first 8 are written, then the flash fails; the payload holds commands.
    let payload = b"12345678AT+RESTORE\r\nAT+CWMODE=1\r\nAT+GMR\r\n";
    assert_eq!(payload.len(), 41);
    let (a, b) = payload.split_at(13);
    assert_eq!(d.send(a), "", "the error waits until the declared bytes are in");
    let out = d.send(b);
    assert_eq!(
        out,
        "+ERRINFO:\"partition ble_data: reading or writing the partition failed\"\r\n\
         ERR CODE:0x010a0003\r\n\r\nERROR\r\n"
    );
    // Nothing of the payload ran: no restore, no restart, the mode is unchanged.
    assert_eq!(d.fw.platform().system.restarts, 0);
    assert_eq!(d.send(b"AT+CWMODE?\r\n"), "+CWMODE:3\r\n\r\nOK\r\n");
    assert_eq!(d.send(b"AT\r\n"), "\r\nOK\r\n");
}

#[test]
fn sysflash_write_read_and_a_bounded_erase() {
    let mut d = Dev::new(FlashMfg::new(), Options::default());
    d.send(b"ATE0\r\n");
    assert_eq!(d.send(b"AT+SYSFLASH=1,\"ble_data\",4,6\r\n"), ">");
    assert_eq!(d.send(b"abcdef"), "\r\nOK\r\n");
    // Read: `+SYSFLASH:<len>,<data>` then OK, no CR LF after the data.
    assert_eq!(d.send(b"AT+SYSFLASH=2,\"ble_data\",4,6\r\n"), "+SYSFLASH:6,abcdef\r\nOK\r\n");
    // A whole-partition erase goes one 4 KiB sector per poll (16 here), busy meanwhile.
    d.fw.receive(b"AT+SYSFLASH=0,\"ble_data\"\r\nAT\r\n", d.now);
    assert_eq!(d.fw.platform().mfg.erases, 0);
    d.fw.poll(d.now);
    assert_eq!(d.fw.platform().mfg.erases, 1, "one sector per poll");
    assert_eq!(d.send(b""), "\r\nbusy p...\r\n");
    assert_eq!(d.send(b""), "\r\nOK\r\n");
    assert_eq!(d.fw.platform().mfg.erases, 16);
    assert_eq!(
        d.send(b"AT+SYSFLASH=2,\"ble_data\",4,2\r\n"),
        "+SYSFLASH:2,\u{ff}\u{ff}\r\nOK\r\n".replace('\u{ff}', "\u{fffd}")
    );
    // ESP-AT's codes: not found 0x010a0000, range or alignment 0x010a0001.
    d.send(b"AT+SYSLOG=1\r\n");
    assert!(d.send(b"AT+SYSFLASH=2,\"nope\",0,4\r\n").contains("ERR CODE:0x010a0000\r\n"));
    assert!(d.send(b"AT+SYSFLASH=0,\"ble_data\",1,4096\r\n").contains("ERR CODE:0x010a0001\r\n"));
    assert!(d.send(b"AT+SYSFLASH=2,\"ble_data\",65535,4\r\n").contains("ERR CODE:0x010a0001\r\n"));
}

// ---- a custom data phase exercising the whole contract ----

#[derive(Default)]
struct Sink {
    got: Vec<u8>,
    room: usize,
    escaped: bool,
}

fn sink_room(s: &mut Sink) -> usize {
    s.room
}

fn sink_data(s: &mut Sink, call: &mut Call<'_>, ev: DataEvent<'_>) -> DataFlow<Sink> {
    match ev {
        DataEvent::Bytes(b) => {
            assert!(b.len() <= s.room, "fed more than the phase's room");
            s.room -= b.len();
            // `\0` (backslash, zero) ends the phase early, as CIPSENDEX.
            if let Some(i) = b.windows(2).position(|w| w == b"\\0") {
                s.got.extend_from_slice(&b[..i]);
                return DataFlow::Finish {
                    used: i + 2,
                    outcome: Ok(Reply::Done(at_parser::ResultCode::SendOk)),
                };
            }
            s.got.extend_from_slice(b);
            DataFlow::Continue
        }
        DataEvent::Complete => {
            call.line(format_args!("\r\nRecv {} bytes", s.got.len()));
            DataFlow::done(Ok(Reply::Done(at_parser::ResultCode::SendOk)))
        }
        DataEvent::Escaped => {
            s.escaped = true;
            call.write(b"\r\nSEND Canceled\r\n");
            DataFlow::done(Ok(Reply::Done(at_parser::ResultCode::Ignore)))
        }
    }
}

fn sink_set(s: &mut Sink, _: &mut Call<'_>, a: &Args<'_>) -> Outcome<Sink> {
    let n = a.int_in(0, 1..=8192)? as usize;
    s.got.clear();
    s.escaped = false;
    Ok(Reply::Data(DataPhase { room: Some(sink_room), ..DataPhase::exact(n, sink_data) }))
}

const SINK: &[CommandDef<Sink>] = &[CommandDef { set: Some(sink_set), ..CommandDef::named("+SINK") }];

fn sink_fw() -> (Firmware<MockPlatform, Sink>, Instant) {
    let now = Instant::from_millis(0);
    let mut fw =
        Firmware::with_custom(MockPlatform::new(vec![]), Options::default(), Sink::default(), SINK, now);
    fw.ext().room = usize::MAX;
    let mut b = vec![0u8; 64];
    let n = fw.transmit(&mut b);
    assert_eq!(&b[..n], b"\r\nready\r\n");
    (fw, now)
}

fn out<P: at_hal::Platform, X>(fw: &mut Firmware<P, X>) -> String {
    let mut b = vec![0u8; fw.tx_len()];
    let n = fw.transmit(&mut b);
    String::from_utf8_lossy(&b[..n]).into_owned()
}

#[test]
fn backpressure_stops_reading_instead_of_buffering() {
    let (mut fw, now) = sink_fw();
    fw.receive(b"ATE0\r\nAT+SINK=10\r\n", now);
    assert_eq!(out(&mut fw), "ATE0\r\n\r\nOK\r\n\r\nOK\r\n\r\n>");
    fw.ext().room = 4;
    // Only 4 bytes are taken; the firmware says it wants no more until room frees up.
    assert_eq!(fw.receive(b"0123456789", now), 4);
    assert!(!fw.wants_input());
    assert_eq!(fw.receive(b"456789", now), 0);
    fw.ext().room = 100;
    assert!(fw.wants_input());
    assert_eq!(fw.receive(b"456789", now), 6);
    fw.poll(now);
    assert_eq!(out(&mut fw), "\r\nRecv 10 bytes\r\n\r\nSEND OK\r\n");
    assert_eq!(fw.ext().got, b"0123456789");
}

#[test]
fn early_end_returns_the_rest_to_command_mode() {
    let (mut fw, now) = sink_fw();
    fw.receive(b"ATE0\r\nAT+SINK=100\r\nhello\\0AT\r\n", now);
    fw.poll(now);
    assert_eq!(out(&mut fw), "ATE0\r\n\r\nOK\r\n\r\nOK\r\n\r\n>\r\nSEND OK\r\n\r\nOK\r\n");
    assert_eq!(fw.ext().got, b"hello");
}

#[test]
fn plus_plus_plus_cancels_an_exact_phase() {
    let (mut fw, mut now) = sink_fw();
    fw.receive(b"ATE0\r\nAT+SINK=100\r\nabc", now);
    out(&mut fw);
    now = now + Duration::from_millis(50);
    fw.receive(b"+++", now);
    now = now + Duration::from_millis(30);
    fw.poll(now);
    assert_eq!(out(&mut fw), "\r\nSEND Canceled\r\n");
    assert!(fw.ext().escaped);
    fw.receive(b"AT\r\n", now);
    assert_eq!(out(&mut fw), "\r\nOK\r\n");
}

#[test]
fn restart_queued_behind_other_commands_still_happens() {
    let mut b = Bench::new();
    b.cmd("ATE0");
    // UART change and restart in one chunk, with a command after them: both deferred
    // actions run once the output has drained, in order; input behind a pending restart is
    // lost, as on a rebooting chip.
    b.send(b"AT+UART_CUR=921600,8,1,0,0\r\nAT+RST\r\nAT+GMR\r\n");
    assert_eq!(b.take(), "\r\nOK\r\n\r\nOK\r\n");
    b.fw.poll(b.now);
    assert_eq!(b.take(), "\r\nready\r\n");
    assert_eq!(b.fw.platform().system.restarts, 1);
    // 921600 applied after the OKs, then the restart's boot applied the stored default.
    let bauds: Vec<u32> = b.fw.platform().uart.applied.iter().map(|u| u.baudrate).collect();
    assert_eq!(bauds[bauds.len() - 2..], [921_600, 115_200]);
}

#[test]
fn at_rst_while_busy_forces_a_restart() {
    let mut b = Bench::new();
    b.send(b"AT+CWJAP=\"HomeAP\",\"secret123\"\r\n");
    b.advance(Duration::from_millis(50));
    b.take();
    b.send(b"AT+RST\r\n");
    assert_eq!(b.take(), "\r\nWill force to restart!!!\r\n\r\nOK\r\n");
    b.fw.poll(b.now);
    assert_eq!(b.take(), "\r\nready\r\n");
    assert_eq!(b.fw.platform().system.restarts, 1);
    assert!(!b.fw.is_busy());
    // Lower-case or other input while busy is just busy.
    b.send(b"AT+CWJAP=\"HomeAP\",\"secret123\"\r\n");
    b.advance(Duration::from_millis(50));
    b.take();
    b.send(b"at+rst\r\n");
    assert_eq!(b.take(), "\r\nbusy p...\r\n");
}

#[test]
fn echo_is_per_byte_and_includes_over_long_lines() {
    let mut b = Bench::new();
    b.send(b"A");
    assert_eq!(b.take(), "A");
    b.send(b"T");
    assert_eq!(b.take(), "T");
    b.send(b"\r\n");
    assert_eq!(b.take(), "\r\n\r\nOK\r\n");
    let long = format!("AT+{}\r\n", "X".repeat(400));
    b.send(long.as_bytes());
    assert_eq!(b.take(), format!("{long}\r\nERROR\r\n"));
}

#[test]
fn cwjap_while_connected() {
    let mut b = Bench::new();
    b.cmd("ATE0");
    assert!(b.cmd("AT+CWJAP=\"HomeAP\",\"secret123\"").ends_with("WIFI GOT IP\r\n\r\nOK\r\n"));
    // Exec form while connected: OK at once.
    b.send(b"AT+CWJAP\r\n");
    assert_eq!(b.take(), "\r\nOK\r\n");
    // Set form while connected: the disconnect is reported first.
    assert_eq!(
        b.cmd("AT+CWJAP=\"HomeAP\",\"secret123\""),
        "WIFI DISCONNECT\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n"
    );
    // Without a password field: ERROR (open networks are `"ssid",""`).
    assert_eq!(b.cmd("AT+CWJAP=\"Open\""), "\r\nERROR\r\n");
    assert_eq!(b.fw.last_error().unwrap().code.0, 0x0108_0001);
    assert!(b.cmd("AT+CWJAP=\"Open\",\"\"").ends_with("WIFI GOT IP\r\n\r\nOK\r\n"));
}

#[test]
fn messages_never_split_a_streamed_response() {
    // A 6 KiB value read back with AT+SYSMFG streams across polls (the transmit queue is
    // 8 KiB and half of it must stay free for other responses); a Wi-Fi event meanwhile is
    // printed after it, not inside it.
    let mut mfg = MemKv::new();
    let blob: Vec<u8> = (0..6000u32).map(|i| b'a' + (i % 26) as u8).collect();
    mfg.set("client_cert", "client_cert.0", Value::Blob(&blob)).unwrap();
    let mut d = Dev::new(mfg, Options::default());
    d.send(b"ATE0\r\nAT+CWMODE=1\r\nAT+CWJAP=\"AP\",\"\"\r\n");
    for _ in 0..200 {
        d.now = d.now + Duration::from_millis(10);
        d.fw.poll(d.now);
    }
    assert!(d.out().ends_with("WIFI GOT IP\r\n\r\nOK\r\n"));
    // Start the read, then lose the AP while it streams.
    d.fw.receive(b"AT+SYSMFG=1,\"client_cert\",\"client_cert.0\"\r\n", d.now);
    d.fw.platform().wifi.aps_mut()[0].present = false;
    let mut got = Vec::new();
    for _ in 0..400 {
        d.now = d.now + Duration::from_millis(1);
        d.fw.poll(d.now);
        let mut b = vec![0u8; 512];
        let n = d.fw.transmit(&mut b);
        got.extend_from_slice(&b[..n]);
    }
    let text = String::from_utf8(got).unwrap();
    let start = text.find("+SYSMFG:").unwrap();
    let end = start + text[start..].find("\r\n\r\nOK\r\n").unwrap();
    assert!(!text[start..end].contains("WIFI"), "a message inside the response");
    assert!(text[end..].contains("WIFI DISCONNECT\r\n"), "{}", &text[end..]);
    assert!(text[start..end].contains(std::str::from_utf8(&blob).unwrap()));
}

#[test]
fn sysmfg_large_write_and_streamed_read() {
    let mut d = Dev::new(MemKv::new(), Options::default());
    d.send(b"ATE0\r\n");
    let blob: Vec<u8> = (0..8191u32).map(|i| (i * 7) as u8).collect();
    assert_eq!(d.send(b"AT+SYSMFG=2,\"big\",\"blob\",8,8191\r\n"), "\r\nOK\r\n\r\n>");
    assert_eq!(d.send(&blob), "\r\nOK\r\n");
    assert_eq!(d.send(b"AT+SYSMFG=2,\"big\",\"blob\",8,8192\r\n"), "\r\nERROR\r\n");
    d.fw.receive(b"AT+SYSMFG=1,\"big\",\"blob\"\r\n", d.now);
    let mut got = Vec::new();
    let mut peak = 0;
    for _ in 0..100 {
        d.now = d.now + Duration::from_millis(1);
        d.fw.poll(d.now);
        peak = peak.max(d.fw.tx_len());
        let mut b = vec![0u8; 1024];
        let n = d.fw.transmit(&mut b);
        got.extend_from_slice(&b[..n]);
    }
    let head = b"+SYSMFG:\"big\",\"blob\",8,8191,";
    assert_eq!(got, [&head[..], &blob, b"\r\n\r\nOK\r\n"].concat());
    assert!(peak <= at_core::tx::TX_CAPACITY, "streamed within the queue's capacity ({peak})");
}

#[test]
fn custom_tables_see_ok() {
    // The contract types are usable by custom firmware through at_parser alone.
    fn f(_: &mut Sink, _: &mut Call<'_>) -> Outcome<Sink> {
        ok()
    }
    let _: CommandDef<Sink> = CommandDef { exec: Some(f), ..CommandDef::named("+F") };
}
