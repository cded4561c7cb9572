//! Arbitrary bytes, in arbitrary chunks at arbitrary times, through the framer and the
//! command parser. Must never panic; the framer's line buffer must stay within its limit.
#![no_main]

use at_hal::time::Instant;
use at_parser::framer::{DataLen, Event, Framer, MAX_LINE, Terminator};
use at_parser::{Form, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut rest)) = data.split_first() else { return };
    let term = match mode % 3 {
        0 => Terminator::CrLf,
        1 => Terminator::Byte(b'\n'),
        _ => Terminator::Byte(b'\r'),
    };
    let mut f: Framer = Framer::new(term);
    let mut t = 0u64;
    // Each chunk: [len, dt_ms, bytes...]
    while let [len, dt, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (chunk, next) = tail.split_at(n);
        rest = next;
        t += u64::from(*dt);
        let now = Instant::from_millis(t);
        let mut input = chunk;
        loop {
            let (ev, used) = f.feed(input, now);
            assert!(used <= input.len());
            input = &input[used..];
            match ev {
                Some(Event::Line { line, text_len }) => {
                    assert!(line.len() <= MAX_LINE && text_len <= line.len());
                    if let Ok(cmd) = parse(&mut line[..text_len]) {
                        if let Form::Set(args) = cmd.form {
                            for i in 0..args.len() + 1 {
                                let _ = args.int(i);
                                let _ = args.str(i);
                            }
                            if args.len() == 1 {
                                f.enter_data(DataLen::Exact(usize::from(*dt)), now);
                            } else if args.len() == 2 {
                                f.enter_data(DataLen::Unbounded, now);
                            }
                        }
                    }
                }
                Some(Event::LineError { received, .. }) => assert!(received.len() <= MAX_LINE),
                Some(_) => {}
                None if input.is_empty() => break,
                None => {}
            }
            if input.is_empty() && f.next_deadline().is_none_or(|d| d > now) {
                break;
            }
        }
        while f.poll(now).is_some() {}
        if *dt == 0xff {
            f.set_busy(true);
        } else if *dt == 0xfe {
            f.set_busy(false);
        }
    }
});
