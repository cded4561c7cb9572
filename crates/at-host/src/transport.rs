//! The AT port on a PC: stdio, a TCP listener (one client at a time) or a pseudo-terminal.
//!
//! Each transport runs small blocking threads that turn I/O into [`Incoming`] messages on one
//! channel; the firmware loop waits on that channel (so an idle simulator sleeps) and hands
//! output to a writer thread through a bounded queue (so a slow client never blocks the
//! loop: the firmware's own transmit queue absorbs it, and input is throttled).

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Sender, SyncSender, sync_channel};

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

/// What the transport tells the firmware loop.
#[derive(Debug)]
pub enum Incoming {
    /// Bytes from the host.
    Bytes(Vec<u8>),
    /// A host attached; write output to this sink.
    Attached(Sink),
    /// The host left (TCP client closed).
    Detached,
    /// The input ended for good (stdin EOF): finish and exit.
    Closed,
}

/// Output path to the attached host: a bounded queue to a writer thread.
#[derive(Debug, Clone)]
pub struct Sink(SyncSender<Vec<u8>>);

impl Sink {
    /// Queue bytes; `Err` with the bytes back if the writer is behind (or gone).
    pub fn try_send(&self, bytes: Vec<u8>) -> Result<(), Vec<u8>> {
        self.0.try_send(bytes).map_err(|e| match e {
            std::sync::mpsc::TrySendError::Full(b) | std::sync::mpsc::TrySendError::Disconnected(b) => b,
        })
    }
}

fn writer<W: Write + Send + 'static>(mut w: W, name: &str) -> io::Result<Sink> {
    let (tx, rx) = sync_channel::<Vec<u8>>(32);
    std::thread::Builder::new().name(format!("{name}-tx")).spawn(move || {
        for chunk in rx {
            if w.write_all(&chunk).and_then(|()| w.flush()).is_err() {
                break;
            }
        }
    })?;
    Ok(Sink(tx))
}

/// Read from `r` on a thread, forwarding bytes; at end of input send `end`, then run `after`.
fn reader<R: Read + Send + 'static>(
    mut r: R,
    name: &'static str,
    to: Sender<Incoming>,
    end: Incoming,
    after: impl FnOnce() + Send + 'static,
) -> io::Result<()> {
    std::thread::Builder::new().name(format!("{name}-rx")).spawn(move || {
        let mut buf = [0u8; 1024];
        loop {
            match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if to.send(Incoming::Bytes(buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::debug!("{name}: read error: {e}");
                    break;
                }
            }
        }
        let _ = to.send(end);
        after();
    })?;
    Ok(())
}

/// An open AT port.
#[derive(Debug)]
pub struct Port {
    /// The sink, if a host is attached from the start (stdio, PTY).
    pub sink: Option<Sink>,
    /// The PTY's path.
    pub path: Option<PathBuf>,
    /// The PTY's slave side, held open for the simulator's lifetime so that a terminal
    /// program can come and go without the master reporting a hang-up.
    _slave: Option<File>,
}

/// Open the port; its input arrives on `to`.
pub fn open(mode: &UartMode, to: Sender<Incoming>) -> io::Result<Port> {
    match mode {
        UartMode::Stdio => {
            reader(io::stdin(), "stdin", to, Incoming::Closed, || {})?;
            Ok(Port { sink: Some(writer(io::stdout(), "stdout")?), path: None, _slave: None })
        }
        UartMode::Tcp(addr) => {
            let listener = TcpListener::bind(addr)?;
            log::info!("AT port: TCP listening on {}", listener.local_addr()?);
            eprintln!("at-sim: AT port on tcp://{}", listener.local_addr()?);
            let busy = Arc::new(AtomicBool::new(false));
            std::thread::Builder::new().name("tcp-accept".into()).spawn(move || {
                for stream in listener.incoming() {
                    match stream {
                        Ok(s) => {
                            if let Err(e) = attach(s, &busy, &to) {
                                log::warn!("client not attached: {e}");
                            }
                        }
                        Err(e) => log::warn!("accept: {e}"),
                    }
                }
            })?;
            Ok(Port { sink: None, path: None, _slave: None })
        }
        UartMode::Pty => {
            let pty = nix::pty::openpty(None, None).map_err(io::Error::from)?;
            let mut t = nix::sys::termios::tcgetattr(&pty.slave).map_err(io::Error::from)?;
            nix::sys::termios::cfmakeraw(&mut t);
            nix::sys::termios::tcsetattr(&pty.slave, nix::sys::termios::SetArg::TCSANOW, &t)
                .map_err(io::Error::from)?;
            let path = nix::unistd::ttyname(&pty.slave).map_err(io::Error::from)?;
            log::info!("AT port: {}", path.display());
            eprintln!("at-sim: AT port on {}", path.display());
            let master = File::from(pty.master);
            let rx = master.try_clone()?;
            reader(rx, "pty", to, Incoming::Closed, || {})?;
            Ok(Port {
                sink: Some(writer(master, "pty")?),
                path: Some(path),
                _slave: Some(File::from(pty.slave)),
            })
        }
    }
}

fn attach(s: TcpStream, busy: &Arc<AtomicBool>, to: &Sender<Incoming>) -> io::Result<()> {
    let peer = s.peer_addr()?;
    if busy.swap(true, Ordering::SeqCst) {
        log::warn!("refusing {peer}: another client is attached (one at a time, like a serial port)");
        let mut s = s;
        let _ = s.write_all(b"at-sim: another client is attached\r\n");
        return Ok(());
    }
    log::info!("client {peer} attached");
    s.set_nodelay(true)?;
    let sink = writer(s.try_clone()?, "tcp")?;
    if to.send(Incoming::Attached(sink)).is_err() {
        return Ok(());
    }
    let busy = busy.clone();
    reader(s, "tcp", to.clone(), Incoming::Detached, move || {
        log::info!("client {peer} left");
        busy.store(false, Ordering::SeqCst);
    })
}
