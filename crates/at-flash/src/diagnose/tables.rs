//! Table reading for the diagnosis: the primary table at 0x8000 (which also tells whether
//! flash encryption is on) and ESP-AT's secondary table at the start of `at_customize`, read
//! the way the chip returns it to ESP-AT. Each yields a [`TableReport`], the partition list to
//! examine (the table, or ESP-AT's C3 default as a labelled assumption) and, if it stops
//! ESP-AT, a [`Problem`].

use super::DiagnoseOptions;
use super::summary::{Problem, label, problem};
use crate::finding::{DETAIL_PLAIN_READ_DECRYPTED, REMEDY_PLAIN_READ_DECRYPTED};
use crate::layout::{self, AT_CUSTOMIZE, TableRead};
use crate::table::{PRIMARY_TABLE_OFFSET, PartitionEntry, PartitionTable, TABLE_LEN, TableError};
use crate::xts::FlashKey;
use alloc::vec::Vec;
use at_hal::kv::Unreadable;
use core::fmt;
use embedded_storage::nor_flash::ReadNorFlash;

/// Whether flash encryption is on, as far as the primary table tells.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(rename_all = "snake_case"))]
pub enum FlashEncryption {
    /// The primary table is stored plain: flash encryption is off.
    Off,
    /// The primary table is stored encrypted (decrypted with the key, or ciphertext-like).
    On,
    /// The primary table is erased or garbage: cannot tell.
    Unknown,
}

/// How a partition table turned out.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(rename_all = "snake_case"))]
pub enum TableStatus {
    /// Stored plain and valid.
    Plain {
        /// Number of partitions.
        entries: usize,
    },
    /// Stored encrypted, valid after decryption with the key (expected for the primary table
    /// with flash encryption on; the seed bug for the secondary table, see `problem`).
    Encrypted {
        /// Number of partitions.
        entries: usize,
    },
    /// Ciphertext-like and no key was given.
    EncryptedKeyUnknown,
    /// Ciphertext-like and the given key does not decrypt it.
    EncryptedKeyWrong,
    /// Erased.
    Blank,
    /// Not a table, and not ciphertext-like.
    Invalid {
        /// Why it does not parse.
        error: TableError,
    },
    /// The primary table has no `at_customize` partition.
    NotPresent,
}

/// One partition table's report.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TableReport {
    /// Where it is (0x8000, or the start of `at_customize`).
    pub offset: u32,
    /// What was found.
    pub status: TableStatus,
    /// Whether the table is read through the chip's decryption (the primary table with flash
    /// encryption on; `at_customize` only if flagged `encrypted`).
    pub read_decrypted: bool,
    /// Whether the partition list used below is ESP-AT's C3 default rather than this table
    /// (because it could not be read).
    pub assumed_default: bool,
}

/// The primary table, as the diagnosis uses it.
pub(super) struct Primary {
    /// Its report.
    pub report: TableReport,
    /// The partitions to examine: the table as read, ESP-AT's default (if it could not be
    /// read and defaults are assumed), or none.
    pub table: Option<PartitionTable>,
    /// Flash encryption, as the table's storage tells.
    pub flash_encryption: FlashEncryption,
    /// Why the table cannot be used, if it cannot.
    pub problem: Option<Problem>,
}

impl Primary {
    /// Whether the chip decrypts what it reads (flash encryption is on).
    pub fn fe_on(&self) -> bool {
        self.flash_encryption == FlashEncryption::On
    }

    /// Whether [`Primary::table`] is ESP-AT's default rather than the table read.
    pub fn assumed(&self) -> bool {
        self.report.assumed_default
    }

    /// The problem that stops ESP-AT from booting at all: an erased or invalid table. (The
    /// device reads the table through the chip: a key that does not fit is this tool's
    /// problem, not the device's.)
    pub fn boot_blocker(&self) -> Option<Problem> {
        self.problem.filter(|p| p.reason != Unreadable::FlashEncryptedReadAsPlain)
    }
}

/// Read the primary table at 0x8000 (decrypting it with the key if it is stored encrypted).
pub(super) fn read_primary<F: ReadNorFlash>(
    flash: &mut F,
    opts: &DiagnoseOptions<'_>,
) -> Result<Primary, F::Error> {
    let (status, table, fe) = match layout::read_table(flash, PRIMARY_TABLE_OFFSET, opts.flash_key)? {
        TableRead::Plain(t) => {
            (TableStatus::Plain { entries: t.entries().len() }, Some(t), FlashEncryption::Off)
        }
        TableRead::Encrypted(t) => {
            (TableStatus::Encrypted { entries: t.entries().len() }, Some(t), FlashEncryption::On)
        }
        TableRead::Blank => (TableStatus::Blank, None, FlashEncryption::Unknown),
        TableRead::Unreadable { looks_encrypted: true, decrypted_error: None, .. } => {
            (TableStatus::EncryptedKeyUnknown, None, FlashEncryption::On)
        }
        TableRead::Unreadable { looks_encrypted: true, decrypted_error: Some(_), .. } => {
            (TableStatus::EncryptedKeyWrong, None, FlashEncryption::On)
        }
        TableRead::Unreadable { error, .. } => {
            (TableStatus::Invalid { error }, None, FlashEncryption::Unknown)
        }
    };
    let pt_label = label("partition_table");
    let problem = match status {
        TableStatus::Blank => Some(Problem {
            detail: "erased: nothing to boot from",
            remedy: "flash the partition table (idf.py partition-table-flash)",
            ..problem(pt_label, PRIMARY_TABLE_OFFSET, Unreadable::PartitionNotFound, "", false)
        }),
        TableStatus::Invalid { .. } => Some(Problem {
            detail: "not a partition table",
            remedy: "flash the partition table (idf.py partition-table-flash)",
            ..problem(pt_label, PRIMARY_TABLE_OFFSET, Unreadable::Garbage, "", false)
        }),
        TableStatus::EncryptedKeyWrong => Some(Problem {
            detail: "stored encrypted; the given key does not decrypt it",
            remedy: "give the flash-encryption key this device was flashed with",
            ..problem(pt_label, PRIMARY_TABLE_OFFSET, Unreadable::FlashEncryptedReadAsPlain, "", false)
        }),
        _ => None,
    };
    let assumed = table.is_none() && opts.assume_esp_at_defaults;
    let table = match table {
        Some(t) => Some(t),
        None if opts.assume_esp_at_defaults => Some(layout::esp_at_c3_default_primary()),
        None => None,
    };
    let report = TableReport {
        offset: PRIMARY_TABLE_OFFSET,
        status,
        read_decrypted: fe == FlashEncryption::On,
        assumed_default: assumed,
    };
    Ok(Primary { report, table, flash_encryption: fe, problem })
}

/// ESP-AT's secondary table, as the diagnosis uses it.
#[derive(Default)]
pub(super) struct Secondary {
    /// Its report (`None` if there is no primary table, read or assumed).
    pub report: Option<TableReport>,
    /// The partitions to examine, and whether they are ESP-AT's default (assumed) rather
    /// than the table read.
    pub table: Option<(PartitionTable, bool)>,
    /// Why ESP-AT cannot use it, if it cannot.
    pub problem: Option<Problem>,
}

/// Read ESP-AT's secondary table from the primary table's `at_customize`, as the chip returns
/// it to ESP-AT (plain unless `at_customize` is flagged `encrypted`).
pub(super) fn read_secondary<F: ReadNorFlash>(
    flash: &mut F,
    primary: &Primary,
    opts: &DiagnoseOptions<'_>,
) -> Result<Secondary, F::Error> {
    let Some(primary_table) = &primary.table else { return Ok(Secondary::default()) };
    let Some(atc) = layout::find_at_customize(primary_table).copied() else {
        let report = TableReport {
            offset: 0,
            status: TableStatus::NotPresent,
            read_decrypted: false,
            assumed_default: false,
        };
        let p = no_at_customize(primary.assumed());
        return Ok(Secondary { report: Some(report), table: None, problem: Some(p) });
    };
    let decrypts = atc.read_decrypted(primary.fe_on());
    let read = read_secondary_bytes(flash, &atc, decrypts, opts.flash_key)?;
    let (status, table, problem) = secondary_outcome(read, decrypts, &atc, primary.assumed());
    let assumed_default = table.is_none() && opts.assume_esp_at_defaults;
    let table = match table {
        Some(t) => Some((t, false)),
        None if opts.assume_esp_at_defaults => Some((layout::esp_at_c3_default_secondary(), true)),
        None => None,
    };
    let report = TableReport { offset: atc.offset, status, read_decrypted: decrypts, assumed_default };
    Ok(Secondary { report: Some(report), table, problem })
}

/// The problem of a primary table without `at_customize` (`assumed`: the table is ESP-AT's
/// default, the real one could not be read).
pub(crate) fn no_at_customize(assumed: bool) -> Problem {
    problem(
        label(AT_CUSTOMIZE),
        0,
        Unreadable::PartitionNotFound,
        "no at_customize (type 0x40) partition in the primary table",
        assumed,
    )
}

/// ESP-AT cannot read its secondary table in `atc`: what was seen, in a few words.
pub(crate) fn secondary_unreadable(atc: &PartitionEntry, detail: &'static str, assumed: bool) -> Problem {
    problem(atc.label, atc.offset, Unreadable::SecondaryTableUnreadable, detail, assumed)
}

/// The secondary table's bytes at the start of `at_customize`, judged: decrypted by the chip
/// if `decrypts` (so only readable here with the key), else as stored.
pub(crate) fn read_secondary_bytes<F: ReadNorFlash>(
    flash: &mut F,
    atc: &PartitionEntry,
    decrypts: bool,
    key: Option<&FlashKey>,
) -> Result<TableRead, F::Error> {
    let capacity = flash.capacity();
    if atc.offset as u64 + TABLE_LEN as u64 > capacity as u64 {
        return Ok(TableRead::Unreadable {
            error: TableError::TooShort { len: capacity.saturating_sub(atc.offset as usize) },
            looks_encrypted: false,
            decrypted_error: None,
        });
    }
    if !decrypts {
        return layout::read_table(flash, atc.offset, key);
    }
    let Some(k) = key else {
        return Ok(TableRead::Unreadable {
            error: TableError::NoEndMarker,
            looks_encrypted: true,
            decrypted_error: None,
        });
    };
    let flash_size = u32::try_from(capacity).unwrap_or(u32::MAX);
    let bytes = layout::read_table_bytes(flash, atc.offset, Some(k))?;
    Ok(match PartitionTable::parse(&bytes, Some(flash_size)) {
        Ok(t) => TableRead::Encrypted(t),
        Err(error) => TableRead::Unreadable { error, looks_encrypted: false, decrypted_error: None },
    })
}

/// The secondary table's status, the table to use (if any) and ESP-AT's problem with it (if
/// any), from how its bytes read (`decrypts`: whether the chip decrypts `at_customize`).
pub(crate) fn secondary_outcome(
    read: TableRead,
    decrypts: bool,
    atc: &PartitionEntry,
    assumed: bool,
) -> (TableStatus, Option<PartitionTable>, Option<Problem>) {
    let unreadable = |detail| Some(secondary_unreadable(atc, detail, assumed));
    match read {
        TableRead::Plain(t) if decrypts => (
            TableStatus::Plain { entries: t.entries().len() },
            None,
            Some(Problem {
                remedy: REMEDY_PLAIN_READ_DECRYPTED,
                ..secondary_unreadable(atc, DETAIL_PLAIN_READ_DECRYPTED, assumed)
            }),
        ),
        TableRead::Plain(t) => (TableStatus::Plain { entries: t.entries().len() }, Some(t), None),
        TableRead::Encrypted(t) if decrypts => {
            (TableStatus::Encrypted { entries: t.entries().len() }, Some(t), None)
        }
        // Readable with the key, but ESP-AT reads it plain: the seed bug, confirmed. The
        // decrypted table is the best guide to where mfg_nvs really is.
        TableRead::Encrypted(t) => (
            TableStatus::Encrypted { entries: t.entries().len() },
            Some(t),
            unreadable(
                "flash-encrypted (confirmed with the key), but ESP-AT reads it plain: mfg_nvs is never found (at param mode: 0)",
            ),
        ),
        TableRead::Blank => (TableStatus::Blank, Some(PartitionTable::from_trusted(Vec::new())), None),
        TableRead::Unreadable { looks_encrypted: true, decrypted_error: None, .. } if decrypts => {
            (TableStatus::EncryptedKeyUnknown, None, None)
        }
        TableRead::Unreadable { looks_encrypted: true, decrypted_error: None, .. } => (
            TableStatus::EncryptedKeyUnknown,
            None,
            unreadable(
                "looks flash-encrypted, but ESP-AT reads it plain: mfg_nvs is never found (at param mode: 0)",
            ),
        ),
        TableRead::Unreadable { looks_encrypted: true, decrypted_error: Some(_), .. } => (
            TableStatus::EncryptedKeyWrong,
            None,
            unreadable("looks flash-encrypted (not with the given key), and ESP-AT reads it plain"),
        ),
        TableRead::Unreadable { error, .. } => {
            (TableStatus::Invalid { error }, None, unreadable("not a partition table"))
        }
    }
}

impl fmt::Display for TableStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableStatus::Plain { entries } => write!(f, "plain, {entries} partitions"),
            TableStatus::Encrypted { entries } => {
                write!(f, "stored encrypted, decrypted with the key: {entries} partitions")
            }
            TableStatus::EncryptedKeyUnknown => f.write_str("stored encrypted (ciphertext), no key given"),
            TableStatus::EncryptedKeyWrong => {
                f.write_str("stored encrypted, the given key does not decrypt it")
            }
            TableStatus::Blank => f.write_str("erased"),
            TableStatus::Invalid { error } => write!(f, "invalid: {error}"),
            TableStatus::NotPresent => f.write_str("no at_customize partition"),
        }
    }
}
