//! Arbitrary AT sessions against the whole firmware on the mock platform. Must never panic,
//! and afterwards the firmware must still answer `AT` with `OK` (no stuck state).
#![no_main]

use std::time::Duration;

use at_core::{Firmware, Options};
use at_hal::time::Instant;
use at_mock::{MockPlatform, SimAp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let platform = MockPlatform::new(vec![SimAp::new(b"HomeAP", b"secret123"), SimAp::new(b"Open", b"")]);
    let mut now = Instant::from_millis(0);
    let mut fw = Firmware::new(platform, Options::default(), now);
    let mut sink = vec![0u8; 4096];
    let mut rest = data;
    // Each chunk: [len, dt_ms, bytes...]
    while let [len, dt, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (chunk, next) = tail.split_at(n);
        rest = next;
        now = now + Duration::from_millis(u64::from(*dt) * 8);
        let mut input = chunk;
        while !input.is_empty() {
            let used = fw.receive(input, now);
            input = &input[used..];
            while fw.transmit(&mut sink) > 0 {}
            if used == 0 {
                // Backpressure with nothing left to drain would be a hang: a bug.
                fw.poll(now);
                while fw.transmit(&mut sink) > 0 {}
                assert!(fw.receive(input, now) > 0 || input.is_empty(), "input refused with an empty queue");
            }
        }
        fw.poll(now);
        while fw.transmit(&mut sink) > 0 {}
    }
    // A session may end inside a data phase: cancel it with `+++` and its guard times (the
    // payload would otherwise swallow the final AT). Then end any partial line (it may itself
    // start a command), and let every running command finish (AT+CWJAP's timeout is at most
    // 600 s).
    if fw.in_data_phase() {
        now = now + Duration::from_millis(30);
        fw.poll(now);
        fw.receive(b"+++", now);
        now = now + Duration::from_millis(30);
        fw.poll(now);
        while fw.transmit(&mut sink) > 0 {}
        assert!(!fw.in_data_phase(), "+++ did not end the data phase");
    }
    fw.receive(b"\r\n", now);
    for _ in 0..700 {
        now = now + Duration::from_secs(1);
        fw.poll(now);
        while fw.transmit(&mut sink) > 0 {}
    }
    assert!(!fw.is_busy(), "a command is still running after 700 s");
    fw.receive(b"AT\r\n", now);
    fw.poll(now);
    let mut out = Vec::new();
    loop {
        let n = fw.transmit(&mut sink);
        if n == 0 {
            break;
        }
        out.extend_from_slice(&sink[..n]);
    }
    assert!(out.ends_with(b"\r\nOK\r\n"), "AT after the session: {:?}", String::from_utf8_lossy(&out));
});
