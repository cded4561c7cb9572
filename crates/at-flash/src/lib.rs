//! # at-flash: the ESP32-C3 flash as ESP-AT sees it
//!
//! ESP-AT finds its manufacturing data (`mfg_nvs`: certificates, keys, `factory_param`) through
//! two partition tables, and on a chip with flash encryption the chip decrypts some partitions
//! and not others. When `idf.py encrypted-flash` encrypts ESP-AT's *secondary* table and
//! `mfg_nvs` — which the firmware reads plain — ESP-AT silently finds nothing (`at param mode:
//! 0`, `cert_len=0`) and an SSL server loops until the watchdog fires. This crate makes that
//! state impossible to miss:
//!
//! | module | what |
//! |---|---|
//! | [`table`] | ESP-IDF binary partition tables: parse with precise errors, emit byte-for-byte as `gen_esp32part.py` |
//! | [`csv`] | the CSV form, read as `gen_esp32part.py` reads it (auto-placement, `K`/`M` sizes) |
//! | [`xts`] | ESP32-C3 flash encryption (XTS-AES-128, 128-byte units, absolute-address tweak, byte reversal), byte-identical to `espsecure` |
//! | [`view`] | `embedded-storage` windows onto one partition: raw, decrypted as the chip reads, and the [`view::MountView`] an NVS mount gets |
//! | [`layout`] | primary table at 0x8000, ESP-AT's secondary table in `at_customize`, ESP-AT's C3 defaults |
//! | [`storage`] | [`MfgStorage`]: `mfg_nvs` located and mounted (or diagnosed) plus AT+SYSFLASH access, what a backend hands the firmware |
//! | [`locate`] | [`locate_mfg_nvs`]: the boot-time lookup, returning a view or the precise [`at_hal::kv::Unreadable`] |
//! | [`finding`] | [`Finding`]: one partition as the chip reads it, embedding at-nvs's `Verdict` for NVS content — the shared vocabulary (`Verdict` → `Finding` → [`at_hal::kv::Unreadable`]) and where it is documented |
//! | [`mod@diagnose`] | [`diagnose()`]: a read-only report on a whole flash or dump, per partition, with remedies (`Display`; `serde` feature for JSON) |
//! | [`classify`] | the key-less ciphertext test behind the diagnosis (NVS partitions use `at_nvs::classify`) |
//!
//! **Nothing here writes or erases** except the explicit `NorFlash::write`/`erase` of the views:
//! [`diagnose()`] only needs `ReadNorFlash`, and [`locate_mfg_nvs`] only reads.
//!
//! Panic contract: no function panics on any flash content; every loop is bounded by the size
//! of what it reads.
//!
//! Not implemented: the ESP32 (non-XTS) and ESP32-S2/S3/C5+ flash-encryption variants
//! (XTS-AES-256, pseudo-rounds), `gen_esp32part.py`'s `--secure` alignment rules and `$ENV`
//! expansion.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod classify;
pub mod csv;
pub mod diagnose;
pub mod finding;
pub mod layout;
pub mod locate;
pub mod storage;
pub mod table;
pub mod view;
pub mod xts;

pub use at_nvs::NvsKeys;
pub use diagnose::{DiagnoseOptions, Diagnosis, Problem, diagnose};
pub use finding::Finding;
pub use locate::{LocateError, MfgNvs, locate_mfg_nvs, locate_mfg_nvs_with_primary};
pub use storage::{MfgStorage, SharedFlash};
pub use table::{PartitionEntry, PartitionTable, TableError};
pub use view::{DecryptedView, MountView, PartitionView, SliceFlash, ViewError};
pub use xts::FlashKey;
