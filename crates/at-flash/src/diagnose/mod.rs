//! Why can't the device read its partitions? A read-only diagnosis of a whole flash (a dump, or
//! the live flash) that names the partition, its offset, the cause and the remedy.
//!
//! [`diagnose`] takes any [`ReadNorFlash`] — it has no way to write, and reads each byte a
//! bounded number of times — plus the flash-encryption key if one is known, and returns a
//! [`Diagnosis`]:
//!
//! * the **primary table** at 0x8000: plain (flash encryption off), stored encrypted and
//!   decrypted with the key (on), or ciphertext without a key (on; the partitions are then
//!   *assumed* to be ESP-AT's C3 defaults and marked as such);
//! * ESP-AT's **secondary table** at the start of `at_customize`: readable, erased, or
//!   "written encrypted but read plain" (the seed bug) — confirmed by decrypting with the key,
//!   or by the key-less rule (the bytes look like ciphertext);
//! * every **partition** of both tables: blank; plain NVS; NVS-encrypted; written encrypted but
//!   read plain; plaintext where the chip decrypts; encrypted as expected; garbage;
//! * **`mfg_nvs` as ESP-AT's boot path sees it**, and the list of [`Problem`]s, each mapped to
//!   [`at_hal::kv::Unreadable`] with its remedy.
//!
//! Print it with `{}` (human form); with the `serde` feature every type is `Serialize`, for a
//! JSON printer in the CLI.
//!
//! The code is split the same way: table reading (primary, then secondary; private module
//! `tables`), the per-partition judgement ([`judge_partition`], which [`crate::locate`]
//! shares), and the whole-dump summary (the problems and `mfg_nvs`'s boot path; module
//! `summary`). [`Finding`] is the per-partition vocabulary.

mod judge;
mod summary;
pub(crate) mod tables;

pub use crate::finding::Finding;
pub use judge::judge_partition;
pub use summary::{PartitionReport, Problem, TableId};
pub use tables::{FlashEncryption, TableReport, TableStatus};

use crate::xts::FlashKey;
use alloc::vec::Vec;
use at_nvs::NvsKeys;
use embedded_storage::nor_flash::ReadNorFlash;

/// Options of [`diagnose`].
#[derive(Clone, Copy, Debug)]
pub struct DiagnoseOptions<'k> {
    /// The flash-encryption key file, if known: confirms findings and reads encrypted tables.
    pub flash_key: Option<&'k FlashKey>,
    /// NVS-encryption keys (`at_nvs::NvsKeys`, from an `nvs_keys` partition or an HMAC
    /// key), if known: NVS-encrypted partitions are then reported as keys ok / wrong.
    pub nvs_keys: Option<&'k NvsKeys>,
    /// When a table cannot be read, examine the partitions of ESP-AT's C3 default table
    /// instead (marked as assumed). Default: on.
    pub assume_esp_at_defaults: bool,
}

impl Default for DiagnoseOptions<'_> {
    fn default() -> Self {
        DiagnoseOptions { flash_key: None, nvs_keys: None, assume_esp_at_defaults: true }
    }
}

/// The whole-flash diagnosis.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Diagnosis {
    /// Bytes of flash examined.
    pub flash_size: u32,
    /// Whether a flash-encryption key was given.
    pub key_given: bool,
    /// Flash encryption, as the primary table tells.
    pub flash_encryption: FlashEncryption,
    /// The primary table.
    pub primary: TableReport,
    /// ESP-AT's secondary table (`None` if no primary table, read or assumed, lists
    /// `at_customize`).
    pub secondary: Option<TableReport>,
    /// Every partition of both tables.
    pub partitions: Vec<PartitionReport>,
    /// What ESP-AT's boot path gets for `mfg_nvs`: `Ok` (mountable) or the first problem on
    /// that path.
    pub mfg_nvs: Result<(), Problem>,
    /// Every failure found, in flash order of discovery.
    pub problems: Vec<Problem>,
}

impl Diagnosis {
    /// No problems at all.
    pub fn is_healthy(&self) -> bool {
        self.problems.is_empty()
    }

    /// The report of the partition labelled `label`.
    pub fn partition(&self, label: &str) -> Option<&PartitionReport> {
        self.partitions.iter().find(|p| p.entry.label.matches(label))
    }
}

/// Diagnose a whole flash (`flash` address 0 = flash address 0). Reads only.
pub fn diagnose<F: ReadNorFlash>(flash: &mut F, opts: DiagnoseOptions<'_>) -> Result<Diagnosis, F::Error> {
    let flash_size = u32::try_from(flash.capacity()).unwrap_or(u32::MAX);
    // 1. The tables, in the order ESP-AT reads them.
    let primary = tables::read_primary(flash, &opts)?;
    let secondary = tables::read_secondary(flash, &primary, &opts)?;
    let mut problems: Vec<_> = primary.problem.iter().chain(&secondary.problem).copied().collect();
    // 2. Every partition of both tables.
    let partitions = summary::judge_partitions(flash, &primary, &secondary, &opts, &mut problems)?;
    // 3. mfg_nvs as ESP-AT's boot path sees it.
    let mfg_nvs = summary::mfg_nvs_path(&primary, &secondary, &partitions, &mut problems);
    Ok(Diagnosis {
        flash_size,
        key_given: opts.flash_key.is_some(),
        flash_encryption: primary.flash_encryption,
        primary: primary.report,
        secondary: secondary.report,
        partitions,
        mfg_nvs,
        problems,
    })
}
