//! Adding your own AT commands — ESP-AT's most common customization.
//!
//! A custom command is a row `{name, test, query, set, exec}` whose handlers get your own
//! state (`Counter` here) instead of the firmware's. Rows are looked up before the built-in
//! commands, so a row named like a built-in one replaces it.
//!
//! Run: `cargo run --example custom_command` (prints a session transcript).

use std::time::Duration;

use at_core::{Firmware, Options};
use at_hal::time::Instant;
use at_mock::{MockPlatform, SimAp};
use at_parser::{Args, AtError, Call, CommandDef, DataEvent, DataFlow, DataPhase, Outcome, Reply, ok};

/// The state your commands share.
#[derive(Default)]
struct Counter {
    value: i64,
    wait_until: Option<Instant>,
    received: Vec<u8>,
}

/// `AT+COUNT=?` — describe the parameters.
fn count_test(_: &mut Counter, call: &mut Call<'_>) -> Outcome<Counter> {
    call.line(format_args!("+COUNT:(0-1000)"));
    ok()
}

/// `AT+COUNT?` — report the value.
fn count_query(c: &mut Counter, call: &mut Call<'_>) -> Outcome<Counter> {
    call.line(format_args!("+COUNT:{}", c.value));
    ok()
}

/// `AT+COUNT=<n>[,"<label>"]` — typed, range-checked parameters; the error carries a reason
/// that AT+SYSLOG=1 prints.
fn count_set(c: &mut Counter, call: &mut Call<'_>, a: &Args<'_>) -> Outcome<Counter> {
    a.expect_count(1, 2)?;
    let n = a.int_in(0, 0..=1000)?;
    if let Some(label) = a.opt_str_len(1, 1..=16)? {
        call.write(b"+COUNT:label=");
        call.write(label);
        call.write(b"\r\n");
    }
    c.value = n;
    ok()
}

/// `AT+COUNT` — increment.
fn count_exec(c: &mut Counter, _: &mut Call<'_>) -> Outcome<Counter> {
    if c.value >= 1000 {
        return Err(AtError::custom_exec(1, "counter is at its maximum"));
    }
    c.value += 1;
    ok()
}

/// `AT+WAIT=<ms>` — a long-running command: input meanwhile gets `busy p...`.
fn wait_set(c: &mut Counter, call: &mut Call<'_>, a: &Args<'_>) -> Outcome<Counter> {
    let ms = a.int_in(0, 0..=10_000)? as u64;
    c.wait_until = Some(call.now() + Duration::from_millis(ms));
    Ok(Reply::Pending(wait_poll))
}

fn wait_poll(c: &mut Counter, call: &mut Call<'_>) -> Option<Outcome<Counter>> {
    (call.now() >= c.wait_until?).then(|| {
        c.wait_until = None;
        ok()
    })
}

/// `AT+UPLOAD=<len>` — prints `OK` and `>`, then takes exactly `len` raw bytes (a data
/// phase: see `at_parser::DataPhase` for the contract — backpressure, early end, and what
/// happens to the rest of the bytes when the handler fails).
fn upload_set(c: &mut Counter, _: &mut Call<'_>, a: &Args<'_>) -> Outcome<Counter> {
    let len = a.int_in(0, 1..=4096)? as usize;
    c.received.clear();
    Ok(Reply::Data(DataPhase::exact(len, upload_data)))
}

fn upload_data(c: &mut Counter, call: &mut Call<'_>, ev: DataEvent<'_>) -> DataFlow<Counter> {
    match ev {
        DataEvent::Bytes(b) => {
            c.received.extend_from_slice(b);
            DataFlow::Continue
        }
        DataEvent::Complete => {
            call.line(format_args!("\r\nRecv {} bytes", c.received.len()));
            DataFlow::done(ok())
        }
        DataEvent::Escaped => DataFlow::done(Err(AtError::custom_exec(2, "upload cancelled with +++"))),
    }
}

const MY_COMMANDS: &[CommandDef<Counter>] = &[
    CommandDef {
        name: "+COUNT",
        test: Some(count_test),
        query: Some(count_query),
        set: Some(count_set),
        exec: Some(count_exec),
    },
    CommandDef { set: Some(wait_set), ..CommandDef::named("+WAIT") },
    CommandDef { set: Some(upload_set), ..CommandDef::named("+UPLOAD") },
];

fn main() {
    // Any platform works; the mock one needs no hardware.
    let platform = MockPlatform::new(vec![SimAp::new(b"HomeAP", b"secret123")]);
    let mut now = Instant::from_millis(0);
    let mut fw = Firmware::with_custom(platform, Options::default(), Counter::default(), MY_COMMANDS, now);

    let session: &[&[u8]] = &[
        b"AT+COUNT=?\r\n",
        b"AT+COUNT=41,\"answer\"\r\n",
        b"AT+COUNT\r\n",
        b"AT+COUNT?\r\n",
        b"AT+COUNT=5000\r\n",
        b"AT+SYSLOG=1\r\n",
        b"AT+COUNT=5000\r\n",
        b"AT+WAIT=50\r\nAT\r\n",
        b"AT+UPLOAD=5\r\nhello",
        b"AT+CMD?\r\n",
    ];
    for input in session {
        fw.receive(input, now);
        // Let time pass so long commands finish.
        for _ in 0..20 {
            now = now + Duration::from_millis(5);
            fw.poll(now);
        }
        let mut out = vec![0u8; fw.tx_len()];
        let n = fw.transmit(&mut out);
        print!("{}", String::from_utf8_lossy(&out[..n]));
    }
}
