//! # at-host: the ESP-AT core on a PC
//!
//! The std backend: [`HostPlatform`] (simulated Wi-Fi station, real sockets through
//! [`StdNet`] with SNTP from the host clock, settings in an NVS image file), [`FileFlash`] (a
//! NOR flash image in a file), the AT port on stdio, TCP or a pseudo-terminal
//! ([`transport`]), and the `at-sim` loop ([`sim`]).
//!
//! `cargo run --release --bin at-sim -- --help` lists every option.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod flash;
pub mod logger;
pub mod mfg;
pub mod net;
pub mod platform;
pub mod sim;
pub mod tcp_port;
pub mod transport;

pub use flash::FileFlash;
pub use net::{StdNet, StdNetConfig};
pub use platform::HostPlatform;
