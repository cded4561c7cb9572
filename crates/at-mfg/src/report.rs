//! The report `inspect` builds, before any rendering: what a partition image or a whole-flash
//! dump holds, in the shared vocabulary (at-flash's [`Finding`] with at-nvs's `Verdict`
//! inside, at-hal's [`Unreadable`]), plus the classification strings of the README.
//! [`crate::render::human`] and [`crate::render::json`] print it.

use at_flash::diagnose::{Diagnosis, PartitionReport, Problem};
use at_flash::table::{PartitionTable, subtypes, types};
use at_flash::{Finding, PartitionEntry};
use at_hal::kv::Unreadable;
use at_nvs::Classification;

use crate::entries::Entry;

/// What a partition (image) holds, as one of the documented classification strings.
///
/// A partition's state is the shared vocabulary's: at-flash's [`Finding`] (at-nvs's `Verdict`
/// inside, for NVS content), named by [`Finding::name`]. The other variants are judgements
/// only `inspect` makes (about the image as a whole or ESP-AT's secondary table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// A partition's state: a partition of a dump as the chip reads it, or a partition image
    /// read plain (as ESP-AT reads `mfg_nvs`), confirmed with the flash-encryption key if
    /// given.
    Finding(Finding),
    /// (image) Ciphertext-like, and decrypting with the given key (at the given offset) gives
    /// nothing sensible: wrong key or wrong offset.
    FlashEncryptedKeyMismatch,
    /// (dump, `at_customize`) ESP-AT's secondary table reads fine.
    SecondaryTable,
    /// (dump, `at_customize`) ESP-AT's secondary table is erased.
    SecondaryTableBlank,
    /// (dump, `at_customize`) ESP-AT's secondary table cannot be read as ESP-AT reads it.
    SecondaryTableUnreadable,
    /// (image) A partition table stored plain.
    PartitionTable,
}

impl Class {
    /// The classification string (JSON `classification`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Class::Finding(f) => f.name(),
            Class::FlashEncryptedKeyMismatch => "flash-encrypted (key or offset wrong)",
            Class::SecondaryTable => "secondary-table",
            Class::SecondaryTableBlank => "secondary-table-blank",
            Class::SecondaryTableUnreadable => "secondary-table-unreadable",
            Class::PartitionTable => "partition-table",
        }
    }

    /// Why the device cannot read what this class describes (`None` for the judgements that
    /// carry their own problem: the secondary table's is the diagnosis's).
    pub fn unreadable(self) -> Option<Unreadable> {
        match self {
            Class::Finding(f) => f.unreadable(),
            Class::FlashEncryptedKeyMismatch => Some(Unreadable::FlashEncryptedReadAsPlain),
            Class::SecondaryTableUnreadable => Some(Unreadable::SecondaryTableUnreadable),
            Class::SecondaryTable | Class::SecondaryTableBlank | Class::PartitionTable => None,
        }
    }
}

impl From<Finding> for Class {
    fn from(f: Finding) -> Class {
        Class::Finding(f)
    }
}

/// What `inspect` found: everything either renderer prints.
#[derive(Debug)]
pub struct Report {
    /// IMAGE, as named on the command line.
    pub image: String,
    /// Why IMAGE was read as a dump or as a partition image.
    pub detected_by: String,
    /// IMAGE's size in bytes.
    pub size: usize,
    /// What it holds.
    pub body: Body,
}

/// The kinds of IMAGE.
#[derive(Debug)]
pub enum Body {
    /// A partition image judged as NVS (`mfg_nvs.bin`, or anything that is not a table).
    Image(ImageReport),
    /// A partition-table image (`at_customize.bin`, `partitions_at.bin`).
    Table(TableImage),
    /// An image smaller than an NVS page whose bytes look like ciphertext: classified by the
    /// key-less rule ([`SMALL_CIPHERTEXT`], [`SMALL_CIPHERTEXT_DETAIL`]).
    SmallCiphertext,
    /// A whole-flash dump.
    Dump(DumpReport),
}

impl Report {
    /// Whether the device cannot read (part of) what it needs: exit status 1.
    pub fn problem(&self) -> bool {
        match &self.body {
            Body::Image(r) => r.problem().is_some() || !r.readable(),
            Body::Table(t) => t.problem.is_some(),
            Body::SmallCiphertext => true,
            Body::Dump(d) => !d.diagnosis.problems.is_empty(),
        }
    }

    /// Remarks beside the report (in JSON mode also sent to stderr).
    pub fn notes(&self) -> &[String] {
        match &self.body {
            Body::Image(r) => &r.notes,
            _ => &[],
        }
    }
}

/// The classification of [`Body::SmallCiphertext`]: ciphertext-like bytes read plain, judged
/// without the key.
pub const SMALL_CIPHERTEXT: Class =
    Class::Finding(Finding::WrittenEncryptedReadPlain { confirmed_with_key: false });

/// What [`Body::SmallCiphertext`] means, in words.
pub const SMALL_CIPHERTEXT_DETAIL: &str = "smaller than an NVS page, not a partition table, and the bytes have the statistics of \
     ciphertext: most likely a flash-encrypted partition table (ESP-AT's at_customize.bin written \
     by idf.py encrypted-flash, which ESP-AT then reads as plain; for the primary table at 0x8000 \
     that is expected). To confirm, give --flash-encryption-key KEY_FILE --offset ADDR";

/// A partition image judged as NVS: as stored and, with the flash-encryption key, decrypted.
#[derive(Debug)]
pub struct ImageReport {
    /// The headline classification.
    pub class: Class,
    /// at-nvs's numbers as stored.
    pub raw: Classification,
    /// With `--flash-encryption-key`, for an image that is not NVS as stored: what decrypting
    /// it gave.
    pub decrypted: Option<Decrypted>,
    /// The entries, if they could be listed.
    pub entries: Option<Vec<Entry>>,
    /// What was seen, in words.
    pub detail: String,
    /// Extra remarks.
    pub notes: Vec<String>,
}

impl ImageReport {
    /// Why the device (reading the partition plain, with the given NVS keys) cannot read it:
    /// the classification's own diagnosis. For a flash-encrypted image whose content has a
    /// problem of its own (NVS keys), the one the device hits first.
    pub fn problem(&self) -> Option<Unreadable> {
        self.class.unreadable()
    }

    /// Whether the entries could be listed (possibly only after decryption with the keys).
    pub fn readable(&self) -> bool {
        self.entries.is_some()
    }
}

/// A partition image decrypted with the flash-encryption key.
#[derive(Debug)]
pub struct Decrypted {
    /// The flash address it was decrypted for (`--offset`).
    pub offset: u32,
    /// The classification of the decrypted bytes.
    pub class: Class,
    /// at-nvs's numbers for the decrypted bytes.
    pub nvs: Classification,
}

/// A partition table found at the start of a partition image.
#[derive(Debug)]
pub struct TableImage {
    /// `Some(offset)`: the table is stored flash-encrypted and was decrypted with the key at
    /// offset.
    pub encrypted_at: Option<u32>,
    /// The table.
    pub table: PartitionTable,
    /// [`Class::PartitionTable`] (plain) or flash-encrypted.
    pub class: Class,
    /// ESP-AT's problem with it: a flash-encrypted table anywhere but 0x8000 (ESP-AT reads its
    /// secondary table plain).
    pub problem: Option<Unreadable>,
    /// What was seen, in words.
    pub detail: String,
}

/// A whole-flash dump: at-flash's diagnosis, and what `inspect` adds per partition.
#[derive(Debug)]
pub struct DumpReport {
    /// at-flash's diagnosis.
    pub diagnosis: Diagnosis,
    /// Every partition of the diagnosis, in its order, with what `inspect` adds.
    pub partitions: Vec<DumpPartition>,
    /// The one-line verdict on `mfg_nvs`.
    pub summary: String,
}

/// One partition of a dump, with what `inspect` adds to the diagnosis.
#[derive(Debug)]
pub struct DumpPartition {
    /// at-flash's report.
    pub report: PartitionReport,
    /// Its classification.
    pub class: Class,
    /// Its problem, if any.
    pub problem: Option<Problem>,
    /// Entries and where they come from.
    pub entries: Option<(Vec<Entry>, EntriesSource)>,
    /// NVS content that could not be listed, and why.
    pub entries_note: Option<String>,
    /// The finding in words (for `at_customize`: its secondary table's status).
    pub finding: String,
}

/// A `data/nvs` partition.
pub fn is_nvs(e: &PartitionEntry) -> bool {
    e.ty == types::DATA && e.subtype == subtypes::DATA_NVS
}

/// Where a dump partition's listing comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntriesSource {
    /// What the device reads.
    Device,
    /// Decrypted with the flash-encryption key, while the device reads ciphertext.
    DecryptedWithKey,
}

impl EntriesSource {
    /// The JSON `entries_source` string.
    pub const fn as_str(self) -> &'static str {
        match self {
            EntriesSource::Device => "as-read-by-device",
            EntriesSource::DecryptedWithKey => "decrypted-with-key",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_strings_are_distinct_and_documented() {
        use at_nvs::Verdict;
        let verdicts = [
            Verdict::PlainNvs,
            Verdict::NvsEncrypted { keys_ok: Some(true) },
            Verdict::NvsEncrypted { keys_ok: None },
            Verdict::NvsEncrypted { keys_ok: Some(false) },
            Verdict::NvsNewerVersion,
        ];
        let findings = [
            Finding::Blank,
            Finding::WrittenEncryptedReadPlain { confirmed_with_key: false },
            Finding::Garbage,
            Finding::NotInspected,
            Finding::Data,
            Finding::EncryptedAsExpected { verified: false },
            Finding::WrittenPlainReadDecrypted,
            Finding::OutsideFlash,
        ];
        let all = verdicts
            .map(|verdict| Class::Finding(Finding::Nvs { verdict, entries: 0 }))
            .into_iter()
            .chain(findings.map(Class::Finding))
            .chain([
                Class::FlashEncryptedKeyMismatch,
                Class::SecondaryTable,
                Class::SecondaryTableBlank,
                Class::SecondaryTableUnreadable,
                Class::PartitionTable,
            ]);
        let readme = include_str!("../README.md");
        let mut seen = std::collections::BTreeSet::new();
        for c in all {
            assert!(seen.insert(c.as_str()), "duplicate {}", c.as_str());
            assert!(readme.contains(&format!("`{}`", c.as_str())), "README lacks `{}`", c.as_str());
        }
        assert_eq!(seen.len(), 18);
    }
}
