//! # at-hal: the hardware boundary of the ESP-AT core
//!
//! Everything the firmware core needs from the outside world is a trait in this crate, and
//! nothing else: the core never names a chip, an OS or a socket library. Three backends
//! implement these traits — `at-mock` (deterministic test doubles), `at-host` (std: stdio/TCP
//! UART, file-backed storage) and the ESP32-C3 backend (esp-hal).
//!
//! | concern | trait | notes |
//! |---|---|---|
//! | AT port (UART) | [`embedded_io`] `Read + Write + ReadReady + WriteReady` | non-blocking use only: the core checks readiness first |
//! | UART line settings | [`uart::UartControl`] | `AT+UART_CUR` / `AT+UART_DEF` |
//! | time | [`time::Instant`], passed into `poll(now)` | no global clock anywhere in the core |
//! | randomness | [`system::Entropy`] | nonces, TLS |
//! | restart, heap figures | [`system::System`] | `AT+RST`, `AT+SYSRAM` |
//! | persistent key-value data | [`kv::Kv`] | NVS-shaped: namespaces, typed values; sensitive and bounded |
//! | manufacturing data (`mfg_nvs`), user partitions | [`storage::MfgStore`], [`storage::UserPartitions`] | AT+SYSMFG, AT+SYSFLASH, certificates |
//! | Wi-Fi station | [`wifi::WifiStation`] | join/leave/scan/status, MAC |
//! | TLS | [`tls::Tls`], [`tls::TlsSession`] | sans-IO sessions fed with the socket's bytes; credentials as DER |
//! | IP stack | [`net::Network`] | DHCP or static IP, hostname, DNS, SNTP, TCP/UDP sockets (handles, non-blocking, partial writes) |
//! | all of the above, bundled | [`Platform`] | what a backend hands the firmware core; [`Platform::parts`] borrows several at once |
//!
//! Every trait method is non-blocking: long operations (joining an AP, scanning) are *started*
//! by one call and *reported* later through a polled event, so the core can return to its
//! caller between steps and the device main loop can feed its watchdog.
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod kv;
pub mod net;
pub mod platform;
pub mod storage;
pub mod system;
pub mod time;
#[cfg(feature = "alloc")]
pub mod tls;
pub mod uart;
pub mod wifi;

pub use embedded_io;
pub use platform::{Parts, Platform};
