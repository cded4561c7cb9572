//! The embedded-io runner over the in-memory UART, and custom command tables.

use std::time::Duration;

use at_core::runner::{Pending, pump};
use at_core::{Firmware, Options};
use at_hal::time::Instant;
use at_mock::{MockPlatform, SimAp, uart_pipe};
use at_parser::{
    Args, AtError, Call, CommandDef, DataEvent, DataFlow, DataPhase, ErrorCode, Outcome, Reply, ResultCode,
    ok,
};

#[test]
fn pump_moves_bytes_and_throttles_a_host_that_does_not_read() {
    let (host, mut dev) = uart_pipe();
    let mut now = Instant::from_millis(0);
    let mut fw = Firmware::new(MockPlatform::new(vec![]), Options::default(), now);
    let mut pending: Pending = Pending::default();
    host.send(b"AT\r\n");
    pump(&mut fw, &mut dev, &mut pending, now).unwrap();
    assert_eq!(host.recv(), b"\r\nready\r\nAT\r\n\r\nOK\r\n");

    // The host stops reading after 64 bytes: the firmware keeps output queued, then stops
    // taking input, and nothing is lost once the host reads again.
    host.set_capacity(Some(64));
    let many = "AT+GMR\r\n".repeat(200);
    host.send(many.as_bytes());
    for _ in 0..400 {
        now = now + Duration::from_millis(1);
        pump(&mut fw, &mut dev, &mut pending, now).unwrap();
    }
    let half = at_core::tx::TX_CAPACITY / 2;
    assert!(fw.tx_len() >= half, "output backed up");
    assert!(fw.tx_len() < half + 1024, "input throttled, queue bounded");
    assert!(!fw.wants_input());
    host.set_capacity(None);
    let mut got = host.recv();
    for _ in 0..2000 {
        now = now + Duration::from_millis(1);
        pump(&mut fw, &mut dev, &mut pending, now).unwrap();
        got.extend(host.recv());
    }
    let text = String::from_utf8(got).unwrap();
    assert_eq!(text.matches("Bin version:").count(), 200, "every command answered once");
    assert_eq!(text.matches("\r\nOK\r\n").count(), 200);
}

#[derive(Default)]
struct Ext {
    value: i64,
    data: Vec<u8>,
    until: Option<Instant>,
}

fn set(e: &mut Ext, _: &mut Call<'_>, a: &Args<'_>) -> Outcome<Ext> {
    e.value = a.int_in(0, 0..=9)?;
    ok()
}

fn query(e: &mut Ext, call: &mut Call<'_>) -> Outcome<Ext> {
    call.line(format_args!("+MY:{}", e.value));
    ok()
}

fn gmr_override(_: &mut Ext, call: &mut Call<'_>) -> Outcome<Ext> {
    call.line(format_args!("custom firmware 1.0"));
    ok()
}

fn slow(e: &mut Ext, call: &mut Call<'_>) -> Outcome<Ext> {
    e.until = Some(call.now() + Duration::from_millis(100));
    Ok(Reply::Pending(|e, call| {
        (call.now() >= e.until?).then(|| Err(AtError::new(ErrorCode::exec_fail(7), "slow failed")))
    }))
}

fn take(e: &mut Ext, _: &mut Call<'_>, a: &Args<'_>) -> Outcome<Ext> {
    let n = a.int_in(0, 1..=100)? as usize;
    e.data.clear();
    Ok(Reply::Data(DataPhase::exact(n, take_data)))
}

fn take_data(e: &mut Ext, call: &mut Call<'_>, ev: DataEvent<'_>) -> DataFlow<Ext> {
    match ev {
        DataEvent::Bytes(b) => {
            e.data.extend_from_slice(b);
            DataFlow::Continue
        }
        DataEvent::Complete => {
            call.line(format_args!("\r\nRecv {} bytes", e.data.len()));
            DataFlow::done(Ok(Reply::Done(ResultCode::SendOk)))
        }
        DataEvent::Escaped => DataFlow::done(Ok(Reply::Done(ResultCode::SendFail))),
    }
}

const TABLE: &[CommandDef<Ext>] = &[
    CommandDef { set: Some(set), query: Some(query), ..CommandDef::named("+MY") },
    CommandDef { exec: Some(gmr_override), ..CommandDef::named("+GMR") },
    CommandDef { exec: Some(slow), ..CommandDef::named("+SLOW") },
    CommandDef { set: Some(take), ..CommandDef::named("+TAKE") },
];

fn run(fw: &mut Firmware<MockPlatform, Ext>, now: &mut Instant, input: &[u8], ms: u64) -> String {
    fw.receive(input, *now);
    for _ in 0..ms {
        *now = *now + Duration::from_millis(1);
        fw.poll(*now);
    }
    let mut out = vec![0u8; fw.tx_len()];
    let n = fw.transmit(&mut out);
    String::from_utf8_lossy(&out[..n]).into_owned()
}

#[test]
fn custom_commands_override_pend_and_take_data() {
    let mut now = Instant::from_millis(0);
    let mut fw = Firmware::with_custom(
        MockPlatform::new(vec![SimAp::new(b"a", b"")]),
        Options::default(),
        Ext::default(),
        TABLE,
        now,
    );
    assert_eq!(
        run(&mut fw, &mut now, b"ATE0\r\nAT+MY=7\r\nAT+MY?\r\n", 1),
        "\r\nready\r\nATE0\r\n\r\nOK\r\n\r\nOK\r\n+MY:7\r\n\r\nOK\r\n"
    );
    assert_eq!(run(&mut fw, &mut now, b"AT+MY=10\r\n", 1), "\r\nERROR\r\n");
    assert_eq!(fw.last_error().unwrap().code.0, 0x0107_0000);
    assert_eq!(run(&mut fw, &mut now, b"AT+GMR\r\n", 1), "custom firmware 1.0\r\n\r\nOK\r\n");
    let listing = run(&mut fw, &mut now, b"AT+CMD?\r\n", 1);
    assert_eq!(listing.matches("\"AT+GMR\"").count(), 1, "an override is listed once");
    assert!(listing.contains("\"AT+TAKE\",0,0,1,0"));
    assert_eq!(run(&mut fw, &mut now, b"AT+SLOW\r\nAT\r\n", 150), "\r\nbusy p...\r\n\r\nERROR\r\n");
    assert_eq!(fw.last_error().unwrap().reason, "slow failed");
    assert_eq!(run(&mut fw, &mut now, b"AT+TAKE=5\r\nhel", 1), "\r\nOK\r\n\r\n>");
    // Bytes past the declared length are command input again: the stray CR LF is an empty
    // line, which ESP-AT answers with ERROR (its FAQ: "extra CR-LF after a command").
    assert_eq!(
        run(&mut fw, &mut now, b"lo\r\nAT\r\n", 1),
        "\r\nRecv 5 bytes\r\n\r\nSEND OK\r\n\r\nERROR\r\n\r\nOK\r\n"
    );
    assert_eq!(fw.ext().data, b"hello");
    // +++ with guard times ends the data phase early.
    assert_eq!(run(&mut fw, &mut now, b"AT+TAKE=50\r\nab", 30), "\r\nOK\r\n\r\n>");
    assert_eq!(run(&mut fw, &mut now, b"+++", 30), "\r\nSEND FAIL\r\n");
    assert_eq!(run(&mut fw, &mut now, b"AT\r\n", 1), "\r\nOK\r\n");
}

#[test]
fn a_restart_waiting_for_a_host_that_stopped_reading_does_not_spin() {
    let (host, mut dev) = uart_pipe();
    let now = Instant::from_millis(0);
    let mut fw = Firmware::new(MockPlatform::new(vec![]), Options::default(), now);
    let mut pending: Pending = Pending::default();
    pump(&mut fw, &mut dev, &mut pending, now).unwrap();
    assert_eq!(host.recv(), b"\r\nready\r\n");
    // The host reads nothing more: AT+RST's OK cannot leave, so the restart waits.
    host.set_capacity(Some(0));
    host.send(b"AT+RST\r\n");
    let next = pump(&mut fw, &mut dev, &mut pending, now).unwrap();
    assert!(fw.has_deferred());
    assert_eq!(next, None, "no immediate re-poll while output cannot move (that would spin)");
    assert_eq!(fw.platform().system.restarts, 0);
    // Once the host reads, the OK goes out and the restart follows.
    host.set_capacity(None);
    let mut next = pump(&mut fw, &mut dev, &mut pending, now).unwrap();
    for _ in 0..3 {
        if next != Some(now) {
            break;
        }
        next = pump(&mut fw, &mut dev, &mut pending, now).unwrap();
    }
    assert_eq!(fw.platform().system.restarts, 1);
    assert_eq!(host.recv(), b"AT+RST\r\n\r\nOK\r\n\r\nready\r\n");
}
