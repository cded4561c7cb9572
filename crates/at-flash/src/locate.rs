//! Boot-time lookup of `mfg_nvs`, the way ESP-AT does it — but with a precise answer when it
//! cannot be read instead of `at param mode: 0` and `cert_len=0`.
//!
//! [`locate_mfg_nvs`] reads the primary table (decrypting it with the key when it is stored
//! encrypted), finds `at_customize`, reads ESP-AT's secondary table from its first 3 KiB as the
//! chip would (raw unless `at_customize` is flagged `encrypted`), looks up
//! `(DATA, NVS, "mfg_nvs")`, and checks the partition's pages without writing anything. The
//! answer is a [`MountView`] ready for an NVS mount, or a [`LocateError`] naming the
//! partition, its offset, the [`Unreadable`] cause and the remedy.

use crate::diagnose::{Problem, TableStatus, judge_partition, tables};
use crate::finding::{DETAIL_PLAIN_READ_DECRYPTED, Finding, REMEDY_PLAIN_READ_DECRYPTED};
use crate::layout::{self, MFG_NVS, TableRead};
use crate::table::{Label, PRIMARY_TABLE_OFFSET, PartitionEntry, PartitionTable, TABLE_LEN, TableError};
use crate::view::{DecryptedView, MountView, PartitionView, ViewError};
use crate::xts::FlashKey;
use at_hal::kv::Unreadable;
use at_nvs::Verdict;
use core::fmt;
use embedded_storage::nor_flash::NorFlash;

/// `mfg_nvs`, found and checked.
#[derive(Debug)]
pub struct MfgNvs<'k, F> {
    /// The entry as ESP-AT's secondary table gives it.
    pub entry: PartitionEntry,
    /// The `at_customize` entry of the primary table the secondary table was read from.
    pub at_customize: PartitionEntry,
    /// Whether the primary table was stored encrypted, i.e. flash encryption is on.
    pub flash_encryption: bool,
    /// What the pages hold: [`Finding::Blank`] or [`Finding::Nvs`] — plain, or NVS-encrypted
    /// (judged without NVS keys, so its verdict says keys missing: the mount then needs them).
    pub content: Finding,
    /// The window to mount (read-only if decrypted, see [`MountView`]).
    pub view: MountView<'k, F>,
}

/// Why `mfg_nvs` cannot be used.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LocateError<E> {
    /// The flash driver failed.
    Flash(E),
    /// The primary table at 0x8000 does not parse (`looks_encrypted`: it is ciphertext and no
    /// working key was given — expected with flash encryption on; pass the key, or use
    /// [`locate_mfg_nvs_with_primary`] with the table the bootloader read).
    PrimaryTableUnreadable {
        /// The parse error of the bytes as stored.
        error: TableError,
        /// Whether the bytes look like flash-encryption ciphertext.
        looks_encrypted: bool,
    },
    /// A partition on the path cannot be read; see [`Unreadable`] and [`LocateError::remedy`].
    Unreadable {
        /// `at_customize` (for the secondary table) or `mfg_nvs`.
        partition: Label,
        /// Its flash offset.
        offset: u32,
        /// The cause.
        reason: Unreadable,
        /// What was seen, in a few words (e.g. "ciphertext, confirmed with the key").
        detail: &'static str,
    },
    /// The partition is flagged `encrypted`, flash encryption is on, and no key was given: the
    /// chip would decrypt it, this reader cannot.
    KeyRequired {
        /// The partition.
        partition: Label,
        /// Its flash offset.
        offset: u32,
    },
}

impl<E> LocateError<E> {
    /// The `at_hal` cause, for `KvError::Unreadable`. A primary table or a key that is
    /// missing has no variant of its own yet: they map to `FlashEncryptedReadAsPlain` (the
    /// bytes are ciphertext and are being read as plain) or `Garbage`.
    pub fn unreadable(&self) -> Option<Unreadable> {
        match *self {
            LocateError::Flash(_) => None,
            LocateError::PrimaryTableUnreadable { looks_encrypted: true, .. }
            | LocateError::KeyRequired { .. } => Some(Unreadable::FlashEncryptedReadAsPlain),
            LocateError::PrimaryTableUnreadable { looks_encrypted: false, .. } => Some(Unreadable::Garbage),
            LocateError::Unreadable { reason, .. } => Some(reason),
        }
    }

    /// What to do about it, in one sentence.
    pub fn remedy(&self) -> &'static str {
        match *self {
            LocateError::Flash(_) => "check the flash driver and wiring",
            LocateError::PrimaryTableUnreadable { looks_encrypted: true, .. }
            | LocateError::KeyRequired { .. } => {
                "read through the chip's flash decryption, or give the flash-encryption key file"
            }
            LocateError::PrimaryTableUnreadable { looks_encrypted: false, .. } => {
                "re-flash the partition table (idf.py partition-table-flash)"
            }
            LocateError::Unreadable { detail, .. } if detail == DETAIL_PLAIN_READ_DECRYPTED => {
                REMEDY_PLAIN_READ_DECRYPTED
            }
            LocateError::Unreadable { reason, .. } => reason.remedy(),
        }
    }
}

impl<E> From<Problem> for LocateError<E> {
    /// A problem on the boot path, as the diagnosis reports it.
    fn from(p: Problem) -> Self {
        LocateError::Unreadable {
            partition: p.partition,
            offset: p.offset,
            reason: p.reason,
            detail: p.detail,
        }
    }
}

impl<E: fmt::Debug> fmt::Display for LocateError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocateError::Flash(e) => write!(f, "flash error: {e:?}"),
            LocateError::PrimaryTableUnreadable { error, looks_encrypted } => write!(
                f,
                "partition table at 0x{PRIMARY_TABLE_OFFSET:x} unreadable ({error}){}: {}",
                if *looks_encrypted { ", stored flash-encrypted" } else { "" },
                self.remedy()
            ),
            LocateError::Unreadable { partition, offset, reason, detail } => {
                write!(f, "{partition} at 0x{offset:x}: {reason} ({detail}): {}", self.remedy())
            }
            LocateError::KeyRequired { partition, offset } => write!(
                f,
                "{partition} at 0x{offset:x} is flagged encrypted and flash encryption is on: {}",
                self.remedy()
            ),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for LocateError<E> {}

/// A label from one of ESP-AT's names (they all fit).
fn label(s: &str) -> Label {
    Label::new(s).unwrap_or_default()
}

/// Find `mfg_nvs` on a whole-flash `flash` (address 0 = flash address 0).
///
/// `key` is the flash-encryption key file, if known. Without it, a primary table stored
/// encrypted cannot be read: use [`locate_mfg_nvs_with_primary`] with the table the bootloader
/// (which reads through the chip) already parsed. Nothing is written or erased.
pub fn locate_mfg_nvs<'k, F: NorFlash>(
    mut flash: F,
    key: Option<&'k FlashKey>,
) -> Result<MfgNvs<'k, F>, LocateError<F::Error>> {
    let (primary, fe) =
        match layout::read_table(&mut flash, PRIMARY_TABLE_OFFSET, key).map_err(LocateError::Flash)? {
            TableRead::Plain(t) => (t, false),
            TableRead::Encrypted(t) => (t, true),
            TableRead::Blank => {
                return Err(LocateError::PrimaryTableUnreadable {
                    error: TableError::BadMagic { entry: 0, magic: [0xFF, 0xFF] },
                    looks_encrypted: false,
                });
            }
            TableRead::Unreadable { error, looks_encrypted, .. } => {
                return Err(LocateError::PrimaryTableUnreadable { error, looks_encrypted });
            }
        };
    locate_mfg_nvs_with_primary(flash, &primary, fe, key)
}

/// Find `mfg_nvs` given the primary table (as the bootloader read it) and whether flash
/// encryption is on. Nothing is written or erased.
pub fn locate_mfg_nvs_with_primary<'k, F: NorFlash>(
    mut flash: F,
    primary: &PartitionTable,
    flash_encryption: bool,
    key: Option<&'k FlashKey>,
) -> Result<MfgNvs<'k, F>, LocateError<F::Error>> {
    let at_customize = *layout::find_at_customize(primary).ok_or(tables::no_at_customize(false))?;
    let not_found = |detail| LocateError::Unreadable {
        partition: label(MFG_NVS),
        offset: at_customize.offset,
        reason: Unreadable::PartitionNotFound,
        detail,
    };
    if at_customize.size < TABLE_LEN as u32 {
        return Err(not_found("at_customize is too small to hold a table"));
    }
    // The secondary table, read the way the chip returns it to ESP-AT and judged as the
    // diagnosis judges it.
    let decrypts = at_customize.read_decrypted(flash_encryption);
    if decrypts && key.is_none() {
        return Err(LocateError::KeyRequired { partition: at_customize.label, offset: at_customize.offset });
    }
    let read =
        tables::read_secondary_bytes(&mut flash, &at_customize, decrypts, key).map_err(LocateError::Flash)?;
    let secondary = match tables::secondary_outcome(read, decrypts, &at_customize, false) {
        (_, _, Some(p)) => return Err(p.into()),
        (TableStatus::Blank, ..) => {
            return Err(not_found("the secondary table is erased (at_customize.bin never flashed)"));
        }
        (_, Some(t), None) => t,
        // The key was given (checked above): a table the chip decrypts is read or reported.
        (_, None, None) => {
            return Err(tables::secondary_unreadable(&at_customize, "not readable", false).into());
        }
    };
    let entry = *layout::find_mfg_nvs(&secondary)
        .ok_or_else(|| not_found("no (data, nvs, \"mfg_nvs\") in the secondary table"))?;

    let decrypts = entry.read_decrypted(flash_encryption);
    if decrypts && key.is_none() {
        return Err(LocateError::KeyRequired { partition: entry.label, offset: entry.offset });
    }
    // Judged without NVS keys (this lookup has none): an NVS-encrypted mfg_nvs goes to the
    // mount, which has them and decides. Anything else that is not readable stops here, with
    // the diagnosis and detail the dump diagnosis gives.
    let content =
        judge_partition(&mut flash, &entry, flash_encryption, key, None).map_err(LocateError::Flash)?;
    match content {
        Finding::Nvs { verdict: Verdict::NvsEncrypted { .. }, .. } => {}
        Finding::Blank | Finding::Nvs { .. } if content.unreadable().is_none() => {}
        _ => {
            return Err(LocateError::Unreadable {
                partition: entry.label,
                offset: entry.offset,
                reason: content.unreadable().unwrap_or(Unreadable::Garbage),
                detail: match content.detail() {
                    "" => "not NVS",
                    d => d,
                },
            });
        }
    }
    let view = match (decrypts, key) {
        (true, Some(k)) => {
            MountView::Decrypted(DecryptedView::new(flash, entry.offset, entry.size, k).map_err(view_err)?)
        }
        _ => MountView::Plain(PartitionView::new(flash, entry.offset, entry.size).map_err(view_err)?),
    };
    Ok(MfgNvs { entry, at_customize, flash_encryption, content, view })
}

/// A view error of the located `mfg_nvs`.
fn view_err<E>(e: ViewError<E>) -> LocateError<E> {
    match e {
        ViewError::Flash(e) => LocateError::Flash(e),
        // The table check already bounded the entry by the flash size; keep a precise answer.
        _ => LocateError::Unreadable {
            partition: label(MFG_NVS),
            offset: 0,
            reason: Unreadable::PartitionNotFound,
            detail: "partition outside the flash",
        },
    }
}
