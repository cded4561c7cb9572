//! Parser and dispatcher throughput.
//!
//! * `framing/framer` vs `framing/memchr_lines`: the streaming framer (256-byte bound,
//!   terminator rules, `+++` state) against a plain `memchr` split of the same bytes — the
//!   reference, so the README reports the ratio.
//! * `parse_only`: level-2 parsing of every line (name, form, parameters unescaped in place).
//! * `firmware_dispatch`: the whole path, bytes in to response bytes out, on the mock
//!   platform (echo on, as ESP-AT defaults).

use at_benches::{COMMAND_MIX, session};
use at_core::{Firmware, Options};
use at_hal::time::Instant;
use at_mock::{MockPlatform, SimAp};
use at_parser::framer::{Event, Framer};
use at_parser::{Form, parse};
use divan::counter::{BytesCount, ItemsCount};
use divan::{Bencher, black_box};

fn main() {
    divan::main();
}

const REPEAT: usize = 64;

fn lines() -> usize {
    COMMAND_MIX.len() * REPEAT
}

#[divan::bench(name = "framing/framer")]
fn framer(b: Bencher<'_, '_>) {
    let input = session(REPEAT);
    b.counter(BytesCount::of_slice(&input)).bench_local(|| {
        let mut f: Framer = Framer::default();
        let mut rest = black_box(&input[..]);
        let mut n = 0usize;
        while !rest.is_empty() {
            let (ev, used) = f.feed(rest, Instant::ZERO);
            if let Some(Event::Line { text_len, .. }) = ev {
                n += text_len;
            }
            rest = &rest[used..];
        }
        n
    });
}

#[divan::bench(name = "framing/memchr_lines")]
fn memchr_lines(b: Bencher<'_, '_>) {
    let input = session(REPEAT);
    b.counter(BytesCount::of_slice(&input)).bench_local(|| {
        let input = black_box(&input[..]);
        let mut start = 0;
        let mut n = 0usize;
        for end in memchr::memchr_iter(b'\n', input) {
            let line = &input[start..end];
            n += line.strip_suffix(b"\r").map_or(0, <[u8]>::len);
            start = end + 1;
        }
        n
    });
}

#[divan::bench]
fn parse_only(b: Bencher<'_, '_>) {
    let lines: Vec<Vec<u8>> = COMMAND_MIX.iter().map(|c| c.as_bytes().to_vec()).collect();
    b.counter(ItemsCount::new(lines.len())).bench_local(|| {
        let mut buf = [0u8; 256];
        let mut params = 0usize;
        for l in &lines {
            buf[..l.len()].copy_from_slice(l);
            if let Ok(cmd) = parse(black_box(&mut buf[..l.len()]))
                && let Form::Set(a) = cmd.form
            {
                params += a.len();
            }
        }
        params
    });
}

#[divan::bench]
fn firmware_dispatch(b: Bencher<'_, '_>) {
    let input = session(REPEAT);
    let mut fw = Firmware::new(
        MockPlatform::new(vec![SimAp::new(b"HomeAP", b"secret123")]),
        Options::default(),
        Instant::ZERO,
    );
    let mut out = vec![0u8; 1 << 16];
    b.counter(ItemsCount::new(lines())).bench_local(|| {
        let mut rest = black_box(&input[..]);
        while !rest.is_empty() {
            let used = fw.receive(rest, Instant::ZERO);
            rest = &rest[used..];
            while fw.transmit(&mut out) > 0 {}
        }
    });
}
