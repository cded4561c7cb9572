//! # at-parser: the ESP-AT wire protocol, byte-compatible, `no_std`, no allocation
//!
//! ESP-AT is a line protocol with a raw-data side channel. This crate turns received bytes
//! into commands and writes responses, and does nothing else: no I/O, no clock, no heap.
//!
//! ## Layers
//!
//! 1. [`framer`] — the byte stream: lines of at most 256 bytes (terminator included),
//!    CR LF or a configurable single terminator, busy mode (`busy p...`), exact-length or
//!    unbounded data phases after a `>` prompt, and `+++` with ESP-AT's 20 ms guard times.
//!    Time is an argument, never read.
//! 2. [`command`] — a line: the `AT` prefix, the name, the four forms (`AT+X`, `AT+X?`,
//!    `AT+X=?`, `AT+X=...`), and the parameters, unescaped in place (`\\`, `\"`, `\,`),
//!    keeping *omitted* and `""` apart. [`params`] adds typed access with range checks.
//! 3. [`dispatch`] — ESP-AT's `{name, test, query, set, exec}` table rows, the [`Call`]
//!    handlers write through, and what they can answer: a result code, "still running"
//!    (the caller answers input with `busy p...`), or a data phase.
//! 4. [`result`] and [`error`] — the eight result codes with their exact bytes, and the
//!    `ERR CODE:0x01SSEEEE` encoding.
//!
//! The firmware core (`at-core`) strings these together into a poll loop; custom firmware
//! uses the same [`CommandDef`] rows to add its own `AT+MYCMD`.
//!
//! ## Panic contract
//!
//! No function in this crate panics on any input bytes, in any chunking, at any times.
//! Fuzz targets (`fuzz/`) and property tests (`tests/`) check it.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod command;
pub mod dispatch;
pub mod error;
pub mod framer;
pub mod params;
pub mod result;

pub use command::{Args, Command, Form, Param, parse};
pub use dispatch::{
    Call, CommandDef, DataEvent, DataFlow, DataPhase, ESCAPE_SLACK, Outcome, Output, Reply, ok,
};
pub use error::{AtError, ErrorCode, ErrorDetail, ExecFail, SubCode};
pub use framer::{DataLen, Event, Framer, Terminator};
pub use result::ResultCode;
