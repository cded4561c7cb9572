//! The one emitter of unsolicited messages (URCs).
//!
//! Every message the firmware prints on its own — `WIFI CONNECTED`, `+TIME_UPDATED`, a
//! link's `0,CONNECT`, `+IPD`, `CLOSED`, `+LINK_CONN` — is a typed [`Message`] handed to
//! [`Urc::emit`], which alone turns it into bytes. It applies, in one place:
//!
//! * **the mode**: in passthrough, system and link-state messages are suppressed unless
//!   AT+SYSMSG bit 2 is set (ESP-AT's rule); received data goes out raw;
//! * **AT+SYSMSG**: bit 1 prints `+LINK_CONN:...` instead of `n,CONNECT`;
//! * **queue room**: a message is emitted whole or not at all — callers check
//!   [`Urc::can_emit`] / [`Urc::room`] first and keep the event (or the received bytes) where
//!   it is until there is room, so nothing is dropped and memory stays bounded;
//! * **response integrity**: while a command streams its response across polls, the emitter
//!   is *held* and emits nothing, so a message never lands inside a response.
//!
//! Sources report typed events; only this module knows the wire bytes.

use core::fmt;

use at_hal::net::SocketAddr;
use at_links::Proto as LinkKind;
use at_parser::Output;

use crate::tx::Tx;

/// Room every message source needs before taking an event from its driver: the longest
/// fixed message (`+LINK_CONN:...` with an IPv6 address) fits in it.
pub const MESSAGE_RESERVE: usize = 128;

/// An unsolicited message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    /// `WIFI CONNECTED`
    WifiConnected,
    /// `WIFI GOT IP`
    WifiGotIp,
    /// `WIFI DISCONNECT`
    WifiDisconnect,
    /// `+TIME_UPDATED`
    TimeUpdated,
    /// A link came up: `CONNECT` (single-link mode), `<id>,CONNECT`, or with AT+SYSMSG bit 1
    /// `+LINK_CONN:0,<id>,"<type>",<0 client|1 server>,"<ip>",<port>,<local port>`.
    Connect {
        /// The link id; `None` in single-link mode (AT+CIPMUX=0).
        link: Option<u8>,
        /// Its transport.
        kind: LinkKind,
        /// Accepted by the server (rather than opened with CIPSTART).
        server: bool,
        /// The peer.
        remote: SocketAddr,
        /// The local port.
        local_port: u16,
    },
    /// A link went down: `CLOSED` or `<id>,CLOSED`.
    Closed {
        /// The link id; `None` in single-link mode.
        link: Option<u8>,
    },
    /// Received data (active mode): `\r\n+IPD,[<id>,]<len>[,"<ip>",<port>]:<bytes>\r\n` (the
    /// trailing CR LF is in ESP-AT's core library, not in its docs).
    Ipd {
        /// The link id; `None` in single-link mode.
        link: Option<u8>,
        /// Payload length.
        len: usize,
        /// The sender, with AT+CIPDINFO=1.
        remote: Option<SocketAddr>,
    },
    /// Data waits (passive mode): `\r\n+IPD,[<id>,]<len>\r\n`.
    IpdNotice {
        /// The link id; `None` in single-link mode.
        link: Option<u8>,
        /// Bytes buffered.
        len: usize,
    },
    /// Left passthrough (with AT+SYSMSG bit 0): `\r\n+QUITT\r\n`.
    Quitt,
}

impl Message {
    /// Whether passthrough suppresses it (unless AT+SYSMSG bit 2).
    const fn is_state_message(&self) -> bool {
        matches!(
            self,
            Message::WifiConnected
                | Message::WifiGotIp
                | Message::WifiDisconnect
                | Message::TimeUpdated
                | Message::Connect { .. }
                | Message::Closed { .. }
        )
    }
}

/// What governs emission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UrcMode {
    /// Passthrough mode is on.
    pub passthrough: bool,
    /// AT+SYSMSG bits.
    pub sysmsg: u8,
    /// A command is streaming its response: emit nothing.
    pub held: bool,
}

/// What [`Urc::emit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emitted {
    /// Written.
    Yes,
    /// Suppressed by the mode (passthrough): dropped on purpose, as ESP-AT does.
    Suppressed,
    /// Not written: no room, or held. Keep it and try again later.
    Later,
}

/// The emitter, borrowed over the transmit queue for one poll.
pub struct Urc<'a> {
    tx: &'a mut Tx,
    mode: UrcMode,
}

struct Measure(usize);

impl fmt::Write for Measure {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 += s.len();
        Ok(())
    }
}

struct Out<'a>(&'a mut Tx);

impl fmt::Write for Out<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.write(s.as_bytes());
        Ok(())
    }
}

impl<'a> Urc<'a> {
    /// An emitter writing to `tx` under `mode`.
    pub fn new(tx: &'a mut Tx, mode: UrcMode) -> Self {
        Urc { tx, mode }
    }

    /// The mode.
    pub fn mode(&self) -> UrcMode {
        self.mode
    }

    /// Bytes that can be emitted now (0 while held).
    pub fn room(&self) -> usize {
        if self.mode.held { 0 } else { self.tx.room() }
    }

    /// Whether a message of any kind (without payload) fits now.
    pub fn can_emit(&self) -> bool {
        self.room() >= MESSAGE_RESERVE
    }

    /// Emit `m` whole, or report why not.
    pub fn emit(&mut self, m: &Message) -> Emitted {
        self.emit_with(m, &[])
    }

    /// Emit `m` followed by `payload` (the bytes of an `+IPD`), whole or not at all.
    pub fn emit_with(&mut self, m: &Message, payload: &[u8]) -> Emitted {
        if self.mode.passthrough && m.is_state_message() && self.mode.sysmsg & 0b100 == 0 {
            return Emitted::Suppressed;
        }
        let mut len = Measure(0);
        let _ = self.format(m, &mut len);
        let trailer: &[u8] = if matches!(m, Message::Ipd { .. }) { b"\r\n" } else { b"" };
        if self.room() < len.0 + payload.len() + trailer.len() {
            return Emitted::Later;
        }
        let sysmsg = self.mode.sysmsg;
        let _ = format(m, sysmsg, &mut Out(self.tx));
        self.tx.write(payload);
        self.tx.write(trailer);
        Emitted::Yes
    }

    /// In passthrough, received data goes out raw: write as much of `data` as fits and say how
    /// much that was.
    pub fn passthrough_data(&mut self, data: &[u8]) -> usize {
        let n = self.room().min(data.len());
        self.tx.write(&data[..n]);
        n
    }

    fn format(&self, m: &Message, w: &mut dyn fmt::Write) -> fmt::Result {
        format(m, self.mode.sysmsg, w)
    }
}

/// The bytes of `m` under AT+SYSMSG `sysmsg` (without an `+IPD`'s payload and trailer).
/// Commands use it for the messages that belong to their response (`CONNECT` before
/// `AT+CIPSTART`'s `OK`, `<id>,CLOSED` before `AT+CIPCLOSE`'s).
pub fn format(m: &Message, sysmsg: u8, w: &mut dyn fmt::Write) -> fmt::Result {
    match *m {
        Message::WifiConnected => w.write_str("WIFI CONNECTED\r\n"),
        Message::WifiGotIp => w.write_str("WIFI GOT IP\r\n"),
        Message::WifiDisconnect => w.write_str("WIFI DISCONNECT\r\n"),
        Message::TimeUpdated => w.write_str("+TIME_UPDATED\r\n"),
        Message::Connect { link, kind, server, remote, local_port } => {
            if sysmsg & 0b10 != 0 {
                write!(
                    w,
                    "+LINK_CONN:0,{},\"{}\",{},\"{}\",{},{}\r\n",
                    link.unwrap_or(0),
                    kind.name(),
                    u8::from(server),
                    remote.ip(),
                    remote.port(),
                    local_port
                )
            } else {
                match link {
                    Some(id) => write!(w, "{id},CONNECT\r\n"),
                    None => w.write_str("CONNECT\r\n"),
                }
            }
        }
        Message::Closed { link } => match link {
            Some(id) => write!(w, "{id},CLOSED\r\n"),
            None => w.write_str("CLOSED\r\n"),
        },
        Message::Ipd { link, len, remote } => {
            w.write_str("\r\n+IPD,")?;
            if let Some(id) = link {
                write!(w, "{id},")?;
            }
            write!(w, "{len}")?;
            if let Some(r) = remote {
                write!(w, ",\"{}\",{}", r.ip(), r.port())?;
            }
            w.write_str(":")
        }
        Message::IpdNotice { link, len } => match link {
            Some(id) => write!(w, "\r\n+IPD,{id},{len}\r\n"),
            None => write!(w, "\r\n+IPD,{len}\r\n"),
        },
        Message::Quitt => w.write_str("\r\n+QUITT\r\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;
    use at_hal::net::{IpAddr, Ipv4Addr};

    fn emit(mode: UrcMode, m: Message, payload: &[u8]) -> (Emitted, String) {
        let mut tx = Tx::with_capacity(1024);
        let r = Urc::new(&mut tx, mode).emit_with(&m, payload);
        let mut buf = [0u8; 1024];
        let n = tx.take(&mut buf);
        (r, String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    #[test]
    fn formats_and_modes() {
        let remote = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 5)), 4000);
        let normal = UrcMode::default();
        assert_eq!(emit(normal, Message::WifiGotIp, &[]).1, "WIFI GOT IP\r\n");
        let connect =
            Message::Connect { link: Some(2), kind: LinkKind::Tcp, server: true, remote, local_port: 333 };
        assert_eq!(emit(normal, connect, &[]).1, "2,CONNECT\r\n");
        assert_eq!(
            emit(UrcMode { sysmsg: 2, ..normal }, connect, &[]).1,
            "+LINK_CONN:0,2,\"TCP\",1,\"192.168.1.5\",4000,333\r\n"
        );
        let ipd = Message::Ipd { link: Some(0), len: 5, remote: Some(remote) };
        assert_eq!(emit(normal, ipd, b"hello").1, "\r\n+IPD,0,5,\"192.168.1.5\",4000:hello\r\n");
        let ipd = Message::Ipd { link: None, len: 4, remote: None };
        assert_eq!(emit(normal, ipd, b"test").1, "\r\n+IPD,4:test\r\n");
        let through = UrcMode { passthrough: true, ..normal };
        assert_eq!(emit(through, Message::Closed { link: None }, &[]), (Emitted::Suppressed, String::new()));
        let through_msgs = UrcMode { passthrough: true, sysmsg: 4, ..normal };
        assert_eq!(emit(through_msgs, Message::Closed { link: None }, &[]).1, "CLOSED\r\n");
        let held = UrcMode { held: true, ..normal };
        assert_eq!(emit(held, Message::TimeUpdated, &[]), (Emitted::Later, String::new()));
    }

    #[test]
    fn whole_or_not_at_all() {
        let mut tx = Tx::with_capacity(crate::tx::TX_MIN);
        let full = crate::tx::TX_MIN - 4;
        tx.write(&alloc::vec![0u8; full]);
        let mut urc = Urc::new(&mut tx, UrcMode::default());
        assert!(!urc.can_emit());
        assert_eq!(urc.emit(&Message::WifiGotIp), Emitted::Later);
        assert_eq!(tx.len(), full);
    }
}
