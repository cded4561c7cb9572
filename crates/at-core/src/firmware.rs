//! [`Firmware`]: the sans-IO poll loop that joins the framer, the command tables, the
//! handlers' continuations and the transmit queue.

use core::time::Duration;

use at_hal::time::Instant;
use at_hal::wifi::WifiStation;
use at_parser::dispatch::{DataHandler, ErrorReporting, PollHandler, find, write_busy, write_error};
use at_parser::framer::{Event, FrameError, Framer, FramerMode};
use at_parser::{AtError, Call, CommandDef, DataEvent, ErrorCode, Outcome, Output, Reply, parse};

use crate::core::{Core, Deferred, Options};
use crate::tx::{TX_HIGH_WATER, Tx};
use at_hal::Platform;

/// How often a pending command is polled when nothing else is scheduled.
const PENDING_POLL: Duration = Duration::from_millis(10);

/// A continuation: of a built-in command (context [`Core`]) or of a custom one (context `X`).
enum Cont<C, X> {
    Core(C),
    Ext(X),
}

/// The continuation of a pending command.
type PollCont<P, X> = Cont<PollHandler<Core<P>>, PollHandler<X>>;
/// The receiver of a data phase.
type DataCont<P, X> = Cont<DataHandler<Core<P>>, DataHandler<X>>;

enum Run<P: Platform, X: 'static> {
    Idle,
    Pending { name: &'static str, poll: PollCont<P, X> },
    Data { name: &'static str, handler: DataCont<P, X> },
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
    options: Options,
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
        let mut core = Core::boot(platform, &options, now);
        core.custom_cmds = custom.iter().map(crate::cmd::CmdInfo::of).collect();
        let mut fw = Firmware {
            framer: Framer::new(options.terminator),
            core,
            ext,
            custom,
            tx: Tx::default(),
            run: Run::Idle,
            options,
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
        self.core.last_error.as_ref()
    }

    /// Whether a command is running (input is answered with `busy p...`).
    pub fn is_busy(&self) -> bool {
        !matches!(self.run, Run::Idle)
    }

    /// Bytes queued for the AT port.
    pub fn tx_len(&self) -> usize {
        self.tx.len()
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

    /// Take bytes received from the AT port at `now`. Returns how many were consumed: fewer
    /// than given only when the transmit queue is above its high-water mark (the host is not
    /// reading); offer the rest again later.
    pub fn receive(&mut self, mut input: &[u8], now: Instant) -> usize {
        let total = input.len();
        while !input.is_empty() && self.tx.len() < TX_HIGH_WATER {
            let (ev, n) = self.framer.feed(input, now);
            input = &input[n..];
            let Some(ev) = ev else { continue };
            match ev {
                Event::Line { line, text_len } => {
                    if self.core.echo {
                        self.tx.write(line);
                    }
                    let cmd = parse(&mut line[..text_len]);
                    let outcome = match cmd {
                        Err(e) => Err(e),
                        Ok(cmd) => {
                            let mut call = Call::new(&mut self.tx, now, cmd.name);
                            if let Some(def) = find(self.custom, cmd.name) {
                                let r = def.invoke(&mut self.ext, &cmd, &mut call);
                                let name = def.name;
                                self.finish_ext(name, r, now);
                                continue;
                            } else if let Some(def) = find(Core::<P>::COMMANDS, cmd.name) {
                                let r = def.invoke(&mut self.core, &cmd, &mut call);
                                let name = def.name;
                                self.finish_core(name, r, now);
                                continue;
                            } else {
                                Err(AtError::new(ErrorCode::UNSUPPORTED, "unknown command"))
                            }
                        }
                    };
                    self.finish_core("", outcome, now);
                }
                Event::LineError { error, received } => {
                    if self.core.echo {
                        self.tx.write(received);
                    }
                    let e = match error {
                        FrameError::TooLong => {
                            AtError::new(ErrorCode::para_length(0), "command line longer than 256 bytes")
                        }
                        FrameError::NoTerminator => {
                            AtError::new(ErrorCode::NO_TERMINATOR, "line must end with CR LF")
                        }
                    };
                    self.finish_core("", Err(e), now);
                }
                Event::Busy => {
                    log::info!("input while a command runs: busy p...");
                    let reporting = self.reporting();
                    write_busy(&mut self.tx, reporting);
                }
                Event::Data(bytes) => {
                    let end = deliver(
                        &self.run,
                        &mut self.core,
                        &mut self.ext,
                        &mut self.tx,
                        DataEvent::Bytes(bytes),
                        now,
                    );
                    self.end_data(end, now);
                }
                Event::DataComplete => self.on_data(DataEvent::Complete, now),
                Event::Escape => self.on_data(DataEvent::Escaped, now),
            }
        }
        total - input.len()
    }

    fn reporting(&self) -> ErrorReporting {
        ErrorReporting { syslog: self.core.syslog }
    }

    /// Advance timers, station events and running commands to `now`. Returns when it wants to
    /// be called again at the latest (`None`: only after new input).
    pub fn poll(&mut self, now: Instant) -> Option<Instant> {
        while let Some(ev) = self.framer.poll(now) {
            match ev {
                Event::Data(bytes) => self.on_data(DataEvent::Bytes(bytes), now),
                Event::DataComplete => self.on_data(DataEvent::Complete, now),
                Event::Escape => self.on_data(DataEvent::Escaped, now),
                _ => {}
            }
        }
        self.core.poll_wifi(now, &mut self.tx);
        if let Run::Pending { name, poll } = &self.run {
            let name = *name;
            let mut call = Call::new(&mut self.tx, now, name.as_bytes());
            match *poll {
                Cont::Core(p) => {
                    if let Some(r) = p(&mut self.core, &mut call) {
                        self.finish_core(name, r, now);
                    }
                }
                Cont::Ext(p) => {
                    if let Some(r) = p(&mut self.ext, &mut call) {
                        self.finish_ext(name, r, now);
                    }
                }
            }
        }
        if self.tx.is_empty()
            && let Some(d) = self.core.deferred.take()
        {
            self.run_deferred(d, now);
        }
        let mut next = [self.framer.next_deadline(), self.core.next_deadline()].into_iter().flatten().min();
        if matches!(self.run, Run::Pending { .. }) {
            next = Some(next.map_or(now + PENDING_POLL, |n| n.min(now + PENDING_POLL)));
        }
        if self.core.deferred.is_some() {
            next = Some(now);
        }
        next
    }

    fn run_deferred(&mut self, d: Deferred, now: Instant) {
        match d {
            Deferred::ApplyUart(cfg) => {
                if let Err(e) = self.core.platform.uart().apply(&cfg) {
                    log::error!("UART reconfiguration failed after OK: {e}");
                }
            }
            Deferred::Restart => self.restart(now),
        }
    }

    /// Restart: ask the platform to reset the chip; if it returns (a host or a test), reset
    /// every piece of state in place and print `ready` again, as a rebooted device would.
    pub fn restart(&mut self, now: Instant) {
        log::info!("restarting");
        self.core.platform.system().restart();
        let _ = self.core.platform.wifi().disconnect();
        // Rebuild the core's state from persisted settings, keeping the platform.
        self.core.reset(&self.options, now);
        self.framer = Framer::new(self.options.terminator);
        self.run = Run::Idle;
        self.tx.clear();
        self.tx.write(at_parser::result::READY);
    }

    fn on_data(&mut self, ev: DataEvent<'_>, now: Instant) {
        let end = deliver(&self.run, &mut self.core, &mut self.ext, &mut self.tx, ev, now);
        self.end_data(end, now);
    }

    fn end_data(&mut self, end: Option<DataEnd<P, X>>, now: Instant) {
        match end {
            None => {}
            Some(DataEnd::Core(name, r)) => {
                self.framer.exit_data();
                self.finish_core(name, r, now);
            }
            Some(DataEnd::Ext(name, r)) => {
                self.framer.exit_data();
                self.finish_ext(name, r, now);
            }
        }
    }

    fn finish_core(&mut self, name: &'static str, r: Outcome<Core<P>>, now: Instant) {
        self.finish(name, r, now, Cont::Core, Cont::Core);
    }

    fn finish_ext(&mut self, name: &'static str, r: Outcome<X>, now: Instant) {
        self.finish(name, r, now, Cont::Ext, Cont::Ext);
    }

    /// Act on a handler's final answer, whichever table (context `C`) it came from; `poll`
    /// and `data` wrap its continuations for [`Run`].
    fn finish<C>(
        &mut self,
        name: &'static str,
        r: Outcome<C>,
        now: Instant,
        poll: fn(PollHandler<C>) -> PollCont<P, X>,
        data: fn(DataHandler<C>) -> DataCont<P, X>,
    ) {
        let next = match r {
            Ok(Reply::Done(code)) => {
                self.tx.write(code.bytes());
                None
            }
            Ok(Reply::Pending(p)) => Some(Run::Pending { name, poll: poll(p) }),
            Ok(Reply::Data { len, prompt, handler }) => {
                self.tx.write(prompt);
                self.framer.enter_data(len, now);
                Some(Run::Data { name, handler: data(handler) })
            }
            Err(e) => {
                self.report_error(name, e);
                None
            }
        };
        self.set_run(next);
    }

    fn set_run(&mut self, next: Option<Run<P, X>>) {
        match next {
            Some(run) => {
                let busy = matches!(run, Run::Pending { .. });
                self.run = run;
                self.framer.set_busy(busy);
            }
            None => {
                self.run = Run::Idle;
                if self.framer.mode() != FramerMode::Data {
                    self.framer.set_busy(false);
                }
            }
        }
    }

    /// Print an error (with its reason and code under AT+SYSLOG=1), log it, and keep it for
    /// [`Firmware::last_error`].
    fn report_error(&mut self, name: &str, e: AtError) {
        log::warn!("AT{name}: ERROR: {} (ERR CODE:{})", e.reason, e.code);
        let reporting = self.reporting();
        write_error(&mut self.tx, &e, reporting);
        self.core.last_error = Some(e);
    }
}

/// A data phase that ended (last event delivered, or the handler failed).
enum DataEnd<P: Platform, X: 'static> {
    Core(&'static str, Outcome<Core<P>>),
    Ext(&'static str, Outcome<X>),
}

/// Hand one data event to the running data handler. Returns the outcome if the phase ends.
fn deliver<P: Platform, X: 'static>(
    run: &Run<P, X>,
    core: &mut Core<P>,
    ext: &mut X,
    tx: &mut Tx,
    ev: DataEvent<'_>,
    now: Instant,
) -> Option<DataEnd<P, X>> {
    // Data with nobody to take it: the phase was already abandoned.
    let Run::Data { name, handler } = run else { return None };
    let last = !matches!(ev, DataEvent::Bytes(_));
    let mut call = Call::new(tx, now, name.as_bytes());
    match *handler {
        Cont::Core(h) => {
            let r = h(core, &mut call, ev);
            (last || r.is_err()).then_some(DataEnd::Core(name, r))
        }
        Cont::Ext(h) => {
            let r = h(ext, &mut call, ev);
            (last || r.is_err()).then_some(DataEnd::Ext(name, r))
        }
    }
}
