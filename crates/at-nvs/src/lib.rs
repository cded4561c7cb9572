//! # at-nvs: ESP-IDF NVS partitions over `embedded-storage` NOR flash
//!
//! Reads **and writes** the on-flash format of ESP-IDF's Non-Volatile Storage, plain or
//! NVS-encrypted, so that a partition written by Espressif's tools (`nvs_partition_gen.py`,
//! ESP-AT's `mfg_nvs`) or by ESP-IDF itself mounts here, and what this crate writes mounts
//! there. `no_std` + `alloc`; the CSV image generator needs the `std` feature; `serde` makes
//! [`Verdict`] `Serialize` (for at-flash's JSON form).
//!
//! ## Layers
//!
//! * [`format`](mod@format) — pages, header, entry-state bitmap, 32-byte items; pure byte layouts.
//! * [`crc`] — the CRC-32 variant NVS uses (check value `0xD202D277`).
//! * [`crypto`] — NVS encryption: XTS-AES-256 per entry, keys from an `nvs_keys` partition
//!   or derived from an eFuse HMAC key ([`NvsKeys`]).
//! * [`classify()`] — what a partition holds (blank, plain NVS, NVS-encrypted, flash-encrypted
//!   ciphertext read as plain, garbage) without mounting it, with the numbers behind the verdict.
//!   [`Verdict`] is the bottom layer of the partition-state vocabulary (at-flash's `Finding`
//!   embeds it; [`Verdict::unreadable`] is the one place NVS content becomes an
//!   [`Unreadable`](at_hal::kv::Unreadable), for `classify` and [`Nvs::mount`] alike); see
//!   [`classify`](mod@classify).
//! * [`Nvs`] — the mounted store, implementing [`at_hal::kv::Kv`]:
//!   [`Nvs::mount`] (read-write) and [`Nvs::mount_read_only`].
//! * [`image`] — an in-memory image builder that reproduces `nvs_partition_gen.py` byte for
//!   byte; `csv` (feature `std`) — its CSV front end.
//!
//! ## Mount = ESP-IDF's load rules
//!
//! Pages are ordered by sequence number; only the bitmap is trusted; only WRITTEN entries
//! whose header passes the CRC/type/span check count, variable-length items only with all
//! span entries WRITTEN and a matching data CRC. The newest copy (page sequence, then entry
//! index) of a `(namespace, key)` wins; a multi-page blob is read only through a consistent
//! `BLOB_IDX` (every chunk present, sizes adding up, every data CRC checked); orphan chunks are
//! ignored. On an ACTIVE page, entries written but not yet marked (a cut write) are skipped.
//! An interrupted reclaim (a FREEING page) is completed.
//!
//! A **read-write** mount applies these repairs on flash (NOR writes only: bitmap bits to
//! ERASED, redoing the reclaim); a **read-only** mount applies them in memory and never
//! writes or erases.
//!
//! **A partition that cannot be read is never formatted.** Blank → empty store. No valid page
//! header and data present → [`Unreadable::FlashEncryptedReadAsPlain`] if it has the entropy
//! of ciphertext, else [`Unreadable::Garbage`]. Valid headers but no entry checks out →
//! [`Unreadable::NvsKeysMissing`] (no keys given) or [`Unreadable::NvsKeysWrong`]. A page
//! version below `0xFE` → [`Unreadable::NvsNewerVersion`].
//!
//! ## Writes
//!
//! ESP-IDF's append-only log, through `NorFlash::write` (clearing bits) and whole-page erases
//! only: item first, bitmap after; the new value before the old one is erased; a full page
//! becomes FULL and the next one ACTIVE with sequence + 1; reclaim through FREEING (copy the
//! live items to the last free page, then erase the victim), so one free page is always kept;
//! multi-page blobs switch `chunkStart` between 0x00 and 0x80 on every rewrite. A power cut at
//! any point leaves each key with its old or its new value (`tests/power_loss.rs` sweeps every
//! byte). After a flash error the store refuses further operations ([`KvError::Flash`]) until
//! mounted again.
//!
//! ## Example
//!
//! ```
//! use at_hal::kv::{Kv, Value};
//! use at_mock::flash::MockFlash;
//! use at_nvs::{Nvs, NvsKeys, Verdict, classify};
//!
//! let mut flash = MockFlash::new(6 * 4096); // address 0 = partition start
//! let keys = NvsKeys::new([0x11; 32], [0x22; 32]);
//! {
//!     let mut nvs = Nvs::mount(&mut flash, Some(&keys))?;
//!     nvs.set("factory_param", "uart_baudrate", Value::I32(115200))?;
//!     nvs.set("server_cert", "server_cert", Value::Blob(b"-----BEGIN CERTIFICATE-----..."))?;
//! }
//! // Without the keys the partition is diagnosed, not formatted.
//! let c = classify(&mut flash, None)?;
//! assert_eq!(c.verdict, Verdict::NvsEncrypted { keys_ok: None });
//! let mut ro = Nvs::mount_read_only(&mut flash, Some(&keys))?;
//! assert_eq!(ro.get("factory_param", "uart_baudrate", &mut [])?, Value::I32(115200));
//! # Ok::<(), at_hal::kv::KvError>(())
//! ```
//!
//! ## Not implemented
//!
//! * ESP-IDF v6.1's `float`/`double` item types (0x24/0x28) are ignored when reading.
//! * Erased entries are not overwritten with zeros (ESP-IDF v6.1's purge): an erased secret
//!   stays on flash until its page is reclaimed.
//! * Flash encryption (the chip's, not NVS's) is not this crate's business: give it a flash
//!   that decrypts.
//!
//! [`Unreadable::FlashEncryptedReadAsPlain`]: at_hal::kv::Unreadable::FlashEncryptedReadAsPlain
//! [`Unreadable::Garbage`]: at_hal::kv::Unreadable::Garbage
//! [`Unreadable::NvsKeysMissing`]: at_hal::kv::Unreadable::NvsKeysMissing
//! [`Unreadable::NvsKeysWrong`]: at_hal::kv::Unreadable::NvsKeysWrong
//! [`Unreadable::NvsNewerVersion`]: at_hal::kv::Unreadable::NvsNewerVersion
//! [`KvError::Flash`]: at_hal::kv::KvError::Flash
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod classify;
pub mod crc;
pub mod crypto;
pub mod format;
pub mod image;
mod read_only;
mod scan;
mod store;
mod write;

#[cfg(feature = "std")]
pub mod csv;

pub use classify::{Classification, Verdict, classify};
pub use crypto::{KeysError, NvsKeys};
pub use read_only::{ReadOnlyFlash, ReadOnlyFlashError};
pub use store::{Nvs, NvsStats};
