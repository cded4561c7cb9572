//! The AT port on a PC — stdio or a pseudo-terminal — as an `embedded-io` UART
//! ([`HostPort`]), so `at-sim` runs the firmware through the same `at_core::runner::pump` a
//! device does. (The TCP port is [`crate::tcp_port::TcpPort`]: sockets in the loop's own poll.)
//!
//! Small blocking threads move bytes between the OS and two bounded buffers:
//!
//! * **input** holds at most [`RX_CAPACITY`] bytes. When it is full the reader thread stops
//!   reading the OS, so a host that writes without reading its responses is held back by
//!   TCP's (or the PTY's) flow control — `at-sim` stops reading, it does not grow. The
//!   firmware reads this buffer only when it can take input.
//! * **output** holds at most [`TX_CAPACITY`] bytes; the writer thread drains it to the host.
//!
//! Both threads wake the firmware loop through a `mio::Waker` (the network backend's), so the
//! loop sleeps until there is something to do.
//!
//! On an interactive terminal (stdin is a tty) the terminal is put in raw mode: each typed
//! character reaches the firmware at once and is echoed once, by the firmware (ATE1), as on
//! a serial terminal. Enter sends CR; it is passed on as CR LF, ESP-AT's terminator.
//! **Ctrl-]** quits (as in telnet). The terminal is restored on exit.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use mio::Waker;

/// Bytes from the host waiting for the firmware.
pub const RX_CAPACITY: usize = 16 * 1024;
/// Bytes from the firmware waiting for the host.
pub const TX_CAPACITY: usize = 16 * 1024;
/// The key that quits an interactive session: Ctrl-] (0x1d).
pub const QUIT_KEY: u8 = 0x1d;

/// Which AT port to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UartMode {
    /// Standard input and output.
    Stdio,
    /// A TCP listener on this address; one client at a time.
    Tcp(SocketAddr),
    /// A new pseudo-terminal (its path is logged and printed on stderr).
    Pty,
}

#[derive(Debug, Default)]
struct State {
    rx: VecDeque<u8>,
    tx: VecDeque<u8>,
    /// The input ended for good (stdin EOF, Ctrl-]).
    closed: bool,
    /// A host is attached now.
    attached: bool,
    /// A host was attached at some point (before that, output waits: it holds `ready`).
    ever_attached: bool,
    /// Incremented on every attach; a writer thread of an older client stops.
    generation: u64,
    /// The person at the terminal pressed the quit key: stop without finishing work.
    quit: bool,
    /// The reader thread waits for input room (signal `room`).
    reader_waiting: bool,
    /// The writer thread waits for output (signal `output`).
    writer_waiting: bool,
    /// The firmware loop found the output full and wants a wake-up when room frees.
    want_room: bool,
}

/// How a host side ended (see [`Shared::detach`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// The input reached EOF or failed.
    Input,
    /// The quit key.
    Quit,
    /// Writing to the host failed.
    Output,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when input room frees up (the reader waits on it) or the port ends.
    room: Condvar,
    /// Signalled when output arrives (the writer waits on it) or the client changes.
    output: Condvar,
    waker: Arc<Waker>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn wake(&self) {
        if let Err(e) = self.waker.wake() {
            log::error!("waking the firmware loop: {e}");
        }
    }

    /// Append host bytes, waiting while the input buffer is full. Returns false once the
    /// client was replaced or the port closed.
    fn push_input(&self, bytes: &[u8], generation: Option<u64>) -> bool {
        let mut rest = bytes;
        let mut st = self.lock();
        while !rest.is_empty() {
            if st.closed || generation.is_some_and(|g| g != st.generation || !st.attached) {
                return false;
            }
            let room = RX_CAPACITY.saturating_sub(st.rx.len());
            if room == 0 {
                st.reader_waiting = true;
                st = self.room.wait(st).unwrap_or_else(std::sync::PoisonError::into_inner);
                continue;
            }
            let n = room.min(rest.len());
            // Wake the firmware loop only on the empty → non-empty edge: input already
            // waiting means the loop knows (it reads until empty, or waits for room).
            let was_empty = st.rx.is_empty();
            st.rx.extend(&rest[..n]);
            rest = &rest[n..];
            if was_empty {
                drop(st);
                self.wake();
                st = self.lock();
            }
        }
        true
    }

    /// The host side of `generation` ended. A TCP client's port waits for the next client.
    /// On stdio or a PTY the input is closed for good; [`Ended::Quit`] asks the loop to stop
    /// at once; [`Ended::Output`] also drops output from now on (nobody can read it).
    fn detach(&self, generation: Option<u64>, why: Ended) {
        let mut st = self.lock();
        match generation {
            Some(g) if st.generation == g => {
                if st.attached {
                    log::info!("client left");
                }
                st.attached = false;
                st.tx.clear();
            }
            Some(_) => {}
            None => {
                st.closed = true;
                match why {
                    Ended::Input => {}
                    Ended::Quit => st.quit = true,
                    Ended::Output => {
                        st.attached = false;
                        st.tx.clear();
                    }
                }
            }
        }
        self.room.notify_all();
        self.output.notify_all();
        drop(st);
        self.wake();
    }

    /// Wait for output of this client generation and move it to `buf`; `false` when the
    /// writer should stop (its client was replaced or left).
    fn pop_output(&self, generation: Option<u64>, buf: &mut Vec<u8>) -> bool {
        let mut st = self.lock();
        loop {
            if generation.is_some_and(|g| g != st.generation || !st.attached) {
                return false;
            }
            if !st.tx.is_empty() {
                buf.clear();
                let (a, b) = st.tx.as_slices();
                buf.extend_from_slice(a);
                buf.extend_from_slice(b);
                st.tx.clear();
                let wake = std::mem::take(&mut st.want_room);
                drop(st);
                if wake {
                    self.wake();
                }
                return true;
            }
            st.writer_waiting = true;
            st = self.output.wait(st).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }
}

/// The firmware's side of the AT port: an `embedded-io` UART over the bounded buffers.
pub struct HostPort {
    shared: Arc<Shared>,
    /// The PTY's slave side, held open for the simulator's lifetime so that a terminal
    /// program can come and go without the master reporting a hang-up.
    _slave: Option<File>,
    /// Restores the terminal on drop (stdio on a tty).
    _raw: Option<RawMode>,
    /// The PTY's path.
    pub path: Option<PathBuf>,
}

impl std::fmt::Debug for HostPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostPort").field("path", &self.path).finish()
    }
}

impl HostPort {
    /// Open the port; its threads wake the firmware loop through `waker`.
    pub fn open(mode: &UartMode, waker: Arc<Waker>) -> io::Result<HostPort> {
        let shared = Arc::new(Shared {
            // Both buffers at their full size from the start: the port's memory is fixed.
            state: Mutex::new(State {
                rx: VecDeque::with_capacity(RX_CAPACITY),
                tx: VecDeque::with_capacity(TX_CAPACITY),
                ..State::default()
            }),
            room: Condvar::new(),
            output: Condvar::new(),
            waker,
        });
        match mode {
            UartMode::Stdio => {
                let raw = RawMode::enable_if_tty();
                let interactive = raw.is_some();
                {
                    let mut st = shared.lock();
                    st.attached = true;
                    st.ever_attached = true;
                }
                spawn_reader(io::stdin(), "stdin", shared.clone(), None, interactive)?;
                spawn_writer(io::stdout(), "stdout", shared.clone(), None)?;
                if interactive {
                    eprintln!("at-sim: interactive terminal; Ctrl-] quits");
                }
                Ok(HostPort { shared, _slave: None, _raw: raw, path: None })
            }
            UartMode::Tcp(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the TCP AT port is crate::tcp_port::TcpPort (it lives in the network's poll)",
            )),
            UartMode::Pty => {
                let pty = nix::pty::openpty(None, None).map_err(io::Error::from)?;
                let mut t = nix::sys::termios::tcgetattr(&pty.slave).map_err(io::Error::from)?;
                nix::sys::termios::cfmakeraw(&mut t);
                nix::sys::termios::tcsetattr(&pty.slave, nix::sys::termios::SetArg::TCSANOW, &t)
                    .map_err(io::Error::from)?;
                let path = nix::unistd::ttyname(&pty.slave).map_err(io::Error::from)?;
                log::info!("AT port: {}", path.display());
                eprintln!("at-sim: AT port on {}", path.display());
                {
                    let mut st = shared.lock();
                    st.attached = true;
                    st.ever_attached = true;
                }
                let master = File::from(pty.master);
                spawn_reader(master.try_clone()?, "pty", shared.clone(), None, false)?;
                spawn_writer(master, "pty", shared.clone(), None)?;
                Ok(HostPort { shared, _slave: Some(File::from(pty.slave)), _raw: None, path: Some(path) })
            }
        }
    }

    /// Whether the input ended for good (stdin EOF or the quit key) and everything received
    /// was read.
    pub fn is_closed(&self) -> bool {
        let st = self.shared.lock();
        st.closed && st.rx.is_empty()
    }

    /// Whether the quit key was pressed: the loop stops at once, even in a data phase or
    /// with a command still running.
    pub fn quit_requested(&self) -> bool {
        self.shared.lock().quit
    }

    /// Whether output is still waiting to be written to an attached host.
    pub fn output_pending(&self) -> bool {
        let st = self.shared.lock();
        st.attached && !st.tx.is_empty()
    }
}

fn spawn_reader<R: Read + Send + 'static>(
    mut r: R,
    name: &'static str,
    shared: Arc<Shared>,
    generation: Option<u64>,
    interactive: bool,
) -> io::Result<()> {
    std::thread::Builder::new().name(format!("{name}-rx")).spawn(move || {
        let mut buf = vec![0u8; RX_CAPACITY];
        let mut mapped = Vec::with_capacity(2 * RX_CAPACITY);
        let mut quit_requested = false;
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::debug!("{name}: read error: {e}");
                    break;
                }
            };
            let data = &buf[..n];
            if interactive {
                // A terminal's Enter is CR: pass CR LF. Ctrl-] quits.
                mapped.clear();
                let mut quit = false;
                for &b in data {
                    match b {
                        QUIT_KEY => {
                            quit = true;
                            break;
                        }
                        b'\r' => mapped.extend_from_slice(b"\r\n"),
                        _ => mapped.push(b),
                    }
                }
                if !shared.push_input(&mapped, generation) {
                    break;
                }
                if quit {
                    quit_requested = true;
                    break;
                }
                continue;
            }
            if !shared.push_input(data, generation) {
                return;
            }
        }
        shared.detach(generation, if quit_requested { Ended::Quit } else { Ended::Input });
    })?;
    Ok(())
}

fn spawn_writer<W: Write + Send + 'static>(
    mut w: W,
    name: &'static str,
    shared: Arc<Shared>,
    generation: Option<u64>,
) -> io::Result<()> {
    std::thread::Builder::new().name(format!("{name}-tx")).spawn(move || {
        let mut buf = Vec::with_capacity(TX_CAPACITY);
        while shared.pop_output(generation, &mut buf) {
            if let Err(e) = w.write_all(&buf).and_then(|()| w.flush()) {
                // The host is gone (reset connection, closed stdout): detach, so output is
                // dropped as on an unplugged serial line instead of filling up and stalling
                // the firmware.
                log::info!("{name}: write failed ({e}); host detached");
                shared.detach(generation, Ended::Output);
                break;
            }
        }
    })?;
    Ok(())
}

impl embedded_io::ErrorType for HostPort {
    type Error = core::convert::Infallible;
}

impl embedded_io::Read for HostPort {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let mut st = self.shared.lock();
        let n = st.rx.len().min(buf.len());
        let (a, b) = st.rx.as_slices();
        let k = a.len().min(n);
        buf[..k].copy_from_slice(&a[..k]);
        buf[k..n].copy_from_slice(&b[..n - k]);
        st.rx.drain(..n);
        if n > 0 && std::mem::take(&mut st.reader_waiting) {
            self.shared.room.notify_one();
        }
        Ok(n)
    }
}

impl embedded_io::ReadReady for HostPort {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        Ok(!self.shared.lock().rx.is_empty())
    }
}

impl embedded_io::Write for HostPort {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        let mut st = self.shared.lock();
        if !st.attached && st.ever_attached {
            // Nobody listens: output goes nowhere, as on a serial line with nothing plugged in.
            return Ok(buf.len());
        }
        let n = TX_CAPACITY.saturating_sub(st.tx.len()).min(buf.len());
        st.tx.extend(&buf[..n]);
        if n > 0 && std::mem::take(&mut st.writer_waiting) {
            self.shared.output.notify_one();
        }
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

impl embedded_io::WriteReady for HostPort {
    fn write_ready(&mut self) -> Result<bool, Self::Error> {
        let mut st = self.shared.lock();
        let ready = (!st.attached && st.ever_attached) || st.tx.len() < TX_CAPACITY;
        if !ready {
            st.want_room = true;
        }
        Ok(ready)
    }
}

/// Raw mode on an interactive stdin, restored on drop.
struct RawMode {
    saved: nix::sys::termios::Termios,
}

impl RawMode {
    fn enable_if_tty() -> Option<RawMode> {
        use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};
        let stdin = io::stdin();
        if !nix::unistd::isatty(&stdin).unwrap_or(false) {
            return None;
        }
        let saved = tcgetattr(&stdin).ok()?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        // Keep output post-processing off too: the firmware sends CR LF itself.
        tcsetattr(&stdin, SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let stdin = io::stdin();
        let _ = nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &self.saved);
    }
}
