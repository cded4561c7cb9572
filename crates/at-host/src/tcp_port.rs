//! The AT port on a TCP listener, in the firmware loop's own `epoll` set: no threads.
//!
//! One client at a time, like a serial port (a second one is told so and closed). The sockets
//! are non-blocking and registered with the network backend's poll (through a clone of its
//! registry), so their readiness wakes the loop like any link's. Bytes are read from the client
//! only while the firmware can take them (the input buffer holds at most [`RX_CAPACITY`]: a
//! host that writes without reading is held back by TCP), and written as the socket takes
//! them (at most [`TX_CAPACITY`] wait). Before the first client, output waits (the boot banner
//! reaches it); after one left, output goes nowhere, as on a serial line with nothing plugged
//! in.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};

use crate::transport::{RX_CAPACITY, TX_CAPACITY};

const LISTENER: Token = Token(crate::net::EXTERNAL_TOKENS + 1);
const CLIENT: Token = Token(crate::net::EXTERNAL_TOKENS + 2);

/// The AT port on TCP, driven from the firmware loop.
pub struct TcpPort {
    registry: Registry,
    listener: TcpListener,
    client: Option<TcpStream>,
    rx: VecDeque<u8>,
    tx: VecDeque<u8>,
    ever_attached: bool,
    /// Readiness as the last events said (cleared when a call would block): the sockets are
    /// only called when they may have something, so an idle round costs no system call.
    accept_ready: bool,
    readable: bool,
    writable: bool,
}

impl std::fmt::Debug for TcpPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpPort")
            .field("attached", &self.client.is_some())
            .field("tx", &self.tx.len())
            .finish()
    }
}

impl TcpPort {
    /// Listen on `addr`, registered with `registry` (the network backend's poll).
    pub fn bind(addr: SocketAddr, registry: Registry) -> io::Result<TcpPort> {
        let mut listener = TcpListener::bind(addr)?;
        registry.register(&mut listener, LISTENER, Interest::READABLE)?;
        log::info!("AT port: TCP listening on {}", listener.local_addr()?);
        eprintln!("at-sim: AT port on tcp://{}", listener.local_addr()?);
        Ok(TcpPort {
            registry,
            listener,
            client: None,
            rx: VecDeque::with_capacity(RX_CAPACITY),
            tx: VecDeque::with_capacity(TX_CAPACITY),
            ever_attached: false,
            accept_ready: true,
            readable: false,
            writable: false,
        })
    }

    /// Readiness the network backend's poll reported for this port's sockets.
    pub fn on_ready(&mut self, token: Token, readable: bool, writable: bool) {
        if token == LISTENER {
            self.accept_ready |= readable;
        } else if token == CLIENT {
            self.readable |= readable;
            self.writable |= writable;
        }
    }

    /// Accept, read and write as far as the sockets allow now (a few non-blocking calls).
    fn service(&mut self) {
        // New clients: the first is attached; others while one is attached are refused.
        while self.accept_ready {
            match self.listener.accept() {
                Ok((mut s, peer)) => {
                    if self.client.is_some() {
                        log::warn!(
                            "refusing {peer}: another client is attached (one at a time, like a serial port)"
                        );
                        let _ = s.write(b"at-sim: another client is attached\r\n");
                        continue;
                    }
                    let _ = s.set_nodelay(true);
                    if self
                        .registry
                        .register(&mut s, CLIENT, Interest::READABLE | Interest::WRITABLE)
                        .is_err()
                    {
                        continue;
                    }
                    log::info!("client {peer} attached");
                    self.client = Some(s);
                    self.ever_attached = true;
                    self.readable = true;
                    self.writable = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.accept_ready = false,
                Err(e) => {
                    log::warn!("accept: {e}");
                    self.accept_ready = false;
                }
            }
        }
        self.flush_tx();
        // Input, only as much as the firmware has room for.
        let room = RX_CAPACITY - self.rx.len();
        if room > 0
            && self.readable
            && let Some(s) = &mut self.client
        {
            let mut buf = [0u8; 16 * 1024];
            let want = room.min(buf.len());
            match s.read(&mut buf[..want]) {
                Ok(0) => self.detach("client left"),
                Ok(n) => self.rx.extend(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self.detach(&format!("read failed: {e}")),
            }
        }
    }

    fn flush_tx(&mut self) {
        let Some(s) = &mut self.client else { return };
        while !self.tx.is_empty() && self.writable {
            let (a, _) = self.tx.as_slices();
            match s.write(a) {
                Ok(0) => break,
                Ok(n) => {
                    self.tx.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => break,
                Err(e) => {
                    self.detach(&format!("write failed: {e}"));
                    return;
                }
            }
        }
    }

    fn detach(&mut self, why: &str) {
        if let Some(mut s) = self.client.take() {
            let _ = self.registry.deregister(&mut s);
            log::info!("{why}; the port waits for the next client");
        }
        self.tx.clear();
    }

    /// Whether output waits to be written to an attached client.
    pub fn output_pending(&self) -> bool {
        self.client.is_some() && !self.tx.is_empty()
    }
}

impl embedded_io::ErrorType for TcpPort {
    type Error = core::convert::Infallible;
}

impl embedded_io::Read for TcpPort {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        if self.rx.is_empty() {
            self.service();
        }
        let n = self.rx.len().min(buf.len());
        let (a, b) = self.rx.as_slices();
        let k = a.len().min(n);
        buf[..k].copy_from_slice(&a[..k]);
        buf[k..n].copy_from_slice(&b[..n - k]);
        self.rx.drain(..n);
        Ok(n)
    }
}

impl embedded_io::ReadReady for TcpPort {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        // Called every loop round: also the moment to push out output the socket refused
        // before (its writable edge woke the loop).
        if self.rx.is_empty() {
            self.service();
        } else {
            self.flush_tx();
        }
        Ok(!self.rx.is_empty())
    }
}

impl embedded_io::Write for TcpPort {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        if self.client.is_none() && self.ever_attached {
            // Nobody listens: output goes nowhere, as on a serial line with nothing plugged in.
            return Ok(buf.len());
        }
        let n = (TX_CAPACITY - self.tx.len()).min(buf.len());
        self.tx.extend(&buf[..n]);
        self.flush_tx();
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        self.flush_tx();
        Ok(())
    }
}

impl embedded_io::WriteReady for TcpPort {
    fn write_ready(&mut self) -> Result<bool, Self::Error> {
        if !self.tx.is_empty() {
            self.flush_tx();
        }
        if self.client.is_none() {
            self.service();
        }
        Ok((self.client.is_none() && self.ever_attached) || self.tx.len() < TX_CAPACITY)
    }
}
