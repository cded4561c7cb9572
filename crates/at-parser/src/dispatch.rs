//! The command table and handler contract: `{name, test, query, set, exec}` as in ESP-AT's
//! `esp_at_cmd_t`, plus what a handler can answer.
//!
//! A handler receives its context `C` (the firmware's state, or a custom command's own
//! state), a [`Call`] to write information lines through, and for the set form the parsed
//! [`Args`]. It returns an [`Outcome`]:
//!
//! * `Ok(Reply::Done(code))` — one of ESP-AT's result codes is printed
//!   ([`ResultCode::bytes`]);
//! * `Ok(Reply::Pending(poll))` — the command keeps running (joining an AP, say): the caller
//!   answers further input with `busy p...` and calls `poll` until it yields the outcome;
//!   unsolicited messages may appear meanwhile;
//! * `Ok(Reply::Stream(poll))` — the same, but the command is writing a response across
//!   polls (a large read): unsolicited messages wait until it ends, so they never split it;
//! * `Ok(Reply::Data(phase))` — print a prompt, then pass raw bytes to the phase's handler
//!   ([`DataPhase`]: the data-phase contract);
//! * `Err(AtError)` — `ERROR`, preceded with `AT+SYSLOG=1` by `+ERRINFO:"<reason>"` and
//!   `ERR CODE:0x...` lines ([`write_error`]).
//!
//! A missing handler for the form used is a bare `ERROR` (no `ERR CODE` line, as ESP-AT; the
//! error value is still [`ErrorCode::OP_ERROR`]).

use core::fmt;

use at_hal::time::Instant;

use crate::command::{Args, Command, Form};
use crate::error::{AtError, ErrorCode};
use crate::framer::DataLen;
use crate::result::{BUSY, ResultCode};

/// Where responses go: the firmware's transmit queue.
///
/// Writing never fails and never drops bytes. The queue has a nominal capacity; [`room`]
/// says how much of it is left, and code that can produce a lot (a streamed read, received
/// link data) writes only what fits and continues on a later poll. Short responses are
/// written whole: the firmware starts a command only when the queue has room for any
/// non-streamed response.
///
/// [`room`]: Output::room
pub trait Output {
    /// Queue `bytes` for the AT port.
    fn write(&mut self, bytes: &[u8]);

    /// Bytes that can be queued before the queue reaches its capacity.
    fn room(&self) -> usize {
        usize::MAX
    }
}

impl<O: Output + ?Sized> Output for &mut O {
    fn write(&mut self, bytes: &[u8]) {
        (**self).write(bytes)
    }

    fn room(&self) -> usize {
        (**self).room()
    }
}

/// What a handler gets besides its context: the output, the time, the command name.
pub struct Call<'a> {
    out: &'a mut dyn Output,
    now: Instant,
    name: &'a [u8],
}

impl<'a> Call<'a> {
    /// A call for command `name` at `now`, writing to `out`.
    pub fn new(out: &'a mut dyn Output, now: Instant, name: &'a [u8]) -> Self {
        Call { out, now, name }
    }

    /// The time the command (or this poll of it) runs at.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The command name, e.g. `+CWJAP` (empty for bare `AT`).
    pub fn name(&self) -> &[u8] {
        self.name
    }

    /// Write raw bytes to the AT port.
    pub fn write(&mut self, bytes: &[u8]) {
        self.out.write(bytes);
    }

    /// Room left in the transmit queue ([`Output::room`]).
    pub fn room(&self) -> usize {
        self.out.room()
    }

    /// Write formatted text followed by `\r\n` (an information line such as `+CWMODE:1`).
    pub fn line(&mut self, args: fmt::Arguments<'_>) {
        let _ = fmt::Write::write_fmt(self, args);
        self.out.write(b"\r\n");
    }

    /// Write formatted text without a line end. Some ESP-AT queries print their line without
    /// `\r\n`, so the result code's own `\r\n` ends it (`+SYSMSG:0\r\nOK\r\n`, no blank line).
    pub fn text(&mut self, args: fmt::Arguments<'_>) {
        let _ = fmt::Write::write_fmt(self, args);
    }

    /// Direct access to the output (to pass it on).
    pub fn output(&mut self) -> &mut dyn Output {
        self.out
    }
}

impl fmt::Write for Call<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.out.write(s.as_bytes());
        Ok(())
    }
}

/// Bytes a data phase may receive beyond its [`DataPhase::room`]: the pluses of a possible
/// `+++` that turned out to be data.
pub const ESCAPE_SLACK: usize = 3;

/// Data delivered to a data phase's handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataEvent<'a> {
    /// The next chunk of raw bytes (never more than the phase's [`DataPhase::room`] said,
    /// plus at most [`ESCAPE_SLACK`] pluses; see [`DataPhase`]).
    Bytes(&'a [u8]),
    /// All `len` bytes have arrived (exact phases only).
    Complete,
    /// `+++` ended the phase. For an exact phase, fewer than `len` bytes arrived.
    Escaped,
}

/// What a data handler answers.
pub enum DataFlow<C> {
    /// The bytes were taken; keep going. (For `Complete` and `Escaped` it means `ok()`.)
    Continue,
    /// The phase is over and the command ends with `outcome`. After [`DataEvent::Bytes`],
    /// `used` bytes of the chunk belonged to the phase and the rest is command input again
    /// (CIPSENDEX's `\0`); after `Complete` / `Escaped`, `used` is ignored.
    Finish {
        /// Bytes of the chunk the phase took.
        used: usize,
        /// How the command ends.
        outcome: Outcome<C>,
    },
    /// The phase failed: the rest of the declared bytes are discarded (never run as
    /// commands), then the error is reported. An unbounded phase discards until `+++`. The
    /// handler cleans up its own state before answering this.
    Fail(AtError),
}

impl<C> DataFlow<C> {
    /// End the phase with `outcome` (for `Complete` / `Escaped`, or after all of a chunk).
    pub fn done(outcome: Outcome<C>) -> Self {
        DataFlow::Finish { used: usize::MAX, outcome }
    }
}

/// Handler for the test, query and exec forms.
pub type Handler<C> = fn(&mut C, &mut Call<'_>) -> Outcome<C>;
/// Handler for the set form.
pub type SetHandler<C> = fn(&mut C, &mut Call<'_>, &Args<'_>) -> Outcome<C>;
/// Continuation of a pending command: `None` while still running.
pub type PollHandler<C> = fn(&mut C, &mut Call<'_>) -> Option<Outcome<C>>;
/// Receiver of a data phase.
pub type DataHandler<C> = fn(&mut C, &mut Call<'_>, DataEvent<'_>) -> DataFlow<C>;
/// How many more bytes a data phase can take now (backpressure: 0 stops reading the UART).
pub type RoomFn<C> = fn(&mut C) -> usize;

/// A data phase: the contract for everything that reads raw bytes after `>` (CIPSEND,
/// CIPSENDL, passthrough, SYSMFG and SYSFLASH writes).
///
/// 1. The firmware prints `prompt` and switches the UART to data mode.
/// 2. Before feeding bytes it asks [`room`](DataPhase::room): the handler never gets more
///    than that, and at 0 the firmware stops reading the UART (the host's flow control or
///    the UART FIFO holds the rest) until room frees up. One exception, so that `+++` always
///    ends a phase: pluses after a guard time are let in with no room, and if they turn out
///    to be data the handler gets them anyway — at most [`ESCAPE_SLACK`] bytes beyond its
///    room. A handler must take them (keep that much slack in its buffer); a
///    [`DataFlow::Continue`] answer means every byte given was taken.
/// 3. The handler gets [`DataEvent::Bytes`] chunks, then `Complete` (exact length reached)
///    or `Escaped` (`+++` with guard times); it may end early with [`DataFlow::Finish`].
/// 4. If it answers [`DataFlow::Fail`], the rest of the declared bytes are read and
///    discarded, then the error is printed: payload bytes are never executed as commands.
pub struct DataPhase<C> {
    /// How many bytes.
    pub len: DataLen,
    /// What to print first (ESP-AT: `\r\nOK\r\n\r\n>` for most, `>` for some).
    pub prompt: &'static [u8],
    /// Receives the bytes and the end of the phase.
    pub handler: DataHandler<C>,
    /// Backpressure; `None`: the phase takes whatever comes (it buffers at most `len`).
    pub room: Option<RoomFn<C>>,
    /// When the phase ends, bytes that arrived with its last ones are dropped and answered
    /// with one `busy p...` (ESP-AT's AT+CIPSEND: "the system will reply busy p..., and send
    /// the first n bytes"), instead of being read as commands.
    pub discard_surplus: bool,
}

impl<C> Clone for DataPhase<C> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<C> Copy for DataPhase<C> {}

impl<C> DataPhase<C> {
    /// An exact-length phase after ESP-AT's usual prompt (`\r\nOK\r\n\r\n>`), no backpressure.
    pub fn exact(len: usize, handler: DataHandler<C>) -> Self {
        DataPhase {
            len: DataLen::Exact(len),
            prompt: ResultCode::OkAndInputPrompt.bytes(),
            handler,
            room: None,
            discard_surplus: false,
        }
    }
}

/// A successful handler answer.
pub enum Reply<C> {
    /// Print this result code and finish.
    Done(ResultCode),
    /// Still running: poll the continuation; input meanwhile gets `busy p...`; unsolicited
    /// messages may be printed meanwhile.
    Pending(PollHandler<C>),
    /// Still running and writing its response across polls: like `Pending`, but unsolicited
    /// messages are held back until it ends.
    Stream(PollHandler<C>),
    /// Start a data phase.
    Data(DataPhase<C>),
}

impl<C> Clone for Reply<C> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<C> Copy for Reply<C> {}

impl<C> fmt::Debug for Reply<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Done(c) => f.debug_tuple("Done").field(c).finish(),
            Reply::Pending(_) => f.write_str("Pending"),
            Reply::Stream(_) => f.write_str("Stream"),
            Reply::Data(p) => f.debug_struct("Data").field("len", &p.len).finish(),
        }
    }
}

/// What every handler returns.
pub type Outcome<C> = Result<Reply<C>, AtError>;

/// `Ok(Reply::Done(ResultCode::Ok))`, the common case.
pub fn ok<C>() -> Outcome<C> {
    Ok(Reply::Done(ResultCode::Ok))
}

/// A command table row: ESP-AT's `esp_at_cmd_t`.
pub struct CommandDef<C> {
    /// The name without `AT`: `"+GMR"`, `"E0"`.
    pub name: &'static str,
    /// `AT+X=?`
    pub test: Option<Handler<C>>,
    /// `AT+X?`
    pub query: Option<Handler<C>>,
    /// `AT+X=...`
    pub set: Option<SetHandler<C>>,
    /// `AT+X`
    pub exec: Option<Handler<C>>,
}

impl<C> CommandDef<C> {
    /// A row with no handlers (fill in with struct update syntax).
    pub const fn named(name: &'static str) -> Self {
        CommandDef { name, test: None, query: None, set: None, exec: None }
    }

    /// Run the handler for `cmd`'s form. A missing handler is a bare `ERROR` ([`ErrorCode::OP_ERROR`]).
    pub fn invoke(&self, ctx: &mut C, cmd: &Command<'_>, call: &mut Call<'_>) -> Outcome<C> {
        // ESP-AT answers a form a command lacks with a bare ERROR (no ERR CODE).
        let missing = AtError::quiet(ErrorCode::OP_ERROR, "command does not support this form");
        match cmd.form {
            Form::Test => self.test.ok_or(missing).and_then(|h| h(ctx, call)),
            Form::Query => self.query.ok_or(missing).and_then(|h| h(ctx, call)),
            Form::Exec => self.exec.ok_or(missing).and_then(|h| h(ctx, call)),
            Form::Set(ref args) => self.set.ok_or(missing).and_then(|h| h(ctx, call, args)),
        }
    }

    /// `+CMD:<index>,"AT<name>",<test>,<query>,<set>,<exec>` as `AT+CMD?` prints it.
    pub fn write_cmd_line(&self, index: usize, out: &mut dyn Output) {
        let mut w = FmtOut(out);
        let _ = fmt::Write::write_fmt(
            &mut w,
            format_args!(
                "+CMD:{},\"AT{}\",{},{},{},{}\r\n",
                index,
                self.name,
                u8::from(self.test.is_some()),
                u8::from(self.query.is_some()),
                u8::from(self.set.is_some()),
                u8::from(self.exec.is_some())
            ),
        );
    }
}

/// Find `name` in a table.
pub fn find<'t, C>(table: &'t [CommandDef<C>], name: &[u8]) -> Option<&'t CommandDef<C>> {
    table.iter().find(|d| d.name.as_bytes() == name)
}

struct FmtOut<'a>(&'a mut dyn Output);

impl fmt::Write for FmtOut<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.write(s.as_bytes());
        Ok(())
    }
}

/// How errors are reported on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ErrorReporting {
    /// `AT+SYSLOG=1`: print `+ERRINFO:"<reason>"` and `ERR CODE:0x%08x` before `ERROR`.
    pub syslog: bool,
}

/// Write `+ERRINFO`/`ERR CODE` lines (if enabled) and `\r\nERROR\r\n`.
pub fn write_error(out: &mut dyn Output, err: &AtError, reporting: ErrorReporting) {
    if reporting.syslog {
        write_diagnostics(out, err);
    }
    out.write(ResultCode::Error.bytes());
}

/// Write `busy p...` (preceded by `ERR CODE:0x010b0000` with AT+SYSLOG=1).
pub fn write_busy(out: &mut dyn Output, reporting: ErrorReporting) {
    if reporting.syslog {
        let mut w = FmtOut(out);
        let _ = fmt::Write::write_fmt(&mut w, format_args!("ERR CODE:{}\r\n", ErrorCode::BUSY));
    }
    out.write(BUSY);
}

fn write_escaped(out: &mut dyn Output, text: &str) {
    for part in text.split_inclusive(['"', '\\']) {
        match part.as_bytes().split_last() {
            Some((&q @ (b'"' | b'\\'), head)) => {
                out.write(head);
                out.write(&[b'\\', q]);
            }
            _ => out.write(part.as_bytes()),
        }
    }
}

fn write_diagnostics(out: &mut dyn Output, err: &AtError) {
    out.write(b"+ERRINFO:\"");
    if !err.detail.is_empty() {
        write_escaped(out, err.detail.as_str());
        out.write(b": ");
    }
    write_escaped(out, err.reason);
    out.write(b"\"\r\n");
    if !err.printed {
        return;
    }
    let code = err.code;
    let mut w = FmtOut(out);
    let _ = fmt::Write::write_fmt(&mut w, format_args!("ERR CODE:{code}\r\n"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::parse;
    extern crate std;
    use std::vec::Vec;

    impl Output for Vec<u8> {
        fn write(&mut self, bytes: &[u8]) {
            self.extend_from_slice(bytes);
        }
    }

    struct Counter(i64);

    fn set(c: &mut Counter, call: &mut Call<'_>, a: &Args<'_>) -> Outcome<Counter> {
        c.0 = a.int_in(0, 0..=10)?;
        call.line(format_args!("+N:{}", c.0));
        ok()
    }

    const TABLE: &[CommandDef<Counter>] = &[CommandDef { set: Some(set), ..CommandDef::named("+N") }];

    #[test]
    fn invoke_and_report() {
        let mut ctx = Counter(0);
        let mut out = Vec::new();
        let mut line = *b"AT+N=7";
        let cmd = parse(&mut line).unwrap();
        let def = find(TABLE, cmd.name).unwrap();
        let r = def.invoke(&mut ctx, &cmd, &mut Call::new(&mut out, Instant::ZERO, cmd.name));
        assert!(matches!(r, Ok(Reply::Done(ResultCode::Ok))));
        assert_eq!(ctx.0, 7);
        assert_eq!(out, b"+N:7\r\n");

        let mut line = *b"AT+N?";
        let cmd = parse(&mut line).unwrap();
        let err = def.invoke(&mut ctx, &cmd, &mut Call::new(&mut out, Instant::ZERO, cmd.name)).unwrap_err();
        assert_eq!(err.code, ErrorCode::OP_ERROR);
        out.clear();
        write_error(&mut out, &err, ErrorReporting { syslog: false });
        assert_eq!(out, b"\r\nERROR\r\n");
        out.clear();
        write_error(
            &mut out,
            &AtError::new(ErrorCode::UNSUPPORTED, "say \"hi\""),
            ErrorReporting { syslog: true },
        );
        assert_eq!(out, &b"+ERRINFO:\"say \\\"hi\\\"\"\r\nERR CODE:0x01090000\r\n\r\nERROR\r\n"[..]);
    }

    #[test]
    fn cmd_listing_and_busy() {
        let mut out = Vec::new();
        TABLE[0].write_cmd_line(3, &mut out);
        assert_eq!(out, b"+CMD:3,\"AT+N\",0,0,1,0\r\n");
        out.clear();
        write_busy(&mut out, ErrorReporting { syslog: true });
        assert_eq!(out, b"ERR CODE:0x010b0000\r\n\r\nbusy p...\r\n");
    }
}
