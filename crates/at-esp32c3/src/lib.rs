//! # at-esp32c3: the ESP32-C3 backend's own logic, tested on the host
//!
//! The ESP32-C3 firmware (`firmware/esp32c3`, its own cargo workspace, riscv32imc only) keeps
//! its chip drivers thin: everything that is a *decision* rather than a register access lives
//! here, `no_std`, free of `unsafe`, and runs in `cargo test` on the host.
//!
//! | module | what the firmware uses it for |
//! |---|---|
//! | [`uart`] | `AT+UART_CUR`/`AT+UART_DEF` settings → the C3 UART's values (data bits, parity, stop bits, RTS/CTS, the baud-rate divider esp-hal programs), with ESP-AT's validation |
//! | [`regions`] | [`FlashRegions`]: which flash ranges the chip reads through flash decryption (bootloader, primary table, apps, OTA data, `nvs_keys`, partitions flagged `encrypted`) and which raw |
//! | [`routed`] | [`RoutedFlash`]: a `NorFlash` that sends each read/write to the raw or the decrypting path by that policy, over a small [`ChipFlashOps`] trait the firmware implements with esp-storage; and [`routed::boot`], which reads both partition tables to build the policy |
//! | `emulation` | (feature `emulation`) the host model of the chip's flash: raw bytes plus the flash-encryption key, so the routing and the boot-time diagnosis run against the real whole-flash dumps in `fixtures/flash/dumps` |
//! | [`hmac`] | NVS keys derived through an [`HmacSha256`] implementor (on the chip: the HMAC peripheral with an eFuse key of purpose `HMAC_UP`, the key never leaves it), and the choice of the eFuse key block |
//! | [`rx_ring`] | [`rx_ring::RxRing`]: the AT port's receive ring between the UART interrupt and the main loop |
//! | [`factory`] | `factory_param`'s AT UART port, pins and baud rate (from `mfg_nvs`), checked against the C3 |
//!
//! Panic contract: no function panics on any input (flash contents, settings, eFuse values).
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(test)]
extern crate std;

#[cfg(feature = "emulation")]
pub mod emulation;
pub mod factory;
pub mod hmac;
pub mod regions;
pub mod routed;
pub mod rx_ring;
pub mod uart;

pub use hmac::{HmacSha256, derive_nvs_keys};
pub use regions::{Access, FlashRegions};
pub use routed::{ChipFlashOps, RoutedError, RoutedFlash};
pub use uart::{UartSettings, uart_settings};
