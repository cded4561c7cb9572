//! # at-links: ESP-AT's link manager
//!
//! Up to five TCP/UDP links (ids 0..=4) and one TCP server, as ESP-AT keeps them, in a sans-IO
//! state machine over [`at_hal::net::Network`]: every call that touches sockets takes the
//! network as an argument, and [`Links::poll`] does a bounded amount of work per link, so the
//! firmware stays watchdog-safe however many connections or bytes arrive.
//!
//! What this crate does and does not do:
//!
//! * It owns the links: their sockets, their state (resolving, connecting, open, failed), and
//!   their buffers ([`Buffers`]: received data waiting for the host, queued data waiting for
//!   the socket). A full receive buffer stops reading the socket — TCP flow control holds the
//!   peer — so nothing is ever dropped and memory stays bounded.
//! * It reports typed [`LinkEvent`]s (accepted connections, closures) and hands out received
//!   data ([`Links::next_chunk`], [`Links::peek_passive`]); it never formats AT messages —
//!   `at-core`'s message emitter does, which keeps `+IPD` and `CLOSED` in the one place that
//!   knows the AT port's mode and room.
//! * The AT commands (`AT+CIPSTART`, `AT+CIPSEND`, ...) are `at-core`'s; they drive this
//!   crate's API.
//! * SSL links run over [`at_hal::tls`]: the caller makes the session (the platform's TLS)
//!   and hands it to [`Links::connect_tls`] or, for a server, an acceptor to
//!   [`Links::listen_tls`]; the link moves ciphertext between socket and session and
//!   plaintext between session and buffers, a bounded step per poll, with a handshake timeout
//!   ([`HANDSHAKE_TIMEOUT`]). [`Links::connect`] / [`Links::listen`] answer
//!   [`LinkError::NoTls`] for SSL (they have no session).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod config;
mod links;

pub use config::{
    Buffers, LinkError, MAX_EVENTS, MAX_IPD, MAX_LINKS, MAX_SEND, PASSTHROUGH_CHUNK, Proto, RecvMode,
    SEND_SLACK, SlotConfig, TcpOptions, UdpMode,
};
pub use links::{Connect, ConnectState, HANDSHAKE_TIMEOUT, Host, Link, LinkEvent, Links};
