//! Property tests of the parser's invariants.

use at_hal::time::Instant;
use at_parser::framer::{DataLen, Event, Framer, Terminator};
use at_parser::{Form, Param, parse};
use proptest::prelude::*;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Line(Vec<u8>, Result<Vec<Vec<u8>>, u32>),
    Err,
    Data(Vec<u8>),
    Complete,
    Escape,
}

/// Feed `chunks` (each with its arrival time) through a framer and parse every line. Data
/// chunks are concatenated so that chunking of the data phase doesn't matter.
fn run(chunks: &[(Vec<u8>, u64)], term: Terminator, data_after: Option<usize>) -> Vec<Ev> {
    let mut f: Framer = Framer::new(term);
    let mut out: Vec<Ev> = Vec::new();
    let push = |out: &mut Vec<Ev>, e: Ev| match (out.last_mut(), e) {
        (Some(Ev::Data(d)), Ev::Data(more)) => d.extend(more),
        (_, e) => out.push(e),
    };
    let mut lines = 0usize;
    for (chunk, t) in chunks {
        let now = Instant::from_millis(*t);
        let mut input = &chunk[..];
        loop {
            while let Some(e) = f.poll(now) {
                push(&mut out, own(e, &mut lines, None));
            }
            if input.is_empty() {
                break;
            }
            let (ev, n) = f.feed(input, now);
            input = &input[n..];
            if let Some(e) = ev {
                let is_line = matches!(e, Event::Line { .. });
                let e = own(e, &mut lines, None);
                push(&mut out, e);
                if is_line && Some(lines) == data_after {
                    f.enter_data(DataLen::Exact(10), now);
                }
            }
        }
    }
    out
}

fn own(e: Event<'_, '_>, lines: &mut usize, _: Option<()>) -> Ev {
    match e {
        Event::Line { line, text_len } => {
            *lines += 1;
            let text = line[..text_len].to_vec();
            let parsed = match parse(&mut line[..text_len]) {
                Ok(c) => Ok(match c.form {
                    Form::Set(a) => a
                        .iter()
                        .map(|p| match p {
                            Param::Omitted => b"<omitted>".to_vec(),
                            Param::Str(s) => [b"s:", s].concat(),
                            Param::Bare(s) => [b"b:", s].concat(),
                        })
                        .collect(),
                    _ => vec![c.name.to_vec()],
                }),
                Err(e) => Err(e.code.0),
            };
            Ev::Line(text, parsed)
        }
        Event::LineError { .. } => Ev::Err,
        Event::Busy { .. } => Ev::Err,
        Event::Data(d) => Ev::Data(d.to_vec()),
        Event::DataComplete => Ev::Complete,
        Event::Escape => Ev::Escape,
    }
}

fn session_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"AT\r\n".to_vec()),
        Just(b"AT+CWJAP=\"a\\,b\",\"p\\\"w\"\r\n".to_vec()),
        Just(b"AT+CIPSEND=0,10\r\n".to_vec()),
        Just(b"+++".to_vec()),
        Just(b"\r\n".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..40),
    ];
    proptest::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

/// Split `bytes` at `cuts` (positions taken modulo the length), all at the same time.
fn chunk(bytes: &[u8], cuts: &[usize], t: u64) -> Vec<(Vec<u8>, u64)> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut prev = 0;
    for c in cuts.into_iter().chain([bytes.len()]) {
        out.push((bytes[prev..c].to_vec(), t));
        prev = c;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Any chunking of a byte stream (arriving at the same time) parses the same.
    #[test]
    fn chunking_does_not_matter(bytes in session_bytes(), cuts in proptest::collection::vec(any::<usize>(), 0..16),
                                term in prop_oneof![Just(Terminator::CrLf), Just(Terminator::Byte(b'\n')), Just(Terminator::Byte(b'\r'))],
                                data_after in proptest::option::of(1usize..4)) {
        let whole = run(&[(bytes.clone(), 5)], term, data_after);
        let split = run(&chunk(&bytes, &cuts, 5), term, data_after);
        prop_assert_eq!(whole, split);
    }

    /// Arbitrary bytes at arbitrary times never panic, and a following `AT` still parses.
    #[test]
    fn arbitrary_input_never_panics(chunks in proptest::collection::vec((proptest::collection::vec(any::<u8>(), 0..300), 0u64..100), 0..8)) {
        let mut timed = Vec::new();
        let mut t = 0;
        for (c, dt) in chunks {
            t += dt;
            timed.push((c, t));
        }
        // Terminate whatever was left, then send a clean command well after any guard.
        timed.push((b"\r\n".to_vec(), t + 100));
        timed.push((b"AT\r\n".to_vec(), t + 200));
        let out = run(&timed, Terminator::CrLf, Some(2));
        let last_line = out.iter().rev().find_map(|e| match e { Ev::Line(t, _) => Some(t.clone()), _ => None });
        // The framer might still be in a data phase started by the second line; otherwise
        // the final AT must come out as a line.
        if !out.iter().any(|e| matches!(e, Ev::Data(_))) {
            prop_assert_eq!(last_line, Some(b"AT".to_vec()));
        }
    }

    /// Escaping any bytes as ESP-AT's quoted-string syntax and parsing them back is the
    /// identity.
    #[test]
    fn escape_round_trip(values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..5)) {
        let mut line = b"AT+X=".to_vec();
        for (i, v) in values.iter().enumerate() {
            if i > 0 { line.push(b','); }
            line.push(b'"');
            for &b in v {
                if matches!(b, b'\\' | b'"' | b',') { line.push(b'\\'); }
                line.push(b);
            }
            line.push(b'"');
        }
        let c = parse(&mut line).unwrap();
        let Form::Set(a) = c.form else { panic!("set form expected") };
        prop_assert_eq!(a.len(), values.len());
        for (i, v) in values.iter().enumerate() {
            prop_assert_eq!(a.get(i), Param::Str(v));
        }
    }
}

/// Data-phase boundaries: pluses, guard times and exact lengths in any chunking.
#[test]
fn timed_escape_sequences() {
    let chunks =
        vec![(b"AT+CIPSEND=0,10\r\n".to_vec(), 0), (b"+++".to_vec(), 100), (b"AT\r\n".to_vec(), 200)];
    let out = run(&chunks, Terminator::CrLf, Some(1));
    assert_eq!(out[1..], [Ev::Escape, Ev::Line(b"AT".to_vec(), Ok(vec![b"".to_vec()]))]);
}
