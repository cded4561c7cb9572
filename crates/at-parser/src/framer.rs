//! Level 1: the byte stream → lines, busy lines, data bytes and `+++` escapes.
//!
//! [`Framer`] is a push parser over arbitrary chunks: the caller hands it whatever the UART
//! delivered together with the time it arrived, and gets back at most one [`Event`] and the
//! number of bytes consumed (atat's `digest` shape). Feed the rest again until it is used up.
//! Any chunking of the same bytes at the same times yields the same events (a property test
//! checks it).
//!
//! Modes:
//! * **command** — bytes are assembled into a line of at most `N` bytes *including* its
//!   terminator (ESP-AT: 256). The default terminator is CR LF, and only CR LF ends a line:
//!   a LF without a CR before it is part of the line (ESP-AT's firmware waits for more input
//!   after `AT\n`). A configurable single byte may be used instead ([`Terminator::Byte`]);
//!   with `\n` a preceding `\r` is dropped, with `\r` a following `\n` is ignored, so
//!   either kind of client works. Bytes past the limit are dropped (the caller still echoes
//!   them: [`Framer::feed`] reports every byte it consumed).
//! * **busy** — set by the caller while a command executes: every complete line becomes
//!   [`Event::Busy`] (the caller prints `busy p...`, or restarts on `AT+RST`).
//! * **data** — after a `>` prompt: bytes are passed through raw ([`Event::Data`]), exactly
//!   `n` of them ([`DataLen::Exact`]) or until `+++` ([`DataLen::Unbounded`], passthrough).
//!   `+++` counts only with ESP-AT's guard times: at least [`GUARD`] of silence before the
//!   first `+`, less than [`GUARD`] between the three, and [`GUARD`] of silence after the
//!   third — the last condition is detected by [`Framer::poll`]. Pluses that turn out not to
//!   be an escape are delivered as data, in order.
//!
//! Panic contract: no method panics for any input, time sequence or call order.

use at_hal::time::Instant;
use core::time::Duration;

/// ESP-AT's command line limit, terminator included.
pub const MAX_LINE: usize = 256;

/// The `+++` guard time (ESP-AT: 20 ms).
pub const GUARD: Duration = Duration::from_millis(20);

const PLUSES: &[u8; 3] = b"+++";

/// How a command line ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Terminator {
    /// CR LF, ESP-AT's default.
    #[default]
    CrLf,
    /// A single byte (ESP-AT's `esp_at_custom_cmd_line_terminator_set`).
    Byte(u8),
}

/// How many bytes a data phase takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataLen {
    /// Exactly this many bytes (`AT+CIPSEND=<n>`, `AT+SYSMFG=2,...`).
    Exact(usize),
    /// Until `+++` (passthrough).
    Unbounded,
}

/// A malformed line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The line exceeded the limit; its excess bytes were discarded.
    TooLong,
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FrameError::TooLong => write!(f, "command line longer than {MAX_LINE} bytes"),
        }
    }
}

impl core::error::Error for FrameError {}

/// What the framer found. `'f` borrows the framer's line buffer, `'i` the input chunk (data
/// bytes are handed out straight from the input, without a copy).
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'f, 'i> {
    /// A complete command line. `line` holds the bytes as received, terminator included
    /// (what echo prints); `line[..text_len]` is the command text (mutable, so parameters
    /// can be unescaped in place).
    Line {
        /// The received bytes, terminator included.
        line: &'f mut [u8],
        /// Length of the text before the terminator.
        text_len: usize,
    },
    /// A malformed line; `received` is what was kept of it (at most the limit).
    LineError {
        /// What was wrong.
        error: FrameError,
        /// The retained bytes.
        received: &'f [u8],
    },
    /// A complete line arrived in busy mode; `line` is what was kept of it (terminator
    /// included), for the caller to recognise `AT+RST`. It is not executed.
    Busy {
        /// The retained bytes.
        line: &'f [u8],
    },
    /// Raw bytes of the data phase.
    Data(&'i [u8]),
    /// The exact-length data phase has received all its bytes; the framer is back in
    /// command mode.
    DataComplete,
    /// `+++` with guard times ended the data phase; the framer is back in command mode.
    Escape,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Command,
    Busy,
    Data { remaining: Option<usize> },
}

/// The mode the framer is in, for the caller's state checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FramerMode {
    /// Assembling command lines.
    Command,
    /// A command runs; lines are answered with busy.
    Busy,
    /// Passing data through.
    Data,
}

/// The streaming framer. `N` is the line limit including the terminator.
#[derive(Debug, Clone)]
pub struct Framer<const N: usize = MAX_LINE> {
    /// Bytes of the line being assembled. Invariant: `len <= N`; bytes past `N` are dropped
    /// and `overflow` is set, so a line can never grow the buffer.
    buf: [u8; N],
    len: usize,
    overflow: bool,
    terminator: Terminator,
    mode: Mode,
    /// Ignore one LF at the start of the next line (after a CR terminator).
    skip_lf: bool,
    /// Time of the last byte received in data mode (or of entering it).
    last_rx: Instant,
    /// Pluses held back as a possible escape (0..=3), and when the last one came.
    held: u8,
    held_at: Instant,
    /// All bytes of an exact data phase were delivered; report DataComplete next.
    complete_pending: bool,
    /// The last byte dropped from an over-long line (to recognise its CR LF).
    last_dropped: Option<u8>,
}

impl<const N: usize> Default for Framer<N> {
    fn default() -> Self {
        Self::new(Terminator::CrLf)
    }
}

impl<const N: usize> Framer<N> {
    /// A framer in command mode.
    pub const fn new(terminator: Terminator) -> Self {
        Framer {
            buf: [0; N],
            len: 0,
            overflow: false,
            terminator,
            mode: Mode::Command,
            skip_lf: false,
            last_rx: Instant::ZERO,
            held: 0,
            held_at: Instant::ZERO,
            complete_pending: false,
            last_dropped: None,
        }
    }

    /// Change the line terminator (takes effect for the next byte).
    pub fn set_terminator(&mut self, terminator: Terminator) {
        self.terminator = terminator;
    }

    /// The line terminator.
    pub fn terminator(&self) -> Terminator {
        self.terminator
    }

    /// The current mode.
    pub fn mode(&self) -> FramerMode {
        match self.mode {
            Mode::Command => FramerMode::Command,
            Mode::Busy => FramerMode::Busy,
            Mode::Data { .. } => FramerMode::Data,
        }
    }

    /// Enter or leave busy mode. Ignored in data mode.
    pub fn set_busy(&mut self, busy: bool) {
        match (self.mode, busy) {
            (Mode::Command, true) => self.mode = Mode::Busy,
            (Mode::Busy, false) => self.mode = Mode::Command,
            _ => {}
        }
    }

    /// Start a data phase (after printing `>`). `now` starts the `+++` guard.
    pub fn enter_data(&mut self, len: DataLen, now: Instant) {
        // A partial line typed while a command ran does not prefix the next command.
        self.len = 0;
        self.overflow = false;
        self.mode = Mode::Data {
            remaining: match len {
                DataLen::Exact(n) => Some(n),
                DataLen::Unbounded => None,
            },
        };
        self.last_rx = now;
        self.held = 0;
        self.complete_pending = len == DataLen::Exact(0);
    }

    /// Abandon a data phase (the caller decided to stop it); back to command mode.
    pub fn exit_data(&mut self) {
        if let Mode::Data { .. } = self.mode {
            self.mode = Mode::Command;
            self.held = 0;
            self.complete_pending = false;
        }
    }

    /// In a data phase: whether a `+` arriving at `now` would be held back as the start (or
    /// continuation) of a possible `+++` escape rather than delivered at once. The firmware
    /// lets such pluses in even when the phase has no room, so `+++` always gets through.
    pub fn may_hold_plus(&self, now: Instant) -> bool {
        if !matches!(self.mode, Mode::Data { .. }) || self.complete_pending {
            return false;
        }
        if self.held == 0 {
            now.saturating_since(self.last_rx) >= GUARD
        } else {
            self.held < 3 && now.saturating_since(self.held_at) < GUARD
        }
    }

    /// Pluses held back now as a possible escape (0..=3).
    pub fn held_pluses(&self) -> usize {
        usize::from(self.held)
    }

    /// Bytes still expected in an exact data phase.
    pub fn data_remaining(&self) -> Option<usize> {
        match self.mode {
            Mode::Data { remaining } => remaining,
            _ => None,
        }
    }

    /// Consume bytes from `input` received at `now`. Returns at most one event and how many
    /// bytes of `input` were consumed; call again with the rest.
    ///
    /// An event that was due before `input` arrived (a completed escape guard) is returned
    /// first with 0 bytes consumed.
    pub fn feed<'f, 'i>(&'f mut self, input: &'i [u8], now: Instant) -> (Option<Event<'f, 'i>>, usize) {
        if self.complete_pending || self.escape_due(now) {
            return (self.poll(now), 0);
        }
        match self.mode {
            Mode::Command | Mode::Busy => self.feed_line(input),
            Mode::Data { remaining } => self.feed_data(input, now, remaining),
        }
    }

    /// Report an event that became due by time alone (end of a data phase, the silence after
    /// `+++`, or held pluses that turned out to be data). Call when
    /// [`Framer::next_deadline`] passes, and in general once per poll.
    pub fn poll(&mut self, now: Instant) -> Option<Event<'static, 'static>> {
        if self.complete_pending {
            self.complete_pending = false;
            self.mode = Mode::Command;
            return Some(Event::DataComplete);
        }
        if self.held > 0 && now.saturating_since(self.held_at) >= GUARD {
            if self.held == 3 {
                self.held = 0;
                self.mode = Mode::Command;
                return Some(Event::Escape);
            }
            return self.release_held();
        }
        None
    }

    /// When [`Framer::poll`] next has something to report, if anything is pending.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.complete_pending {
            return Some(Instant::ZERO);
        }
        (self.held > 0).then(|| self.held_at + GUARD)
    }

    fn escape_due(&self, now: Instant) -> bool {
        self.held > 0 && now.saturating_since(self.held_at) >= GUARD
    }

    fn feed_line<'f, 'i>(&'f mut self, mut input: &'i [u8]) -> (Option<Event<'f, 'i>>, usize) {
        let mut skipped = 0;
        if core::mem::take(&mut self.skip_lf) && self.len == 0 && input.first() == Some(&b'\n') {
            input = &input[1..];
            skipped = 1;
        }
        let term = match self.terminator {
            Terminator::CrLf => b'\n',
            Terminator::Byte(t) => t,
        };
        // Find the end of the line: the terminator byte (for CR LF: a LF whose previous byte,
        // in this chunk or the line so far, is CR).
        let mut from = 0;
        let end = loop {
            let Some(i) = memchr::memchr(term, &input[from..]).map(|i| from + i) else { break None };
            let ends = match self.terminator {
                Terminator::CrLf => {
                    let prev = if i > 0 { input.get(i - 1).copied() } else { self.last_byte() };
                    prev == Some(b'\r')
                }
                Terminator::Byte(_) => true,
            };
            if ends {
                break Some(i);
            }
            from = i + 1;
        };
        let (take, end) = match end {
            Some(i) => (i + 1, true),
            None => (input.len(), false),
        };
        // Copy up to and including the terminator in one go; bytes past the buffer's end
        // are dropped and flagged (the last kept byte is remembered for the CR LF check).
        let room = N - self.len;
        let keep = take.min(room);
        self.buf[self.len..self.len + keep].copy_from_slice(&input[..keep]);
        self.len += keep;
        if keep < take {
            self.overflow = true;
            self.last_dropped = input.get(take - 1).copied();
            if end {
                // Keep the terminator as the last byte so the line still ends where it did.
                if let Some(last) = self.buf.last_mut() {
                    *last = term;
                }
                self.len = N;
            }
        }
        if !end {
            return (None, skipped + take);
        }
        if self.terminator == Terminator::Byte(b'\r') {
            self.skip_lf = true;
        }
        (Some(self.finish_line()), skipped + take)
    }

    /// The last byte received of the line being assembled (dropped ones included).
    fn last_byte(&self) -> Option<u8> {
        if self.overflow {
            return self.last_dropped;
        }
        self.len.checked_sub(1).and_then(|i| self.buf.get(i)).copied()
    }

    fn finish_line<'i>(&mut self) -> Event<'_, 'i> {
        let n = core::mem::take(&mut self.len);
        let overflow = core::mem::take(&mut self.overflow);
        self.last_dropped = None;
        let line = &mut self.buf[..n];
        if self.mode == Mode::Busy {
            return Event::Busy { line };
        }
        if overflow {
            return Event::LineError { error: FrameError::TooLong, received: line };
        }
        // `n >= 1`: the terminator byte itself is in the buffer (the overflow case returned).
        let mut text_len = n.saturating_sub(1);
        match self.terminator {
            Terminator::CrLf => {
                // The line ended at a LF preceded by CR (see `feed_line`).
                text_len = text_len.saturating_sub(1);
            }
            Terminator::Byte(b'\n') => {
                if text_len > 0 && line[text_len - 1] == b'\r' {
                    text_len -= 1;
                }
            }
            Terminator::Byte(_) => {}
        }
        Event::Line { line, text_len }
    }

    fn feed_data<'f, 'i>(
        &'f mut self,
        input: &'i [u8],
        now: Instant,
        remaining: Option<usize>,
    ) -> (Option<Event<'f, 'i>>, usize) {
        let Some(&first) = input.first() else {
            return (None, 0);
        };
        let mut i = 0;
        if self.held == 0 && first == b'+' && now.saturating_since(self.last_rx) >= GUARD {
            self.held = 1;
            self.held_at = now;
            i = 1;
        }
        if self.held > 0 {
            while let Some(&b) = input.get(i) {
                if b == b'+' && self.held < 3 && now.saturating_since(self.held_at) < GUARD {
                    self.held += 1;
                    self.held_at = now;
                    i += 1;
                } else {
                    break;
                }
            }
            self.last_rx = now;
            if i == input.len() {
                return (None, i);
            }
            // The next byte breaks the run: what was held is data.
            return (self.release_held(), i);
        }
        self.last_rx = now;
        let take = remaining.map_or(input.len(), |r| r.min(input.len()));
        self.consume_remaining(take);
        (Some(Event::Data(&input[..take])), take)
    }

    fn consume_remaining(&mut self, n: usize) {
        if let Mode::Data { remaining: Some(r) } = &mut self.mode {
            *r = r.saturating_sub(n);
            if *r == 0 {
                self.complete_pending = true;
            }
        }
    }

    /// Deliver held pluses as data. Pluses beyond an exact phase's end start the next
    /// command line.
    fn release_held(&mut self) -> Option<Event<'static, 'static>> {
        let held = usize::from(core::mem::take(&mut self.held));
        let deliver = match self.mode {
            Mode::Data { remaining: Some(r) } => held.min(r),
            _ => held,
        };
        self.consume_remaining(deliver);
        for _ in deliver..held {
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = b'+';
                self.len += 1;
            }
        }
        if deliver == 0 {
            return self.poll(Instant::ZERO);
        }
        Some(Event::Data(&PLUSES[..deliver]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec::Vec;

    #[derive(Debug, PartialEq, Eq, Clone)]
    enum Ev {
        Line(Vec<u8>),
        Err(FrameError),
        Busy(Vec<u8>),
        Data(Vec<u8>),
        Complete,
        Escape,
    }

    fn own(e: Event<'_, '_>) -> Ev {
        match e {
            Event::Line { line, text_len } => Ev::Line(line[..text_len].to_vec()),
            Event::LineError { error, .. } => Ev::Err(error),
            Event::Busy { line } => Ev::Busy(line.to_vec()),
            Event::Data(d) => Ev::Data(d.to_vec()),
            Event::DataComplete => Ev::Complete,
            Event::Escape => Ev::Escape,
        }
    }

    fn feed_all<const N: usize>(f: &mut Framer<N>, mut input: &[u8], now: Instant, out: &mut Vec<Ev>) {
        loop {
            let (ev, n) = f.feed(input, now);
            let done = ev.is_none() && n == input.len();
            if let Some(ev) = ev {
                out.push(own(ev));
            }
            input = &input[n..];
            if done || (input.is_empty() && f.next_deadline().is_none_or(|d| d > now)) {
                break;
            }
        }
        while let Some(ev) = f.poll(now) {
            out.push(own(ev));
        }
    }

    fn ms(m: u64) -> Instant {
        Instant::from_millis(m)
    }

    #[test]
    fn lines_crlf() {
        let mut f: Framer = Framer::default();
        let mut out = Vec::new();
        feed_all(&mut f, b"AT\r\nAT+GMR\r\n\r\nX\n", ms(0), &mut out);
        assert_eq!(out, [Ev::Line(b"AT".to_vec()), Ev::Line(b"AT+GMR".to_vec()), Ev::Line(b"".to_vec())]);
        // A LF without CR does not end the line: ESP-AT waits for CR LF.
        out.clear();
        feed_all(&mut f, b"\r", ms(0), &mut out);
        assert!(out.is_empty());
        feed_all(&mut f, b"\n", ms(0), &mut out);
        assert_eq!(out, [Ev::Line(b"X\n".to_vec())]);
        // CR and LF split across chunks.
        out.clear();
        feed_all(&mut f, b"AT\r", ms(0), &mut out);
        feed_all(&mut f, b"\nAT\n\r\n", ms(0), &mut out);
        assert_eq!(out, [Ev::Line(b"AT".to_vec()), Ev::Line(b"AT\n".to_vec())]);
    }

    #[test]
    fn too_long_line_is_bounded_and_reported_once() {
        let mut f: Framer = Framer::default();
        let mut out = Vec::new();
        let mut long = Vec::from(&b"AT+"[..]);
        long.resize(300, b'A');
        long.extend_from_slice(b"\r\nAT\r\n");
        feed_all(&mut f, &long, ms(0), &mut out);
        assert_eq!(out, [Ev::Err(FrameError::TooLong), Ev::Line(b"AT".to_vec())]);
        // Exactly 256 bytes including CR LF is accepted.
        let mut ok = Vec::from(&b"AT+"[..]);
        ok.resize(254, b'B');
        ok.extend_from_slice(b"\r\n");
        out.clear();
        feed_all(&mut f, &ok, ms(0), &mut out);
        assert!(matches!(&out[..], [Ev::Line(l)] if l.len() == 254));
    }

    #[test]
    fn single_byte_terminators() {
        let mut f: Framer = Framer::new(Terminator::Byte(b'\n'));
        let mut out = Vec::new();
        feed_all(&mut f, b"AT\nATE0\r\n", ms(0), &mut out);
        assert_eq!(out, [Ev::Line(b"AT".to_vec()), Ev::Line(b"ATE0".to_vec())]);
        let mut f: Framer = Framer::new(Terminator::Byte(b'\r'));
        out.clear();
        feed_all(&mut f, b"AT\r\nAT+GMR\rAT\r", ms(0), &mut out);
        assert_eq!(out, [Ev::Line(b"AT".to_vec()), Ev::Line(b"AT+GMR".to_vec()), Ev::Line(b"AT".to_vec())]);
    }

    #[test]
    fn busy_lines() {
        let mut f: Framer = Framer::default();
        f.set_busy(true);
        let mut out = Vec::new();
        feed_all(&mut f, b"AT\r\nAT", ms(0), &mut out);
        assert_eq!(out, [Ev::Busy(b"AT\r\n".to_vec())]);
        f.set_busy(false);
        out.clear();
        feed_all(&mut f, b"\r\n", ms(0), &mut out);
        assert_eq!(out, [Ev::Line(b"AT".to_vec())]);
    }

    #[test]
    fn exact_data_then_command() {
        let mut f: Framer = Framer::default();
        f.enter_data(DataLen::Exact(5), ms(0));
        let mut out = Vec::new();
        feed_all(&mut f, b"ab", ms(1), &mut out);
        feed_all(&mut f, b"c\r\nAT\r\n", ms(2), &mut out);
        assert_eq!(
            out,
            [Ev::Data(b"ab".to_vec()), Ev::Data(b"c\r\n".to_vec()), Ev::Complete, Ev::Line(b"AT".to_vec())]
        );
        assert_eq!(f.mode(), FramerMode::Command);
    }

    #[test]
    fn escape_needs_guards() {
        let mut f: Framer = Framer::default();
        f.enter_data(DataLen::Unbounded, ms(0));
        let mut out = Vec::new();
        // No guard before: pluses are data.
        feed_all(&mut f, b"x+++", ms(5), &mut out);
        assert_eq!(out, [Ev::Data(b"x+++".to_vec())]);
        out.clear();
        // Guard before, pluses, silence after: escape.
        feed_all(&mut f, b"+++", ms(100), &mut out);
        assert!(out.is_empty());
        assert_eq!(f.next_deadline(), Some(ms(120)));
        assert_eq!(f.poll(ms(119)), None);
        assert_eq!(f.poll(ms(120)).map(own), Some(Ev::Escape));
        assert_eq!(f.mode(), FramerMode::Command);
    }

    #[test]
    fn escape_broken_by_following_byte_is_data() {
        let mut f: Framer = Framer::default();
        f.enter_data(DataLen::Unbounded, ms(0));
        let mut out = Vec::new();
        feed_all(&mut f, b"+++", ms(100), &mut out);
        feed_all(&mut f, b"y", ms(110), &mut out);
        assert_eq!(out, [Ev::Data(b"+++".to_vec()), Ev::Data(b"y".to_vec())]);
        assert_eq!(f.mode(), FramerMode::Data);
    }

    #[test]
    fn slow_pluses_are_data() {
        let mut f: Framer = Framer::default();
        f.enter_data(DataLen::Unbounded, ms(0));
        let mut out = Vec::new();
        feed_all(&mut f, b"+", ms(100), &mut out);
        feed_all(&mut f, b"+", ms(130), &mut out);
        // The first '+' was released as data when its guard ran out; the second starts anew.
        assert_eq!(out, [Ev::Data(b"+".to_vec())]);
        feed_all(&mut f, b"+", ms(140), &mut out);
        feed_all(&mut f, b"+", ms(145), &mut out);
        assert_eq!(f.poll(ms(165)).map(own), Some(Ev::Escape));
    }

    #[test]
    fn lone_plus_at_end_of_exact_phase_completes() {
        let mut f: Framer = Framer::default();
        f.enter_data(DataLen::Exact(2), ms(0));
        let mut out = Vec::new();
        feed_all(&mut f, b"a", ms(1), &mut out);
        feed_all(&mut f, b"+", ms(50), &mut out);
        assert_eq!(out, [Ev::Data(b"a".to_vec())]);
        assert_eq!(f.poll(ms(70)).map(own), Some(Ev::Data(b"+".to_vec())));
        assert_eq!(f.poll(ms(70)).map(own), Some(Ev::Complete));
    }

    #[test]
    fn excess_pluses_start_the_next_line() {
        let mut f: Framer = Framer::default();
        f.enter_data(DataLen::Exact(1), ms(0));
        let mut out = Vec::new();
        feed_all(&mut f, b"++", ms(50), &mut out);
        feed_all(&mut f, b"AT\r\n", ms(55), &mut out);
        assert_eq!(out, [Ev::Data(b"+".to_vec()), Ev::Complete, Ev::Line(b"+AT".to_vec())]);
    }

    #[test]
    fn zero_length_data_completes_at_once() {
        let mut f: Framer = Framer::default();
        f.enter_data(DataLen::Exact(0), ms(0));
        assert_eq!(f.poll(ms(0)).map(own), Some(Ev::Complete));
    }
}
