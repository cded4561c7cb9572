//! # at-core: the ESP-AT firmware core
//!
//! The command set, the poll loop and the persisted settings of an ESP-AT-compatible modem,
//! written against [`at_hal`]'s traits so the same code runs on an ESP32-C3, on a PC and in
//! tests.
//!
//! ## Execution model (sans-IO)
//!
//! [`Firmware`] owns no thread and reads no clock. The caller moves bytes and time in:
//!
//! ```text
//!   loop {
//!       n = uart.read(buf)          -> fw.receive(&buf[..n], now)
//!       fw.poll(now)                -> next deadline
//!       uart.write(fw.tx_front())   -> fw.tx_consume(written)
//!       feed the watchdog; sleep until input or the deadline
//!   }
//! ```
//!
//! Each call does bounded work: `receive` handles the bytes it is given (and stops early when
//! the host is not reading its responses), `poll` handles at most a fixed number of station
//! events and one step of the running command. [`runner::pump`] is that loop body for an
//! `embedded-io` UART.
//!
//! ## Commands
//!
//! Built-in: see [`Core::COMMANDS`] (the README has the table). A long command (AT+CWJAP,
//! AT+CWLAP) answers `Pending`; until it finishes, every input line gets `busy p...`.
//! Custom commands are [`at_parser::CommandDef`] rows with their own state, passed to
//! [`Firmware::with_custom`].
//!
//! ## Errors
//!
//! Every `ERROR` carries an [`at_parser::AtError`]: its reason is logged (`log` crate), kept in
//! [`Firmware::last_error`], and with `AT+SYSLOG=1` printed as `+ERRINFO:"<reason>"` before
//! ESP-AT's `ERR CODE:0x...` line. With `AT+SYSLOG=0` the wire bytes are ESP-AT's exactly.
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

mod cmd;
mod core;
mod firmware;
pub mod runner;
pub mod settings;
pub mod tx;
pub mod urc;

pub use crate::cmd::CmdInfo;
pub use crate::cmd::mfg::{sysmfg_type, unreadable_error};
pub use crate::core::{Capacities, Core, ESP_AT_COMPAT_VERSION, FirmwareInfo, Options, StaStatus};
pub use crate::firmware::{FORCE_RESTART, Firmware};
pub use at_hal::Platform;
