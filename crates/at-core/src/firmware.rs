//! [`Firmware`]: the sans-IO poll loop that joins the framer, the command tables, the
//! handlers' continuations, data phases, the unsolicited-message emitter and the transmit
//! queue.

use core::time::Duration;

use at_hal::Platform;
use at_hal::time::Instant;
use at_parser::dispatch::{DataHandler, ErrorReporting, PollHandler, RoomFn, find, write_busy, write_error};
use at_parser::framer::{Event, FrameError, Framer, FramerMode};
use at_parser::{
    AtError, Call, CommandDef, DataEvent, DataFlow, DataPhase, ErrorCode, Outcome, Output, Reply, parse,
};

use crate::core::{Core, Options};
use crate::tx::Tx;
use crate::urc::{Urc, UrcMode};

/// How often a pending command is polled when nothing else is scheduled.
const PENDING_POLL: Duration = Duration::from_millis(10);

/// What ESP-AT prints when `AT+RST` arrives while a command runs, before it restarts.
pub const FORCE_RESTART: &[u8] = b"\r\nWill force to restart!!!\r\n";

/// A continuation: of a built-in command (context [`Core`]) or of a custom one (context `X`).
enum Cont<C, X> {
    Core(C),
    Ext(X),
}

type PollCont<P, X> = Cont<PollHandler<Core<P>>, PollHandler<X>>;
type DataCont<P, X> = Cont<DataPhase<Core<P>>, DataPhase<X>>;

enum Run<P: Platform, X: 'static> {
    Idle,
    /// A command keeps running; `hold` keeps unsolicited messages back (a streamed response).
    Pending {
        name: &'static str,
        poll: PollCont<P, X>,
        hold: bool,
    },
    /// A data phase is reading bytes.
    Data {
        name: &'static str,
        phase: DataCont<P, X>,
    },
    /// A data phase failed: its remaining bytes are read and dropped, then `error` is printed.
    Discard {
        name: &'static str,
        error: AtError,
    },
}

/// The ESP-AT firmware core.
///
/// * Feed bytes from the AT port with [`Firmware::receive`].
/// * Call [`Firmware::poll`] whenever its returned deadline passes, or after I/O.
/// * Move output to the AT port with [`Firmware::transmit`] (or
///   [`Firmware::tx_front`] + [`Firmware::tx_consume`]).
///
/// Every call does bounded work and returns; nothing blocks. `X` is the state of the
/// firmware's own custom commands (see `examples/custom_command.rs`).
pub struct Firmware<P: Platform, X: 'static = ()> {
    framer: Framer,
    core: Core<P>,
    ext: X,
    custom: &'static [CommandDef<X>],
    tx: Tx,
    run: Run<P, X>,
    /// Input dropped because a restart was pending (it would be lost on a chip too).
    dropped_for_restart: usize,
    /// A phase with `discard_surplus` just ended: the rest of this input gets `busy p...`.
    surplus_busy: bool,
}

impl<P: Platform> Firmware<P, ()> {
    /// A firmware with the built-in command set only. Writes `ready`.
    pub fn new(platform: P, options: Options, now: Instant) -> Self {
        Firmware::with_custom(platform, options, (), &[], now)
    }
}

impl<P: Platform, X: 'static> Firmware<P, X> {
    /// A firmware with custom commands: `custom` rows run with `ext` as their context and
    /// are looked up before the built-in ones (so they can override them). Writes `ready`.
    pub fn with_custom(
        platform: P,
        options: Options,
        ext: X,
        custom: &'static [CommandDef<X>],
        now: Instant,
    ) -> Self {
        let terminator = options.terminator;
        let tx = Tx::with_capacity(options.capacities.tx);
        let mut core = Core::boot(platform, options, now);
        core.custom_cmds = custom.iter().map(crate::cmd::CmdInfo::of).collect();
        let mut fw = Firmware {
            framer: Framer::new(terminator),
            core,
            ext,
            custom,
            tx,
            run: Run::Idle,
            dropped_for_restart: 0,
            surplus_busy: false,
        };
        fw.tx.write(at_parser::result::READY);
        fw
    }

    /// The platform.
    pub fn platform(&mut self) -> &mut P {
        &mut self.core.platform
    }

    /// The custom commands' state.
    pub fn ext(&mut self) -> &mut X {
        &mut self.ext
    }

    /// The core state (for inspection in tests and custom firmware).
    pub fn core(&self) -> &Core<P> {
        &self.core
    }

    /// The last error a command ended with (the reason behind the last `ERROR`).
    pub fn last_error(&self) -> Option<&AtError> {
        self.core.st.last_error.as_ref()
    }

    /// Whether a command is running or a data phase is open (input is not commands).
    pub fn is_busy(&self) -> bool {
        !matches!(self.run, Run::Idle)
    }

    /// Whether a data phase is reading raw bytes (after `>`): input is payload, not commands,
    /// until it completes or `+++` (with its guard times) ends it.
    pub fn in_data_phase(&self) -> bool {
        matches!(self.run, Run::Data { .. } | Run::Discard { .. })
    }

    /// Bytes queued for the AT port.
    pub fn tx_len(&self) -> usize {
        self.tx.len()
    }

    /// The most bytes the transmit queue ever held.
    pub fn tx_peak(&self) -> usize {
        self.tx.peak()
    }

    /// The oldest contiguous queued output.
    pub fn tx_front(&self) -> &[u8] {
        self.tx.front()
    }

    /// Drop the first `n` queued bytes (they were written to the port).
    pub fn tx_consume(&mut self, n: usize) {
        self.tx.consume(n);
    }

    /// Move queued output into `buf`; returns the number of bytes.
    pub fn transmit(&mut self, buf: &mut [u8]) -> usize {
        self.tx.take(buf)
    }

    /// Whether [`Firmware::receive`] would take input now. `false` while the host is not
    /// reading its responses (the transmit queue is half full) or a data phase has no room
    /// (a full socket): the caller stops reading the UART, which applies backpressure to the
    /// host instead of buffering without bound.
    pub fn wants_input(&mut self) -> bool {
        self.tx.accepting_input() && self.data_room() > 0
    }

    fn data_room(&mut self) -> usize {
        if self.framer.mode() != FramerMode::Data {
            return usize::MAX;
        }
        let room = |r: Option<RoomFn<Core<P>>>, c: &mut Core<P>| r.map_or(usize::MAX, |f| f(c));
        match &self.run {
            Run::Data { phase: Cont::Core(p), .. } => room(p.room, &mut self.core),
            Run::Data { phase: Cont::Ext(p), .. } => p.room.map_or(usize::MAX, |f| f(&mut self.ext)),
            _ => usize::MAX,
        }
    }

    /// Take bytes received from the AT port at `now`. Returns how many were consumed: fewer
    /// than given when the firmware cannot take more now ([`Firmware::wants_input`]); offer
    /// the rest again later.
    pub fn receive(&mut self, mut input: &[u8], now: Instant) -> usize {
        let total = input.len();
        while !input.is_empty() {
            if self.core.deferred.restart {
                // The chip is about to reboot; what arrives meanwhile is lost on a device too.
                self.dropped_for_restart += input.len();
                log::warn!("{} input bytes dropped: restart pending", input.len());
                return total;
            }
            if !self.tx.accepting_input() {
                break;
            }
            let mut room = self.data_room();
            if room == 0 {
                // No room, but `+++` must still get through (a stalled peer is left that way):
                // let in the pluses the framer would hold as a possible escape, no more. If
                // they turn out to be data the phase takes them in its slack
                // (`at_parser::ESCAPE_SLACK`); a plus that would be data at once waits.
                let pluses = input.iter().take_while(|&&b| b == b'+').count();
                let free = 3usize.saturating_sub(self.framer.held_pluses());
                if pluses > 0 && self.framer.may_hold_plus(now) {
                    room = pluses.min(free).max(1);
                } else {
                    break;
                }
            }
            let mode = self.framer.mode();
            let chunk = &input[..input.len().min(room)];
            let (ev, n) = self.framer.feed(chunk, now);
            // ESP-AT echoes every received byte as it arrives, in command mode only (not while
            // a command runs, not in a data phase).
            if mode == FramerMode::Command && self.core.st.basic.echo {
                self.tx.write(&chunk[..n]);
            }
            let mut unused = 0;
            if let Some(ev) = ev {
                match ev {
                    Event::Line { line, text_len } => {
                        let r = dispatch(
                            &mut self.core,
                            &mut self.ext,
                            self.custom,
                            &mut self.tx,
                            line,
                            text_len,
                            now,
                        );
                        self.finish(r, now);
                    }
                    Event::LineError { error: FrameError::TooLong, .. } => {
                        // ESP-AT: `at_cmd_parse` rejects len > 256 with 0x01030000.
                        let e = AtError::new(ErrorCode::NO_AT, "command line longer than 256 bytes");
                        self.finish(Finished::Core("", Err(e)), now);
                    }
                    Event::Busy { line } => {
                        if is_rst(line) {
                            self.force_restart();
                        } else {
                            log::info!("input while a command runs: busy p...");
                            let reporting = self.reporting();
                            write_busy(&mut self.tx, reporting);
                        }
                    }
                    Event::Data(bytes) => {
                        let len = bytes.len();
                        unused = self.on_data(DataEvent::Bytes(bytes), len, now);
                    }
                    Event::DataComplete => {
                        // Bytes past the length in the same chunk: ESP-AT's `busy p...` comes
                        // before the phase's own answer (`Recv n bytes`).
                        if self.discards_surplus() && input.len() > n {
                            let reporting = self.reporting();
                            write_busy(&mut self.tx, reporting);
                            log::info!("{} bytes past the data phase's length dropped", input.len() - n);
                            self.on_data(DataEvent::Complete, 0, now);
                            self.surplus_busy = false;
                            return total;
                        }
                        self.on_data(DataEvent::Complete, 0, now);
                    }
                    Event::Escape => {
                        self.on_data(DataEvent::Escaped, 0, now);
                    }
                }
            }
            input = &input[n.saturating_sub(unused)..];
            if core::mem::take(&mut self.surplus_busy) && !input.is_empty() {
                // ESP-AT: bytes past a CIPSEND's length get `busy p...` and are dropped.
                log::info!("{} bytes past the data phase's length dropped", input.len());
                let reporting = self.reporting();
                write_busy(&mut self.tx, reporting);
                input = &[];
            }
        }
        total - input.len()
    }

    fn reporting(&self) -> ErrorReporting {
        ErrorReporting { syslog: self.core.st.basic.syslog }
    }

    fn urc_mode(&self) -> UrcMode {
        UrcMode {
            passthrough: self.core.st.tcpip.passthrough.is_some(),
            sysmsg: self.core.st.settings.sysmsg,
            // Only a streamed response holds messages; ESP-AT prints `+IPD` and the like
            // during a `>` data phase too.
            held: matches!(self.run, Run::Pending { hold: true, .. }),
        }
    }

    /// Advance timers, Wi-Fi and network events and running commands to `now`. Returns when
    /// it wants to be called again at the latest (`None`: only after new input).
    pub fn poll(&mut self, now: Instant) -> Option<Instant> {
        // At most a few framer events are due at once (released pluses, then the end).
        for _ in 0..4 {
            let Some(ev) = self.framer.poll(now) else { break };
            match ev {
                Event::Data(bytes) => {
                    let len = bytes.len();
                    // Pluses released by time are never the end of a CIPSENDEX phase: any
                    // unused remainder is data the phase declined, dropped with it.
                    let _ = self.on_data(DataEvent::Bytes(bytes), len, now);
                }
                Event::DataComplete => {
                    self.on_data(DataEvent::Complete, 0, now);
                }
                Event::Escape => {
                    self.on_data(DataEvent::Escaped, 0, now);
                }
                _ => {}
            }
        }
        let mode = self.urc_mode();
        self.core.poll_events(now, &mut Urc::new(&mut self.tx, mode));
        if let Run::Pending { name, poll, .. } = &self.run {
            let name = *name;
            let mut call = Call::new(&mut self.tx, now, name.as_bytes());
            let done = match *poll {
                Cont::Core(p) => p(&mut self.core, &mut call).map(|r| Finished::Core(name, r)),
                Cont::Ext(p) => p(&mut self.ext, &mut call).map(|r| Finished::Ext(name, r)),
            };
            if let Some(f) = done {
                self.finish(f, now);
            }
        }
        if matches!(self.run, Run::Idle)
            && self.framer.mode() == FramerMode::Command
            && let Some(phase) = self.core.autostart.take()
        {
            self.finish(Finished::Core("+CIPSEND", Ok(Reply::Data(phase))), now);
        }
        if self.tx.is_empty() && !self.core.deferred.is_empty() {
            self.run_deferred(now);
        }
        let mut next = [self.framer.next_deadline(), self.core.next_deadline(now, self.tx.room())]
            .into_iter()
            .flatten()
            .min();
        if matches!(self.run, Run::Pending { .. }) {
            next = Some(next.map_or(now + PENDING_POLL, |n| n.min(now + PENDING_POLL)));
        }
        next
    }

    /// Whether deferred work waits for the transmit queue to drain (the caller should flush
    /// and poll again; no timer is involved).
    pub fn has_deferred(&self) -> bool {
        !self.core.deferred.is_empty()
    }

    fn run_deferred(&mut self, now: Instant) {
        let d = core::mem::take(&mut self.core.deferred);
        if let Some(cfg) = d.uart
            && let Err(e) = self.core.platform.uart().apply(&cfg)
        {
            log::error!("UART reconfiguration failed after OK: {e}");
        }
        if d.restart {
            self.restart(now);
        }
    }

    /// `AT+RST` while a command runs: ESP-AT abandons the command, prints
    /// `\r\nWill force to restart!!!\r\n\r\nOK\r\n` and restarts.
    fn force_restart(&mut self) {
        log::warn!("AT+RST while a command runs: forcing a restart");
        self.tx.write(FORCE_RESTART);
        self.tx.write(at_parser::ResultCode::Ok.bytes());
        self.run = Run::Idle;
        self.core.deferred.restart = true;
    }

    /// Restart: ask the platform to reset the chip; if it returns (a host or a test), rebuild
    /// every piece of state and print `ready` again, as a rebooted device would.
    pub fn restart(&mut self, now: Instant) {
        log::info!("restarting");
        self.core.platform.system().restart();
        self.core.reset(now);
        self.framer = Framer::new(self.core.options.terminator);
        self.run = Run::Idle;
        self.tx.clear();
        self.tx.write(at_parser::result::READY);
    }

    /// Hand one data event to the running phase. Returns how many bytes of a `Bytes` event
    /// were not used (an early end: they are command input again).
    fn on_data(&mut self, ev: DataEvent<'_>, len: usize, now: Instant) -> usize {
        let last = !matches!(ev, DataEvent::Bytes(_));
        let (name, flow) = match &self.run {
            Run::Discard { name, error } => {
                if last {
                    let (name, error) = (*name, *error);
                    self.finish(Finished::Core(name, Err(error)), now);
                }
                return 0;
            }
            Run::Data { name, phase } => {
                let name = *name;
                let mut call = Call::new(&mut self.tx, now, name.as_bytes());
                let flow = match phase {
                    Cont::Core(p) => Flow::Core(call_handler(p.handler, &mut self.core, &mut call, ev)),
                    Cont::Ext(p) => Flow::Ext(call_handler(p.handler, &mut self.ext, &mut call, ev)),
                };
                (name, flow)
            }
            // Data with nobody to take it: the phase was already abandoned.
            _ => return 0,
        };
        match flow {
            Flow::Core(f) => self.after_data(name, f, last, len, now, Finished::Core),
            Flow::Ext(f) => self.after_data(name, f, last, len, now, Finished::Ext),
        }
    }

    fn after_data<C>(
        &mut self,
        name: &'static str,
        flow: DataFlow<C>,
        last: bool,
        len: usize,
        now: Instant,
        wrap: fn(&'static str, Outcome<C>) -> Finished<P, X>,
    ) -> usize {
        match flow {
            DataFlow::Continue if last => {
                self.surplus_busy = self.discards_surplus();
                self.framer.exit_data();
                self.finish(wrap(name, at_parser::ok()), now);
                0
            }
            DataFlow::Continue => 0,
            DataFlow::Finish { used, outcome } => {
                self.surplus_busy = self.discards_surplus();
                self.framer.exit_data();
                self.finish(wrap(name, outcome), now);
                if last { 0 } else { len.saturating_sub(used) }
            }
            DataFlow::Fail(error) => {
                if last || self.framer.mode() != FramerMode::Data {
                    self.framer.exit_data();
                    self.finish(Finished::Core(name, Err(error)), now);
                } else {
                    log::warn!("AT{name}: data phase failed ({error}); discarding the rest of its bytes");
                    self.run = Run::Discard { name, error };
                }
                0
            }
        }
    }

    fn discards_surplus(&self) -> bool {
        match &self.run {
            Run::Data { phase: Cont::Core(p), .. } => p.discard_surplus,
            Run::Data { phase: Cont::Ext(p), .. } => p.discard_surplus,
            _ => false,
        }
    }

    /// Act on a handler's final answer, whichever table it came from.
    fn finish(&mut self, f: Finished<P, X>, now: Instant) {
        match f {
            Finished::Core(name, r) => self.finish_with(name, r, now, Cont::Core, Cont::Core),
            Finished::Ext(name, r) => self.finish_with(name, r, now, Cont::Ext, Cont::Ext),
        }
    }

    fn finish_with<C>(
        &mut self,
        name: &'static str,
        r: Outcome<C>,
        now: Instant,
        poll: fn(PollHandler<C>) -> PollCont<P, X>,
        data: fn(DataPhase<C>) -> DataCont<P, X>,
    ) {
        let next = match r {
            Ok(Reply::Done(code)) => {
                self.tx.write(code.bytes());
                None
            }
            Ok(Reply::Pending(p)) => Some(Run::Pending { name, poll: poll(p), hold: false }),
            Ok(Reply::Stream(p)) => Some(Run::Pending { name, poll: poll(p), hold: true }),
            Ok(Reply::Data(phase)) => {
                self.tx.write(phase.prompt);
                self.framer.enter_data(phase.len, now);
                Some(Run::Data { name, phase: data(phase) })
            }
            Err(e) => {
                self.report_error(name, e);
                None
            }
        };
        match next {
            Some(run) => {
                let busy = matches!(run, Run::Pending { .. });
                self.run = run;
                self.framer.set_busy(busy);
            }
            None => {
                self.run = Run::Idle;
                self.framer.exit_data();
                self.framer.set_busy(false);
            }
        }
    }

    /// Print an error (with its reason and code under AT+SYSLOG=1), log it, and keep it for
    /// [`Firmware::last_error`].
    fn report_error(&mut self, name: &str, e: AtError) {
        log::warn!("AT{name}: ERROR: {e}");
        let reporting = self.reporting();
        write_error(&mut self.tx, &e, reporting);
        self.core.st.last_error = Some(e);
    }
}

/// A handler's final answer, with the table it came from.
enum Finished<P: Platform, X: 'static> {
    Core(&'static str, Outcome<Core<P>>),
    Ext(&'static str, Outcome<X>),
}

enum Flow<P: Platform, X: 'static> {
    Core(DataFlow<Core<P>>),
    Ext(DataFlow<X>),
}

fn call_handler<C>(h: DataHandler<C>, ctx: &mut C, call: &mut Call<'_>, ev: DataEvent<'_>) -> DataFlow<C> {
    h(ctx, call, ev)
}

/// Whether a line received while busy is `AT+RST` with its terminator (ESP-AT matches the
/// exact, case-sensitive bytes `AT+RST\r\n`).
fn is_rst(line: &[u8]) -> bool {
    let text = line.strip_suffix(b"\n").unwrap_or(line);
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    text == b"AT+RST" || line.len() == 7 && line.starts_with(b"AT+RST")
}

/// Parse a line and run its handler: custom rows first, then built-in ones.
fn dispatch<P: Platform, X: 'static>(
    core: &mut Core<P>,
    ext: &mut X,
    custom: &'static [CommandDef<X>],
    tx: &mut Tx,
    line: &mut [u8],
    text_len: usize,
    now: Instant,
) -> Finished<P, X> {
    let cmd = match parse(&mut line[..text_len]) {
        Ok(cmd) => cmd,
        Err(e) => return Finished::Core("", Err(e)),
    };
    let mut call = Call::new(tx, now, cmd.name);
    if let Some(def) = find(custom, cmd.name) {
        return Finished::Ext(def.name, def.invoke(ext, &cmd, &mut call));
    }
    if let Some(def) = find(Core::<P>::COMMANDS, cmd.name) {
        return Finished::Core(def.name, def.invoke(core, &cmd, &mut call));
    }
    Finished::Core("", Err(AtError::new(ErrorCode::UNSUPPORTED, "unknown command")))
}
