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

use crate::classify::{self, Bytes};
use crate::layout::{self, AT_CUSTOMIZE, MFG_NVS, TableRead};
use crate::locate::{DETAIL_PLAIN_READ_DECRYPTED, REMEDY_PLAIN_READ_DECRYPTED};
use crate::table::{
    Label, PRIMARY_TABLE_OFFSET, PartitionEntry, PartitionTable, TableError, subtypes, types,
};
use crate::view::{DecryptedView, PartitionView};
use crate::xts::FlashKey;
use alloc::vec::Vec;
use at_hal::kv::Unreadable;
use at_nvs::{Classification, NvsKeys, Verdict};
use core::fmt;
use embedded_storage::nor_flash::ReadNorFlash;
use embedded_storage::nor_flash::{ErrorType, NorFlashError, NorFlashErrorKind};

/// What a partition holds, judged as the chip would return it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(rename_all = "snake_case"))]
pub enum Finding {
    /// Not examined (app images and the `at_customize` container, whose table is reported
    /// separately).
    NotInspected,
    /// Erased (all `FF`).
    Blank,
    /// Readable NVS with this many CRC-valid entries.
    Nvs {
        /// CRC-valid written entries.
        entries: u32,
    },
    /// Valid NVS pages whose entries only make sense with the NVS keys.
    NvsEncrypted {
        /// Whether NVS keys were given and whether they decrypt it.
        keys: NvsKeysStatus,
    },
    /// NVS pages of a newer format version.
    NvsNewerVersion,
    /// A non-NVS data partition with content (not interpreted further).
    Data,
    /// The chip decrypts this partition and it holds ciphertext; `verified` when decrypting
    /// with the key gave sensible plaintext.
    EncryptedAsExpected {
        /// Whether the key confirmed it.
        verified: bool,
    },
    /// The seed bug: ciphertext in a partition the chip does **not** decrypt.
    WrittenEncryptedReadPlain {
        /// Whether decrypting with the key gave valid content (else: the key-less rule).
        confirmed_with_key: bool,
    },
    /// Plaintext in a partition the chip decrypts (the opposite mistake).
    WrittenPlainReadDecrypted,
    /// The partition does not fit the flash (only for assumed tables).
    OutsideFlash,
    /// Nothing recognisable.
    Garbage,
}

/// NVS encryption keys, for an NVS-encrypted partition.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(rename_all = "snake_case"))]
pub enum NvsKeysStatus {
    /// No `nvs_keys` given.
    Missing,
    /// The given keys decrypt no entry.
    Wrong,
    /// The given keys decrypt it.
    Ok {
        /// Entries that check out after decryption.
        entries: u32,
    },
}

impl Finding {
    /// The failure this is, if it is one.
    pub fn unreadable(self) -> Option<Unreadable> {
        match self {
            Finding::NvsEncrypted { keys: NvsKeysStatus::Missing } => Some(Unreadable::NvsKeysMissing),
            Finding::NvsEncrypted { keys: NvsKeysStatus::Wrong } => Some(Unreadable::NvsKeysWrong),
            Finding::NvsNewerVersion => Some(Unreadable::NvsNewerVersion),
            Finding::WrittenEncryptedReadPlain { .. } => Some(Unreadable::FlashEncryptedReadAsPlain),
            Finding::WrittenPlainReadDecrypted | Finding::Garbage => Some(Unreadable::Garbage),
            Finding::OutsideFlash => Some(Unreadable::PartitionNotFound),
            Finding::NotInspected
            | Finding::Blank
            | Finding::Nvs { .. }
            | Finding::NvsEncrypted { keys: NvsKeysStatus::Ok { .. } }
            | Finding::Data
            | Finding::EncryptedAsExpected { .. } => None,
        }
    }

    fn detail(self) -> &'static str {
        match self {
            Finding::NvsEncrypted { keys: NvsKeysStatus::Missing } => {
                "valid NVS page headers, no entry passes its CRC: NVS-encrypted, no nvs_keys given"
            }
            Finding::NvsEncrypted { keys: NvsKeysStatus::Wrong } => {
                "NVS-encrypted, and no entry passes its CRC after decryption with the given nvs_keys"
            }
            Finding::NvsNewerVersion => "NVS pages of a newer format",
            Finding::WrittenEncryptedReadPlain { confirmed_with_key: true } => {
                "flash-encrypted (confirmed with the key), but the chip reads it plain"
            }
            Finding::WrittenEncryptedReadPlain { confirmed_with_key: false } => {
                "no valid structure and the data looks like ciphertext, but the chip reads it plain"
            }
            Finding::WrittenPlainReadDecrypted => DETAIL_PLAIN_READ_DECRYPTED,
            Finding::OutsideFlash => "partition extends past the end of the flash",
            Finding::Garbage => "neither blank, NVS, nor ciphertext",
            _ => "",
        }
    }

    fn remedy(self) -> &'static str {
        match self {
            Finding::WrittenPlainReadDecrypted => REMEDY_PLAIN_READ_DECRYPTED,
            f => f.unreadable().map_or("", Unreadable::remedy),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Finding::NotInspected => f.write_str("not inspected"),
            Finding::Blank => f.write_str("blank (erased)"),
            Finding::Nvs { entries } => write!(f, "NVS, {entries} valid entries"),
            Finding::NvsEncrypted { keys: NvsKeysStatus::Missing } => {
                f.write_str("NVS-ENCRYPTED, no nvs_keys given")
            }
            Finding::NvsEncrypted { keys: NvsKeysStatus::Wrong } => {
                f.write_str("NVS-ENCRYPTED, the nvs_keys do not fit")
            }
            Finding::NvsEncrypted { keys: NvsKeysStatus::Ok { entries } } => {
                write!(f, "NVS-encrypted, {entries} valid entries with the nvs_keys")
            }
            Finding::NvsNewerVersion => f.write_str("NVS of a newer format version"),
            Finding::Data => f.write_str("data"),
            Finding::EncryptedAsExpected { verified: true } => {
                f.write_str("encrypted as expected (verified with the key)")
            }
            Finding::EncryptedAsExpected { verified: false } => {
                f.write_str("encrypted as expected (no key to verify)")
            }
            Finding::WrittenEncryptedReadPlain { confirmed_with_key: true } => {
                f.write_str("WRITTEN ENCRYPTED, READ PLAIN (confirmed with the key)")
            }
            Finding::WrittenEncryptedReadPlain { confirmed_with_key: false } => {
                f.write_str("WRITTEN ENCRYPTED, READ PLAIN (looks like ciphertext)")
            }
            Finding::WrittenPlainReadDecrypted => f.write_str("WRITTEN PLAIN, READ DECRYPTED"),
            Finding::OutsideFlash => f.write_str("OUTSIDE THE FLASH"),
            Finding::Garbage => f.write_str("GARBAGE"),
        }
    }
}

/// Judge one partition's contents, reading it as the chip would (`read_decrypted` by ESP-IDF's
/// rule, given whether flash encryption is on). Reads only.
pub fn judge_partition<F: ReadNorFlash>(
    flash: &mut F,
    entry: &PartitionEntry,
    flash_encryption: bool,
    key: Option<&FlashKey>,
    nvs_keys: Option<&NvsKeys>,
) -> Result<Finding, F::Error> {
    if entry.end() > flash.capacity() as u64 {
        return Ok(Finding::OutsideFlash);
    }
    let decrypts = entry.read_decrypted(flash_encryption);
    if entry.ty == types::AT_CUSTOMIZE && entry.subtype == subtypes::AT_CUSTOMIZE {
        return Ok(Finding::NotInspected);
    }
    if entry.ty == types::APP || entry.ty == types::BOOTLOADER {
        return judge_app(flash, entry, decrypts, key);
    }
    if entry.ty == types::DATA && entry.subtype == subtypes::DATA_NVS {
        return judge_nvs(flash, entry, decrypts, key, nvs_keys);
    }
    judge_data(flash, entry, decrypts, key)
}

/// Raw and (with a key) decrypted view of one partition.
fn raw_view<'a, F: ReadNorFlash>(flash: &'a mut F, e: &PartitionEntry) -> Option<PartitionView<&'a mut F>> {
    PartitionView::new(flash, e.offset, e.size).ok()
}

fn dec_view<'a, 'k, F: ReadNorFlash>(
    flash: &'a mut F,
    e: &PartitionEntry,
    key: &'k FlashKey,
) -> Option<DecryptedView<'k, &'a mut F>> {
    DecryptedView::new(flash, e.offset, e.size, key).ok()
}

fn flash_err<E>(e: crate::view::ViewError<E>) -> Result<E, Finding> {
    match e {
        crate::view::ViewError::Flash(e) => Ok(e),
        _ => Err(Finding::OutsideFlash),
    }
}

macro_rules! try_view {
    ($expr:expr) => {
        match $expr {
            Ok(v) => v,
            Err(e) => match flash_err(e) {
                Ok(e) => return Err(e),
                Err(finding) => return Ok(finding),
            },
        }
    };
}

/// A `ReadNorFlash` that keeps the first error of the flash behind it (and reports a stand-in),
/// so that a flash error inside `at_nvs::classify` — which reports only `KvError::Flash` — is
/// returned as itself.
struct Capture<G: ErrorType> {
    inner: G,
    error: Option<G::Error>,
}

/// The stand-in error [`Capture`] reports.
#[derive(Debug)]
struct Captured(NorFlashErrorKind);

impl NorFlashError for Captured {
    fn kind(&self) -> NorFlashErrorKind {
        self.0
    }
}

impl<G: ErrorType> ErrorType for Capture<G> {
    type Error = Captured;
}

impl<G: ReadNorFlash> ReadNorFlash for Capture<G> {
    const READ_SIZE: usize = G::READ_SIZE;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Captured> {
        self.inner.read(offset, bytes).map_err(|e| {
            let kind = e.kind();
            self.error.get_or_insert(e);
            Captured(kind)
        })
    }

    fn capacity(&self) -> usize {
        self.inner.capacity()
    }
}

/// `at_nvs::classify` over `view`; `Ok(None)` if it failed without a flash error.
fn nvs_classify<G: ReadNorFlash>(
    view: G,
    keys: Option<&NvsKeys>,
) -> Result<Option<Classification>, G::Error> {
    let mut c = Capture { inner: view, error: None };
    match at_nvs::classify(&mut c, keys) {
        Ok(x) => Ok(Some(x)),
        Err(_) => c.error.map_or(Ok(None), Err),
    }
}

fn nvs_ok(v: Verdict) -> bool {
    matches!(v, Verdict::PlainNvs | Verdict::NvsEncrypted { .. } | Verdict::NvsNewerVersion)
}

fn finding_of(c: &Classification) -> Finding {
    let n = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
    match c.verdict {
        Verdict::Blank => Finding::Blank,
        Verdict::PlainNvs => Finding::Nvs { entries: n(c.crc_ok_entries) },
        Verdict::NvsEncrypted { keys_ok: None } => Finding::NvsEncrypted { keys: NvsKeysStatus::Missing },
        Verdict::NvsEncrypted { keys_ok: Some(false) } => {
            Finding::NvsEncrypted { keys: NvsKeysStatus::Wrong }
        }
        Verdict::NvsEncrypted { keys_ok: Some(true) } => {
            Finding::NvsEncrypted { keys: NvsKeysStatus::Ok { entries: n(c.crc_ok_decrypted.unwrap_or(0)) } }
        }
        Verdict::NvsNewerVersion => Finding::NvsNewerVersion,
        Verdict::LooksFlashEncrypted | Verdict::Garbage => Finding::Garbage,
    }
}

/// NVS partitions: `at_nvs::classify` as stored and, with the flash key, as decrypted.
fn judge_nvs<F: ReadNorFlash>(
    flash: &mut F,
    e: &PartitionEntry,
    decrypts: bool,
    key: Option<&FlashKey>,
    nvs_keys: Option<&NvsKeys>,
) -> Result<Finding, F::Error> {
    let Some(v) = raw_view(flash, e) else { return Ok(Finding::OutsideFlash) };
    let Some(raw) = try_view!(nvs_classify(v, nvs_keys)) else { return Ok(Finding::Garbage) };
    let decrypted = match key {
        Some(k) if raw.verdict != Verdict::Blank => {
            let Some(d) = dec_view(flash, e, k) else { return Ok(Finding::OutsideFlash) };
            try_view!(nvs_classify(d, nvs_keys))
        }
        _ => None,
    };
    if decrypts {
        // The chip decrypts: plaintext NVS here is the opposite mistake.
        return Ok(match (raw.verdict, decrypted) {
            (Verdict::Blank, _) => Finding::Blank,
            (v, _) if nvs_ok(v) => Finding::WrittenPlainReadDecrypted,
            (_, Some(d)) if nvs_ok(d.verdict) => finding_of(&d),
            (_, Some(_)) => Finding::Garbage,
            (_, None) => Finding::EncryptedAsExpected { verified: false },
        });
    }
    Ok(match raw.verdict {
        Verdict::LooksFlashEncrypted | Verdict::Garbage => match decrypted {
            Some(d) if nvs_ok(d.verdict) => Finding::WrittenEncryptedReadPlain { confirmed_with_key: true },
            _ if raw.verdict == Verdict::LooksFlashEncrypted => {
                Finding::WrittenEncryptedReadPlain { confirmed_with_key: false }
            }
            _ => Finding::Garbage,
        },
        _ => finding_of(&raw),
    })
}

fn judge_data<F: ReadNorFlash>(
    flash: &mut F,
    e: &PartitionEntry,
    decrypts: bool,
    key: Option<&FlashKey>,
) -> Result<Finding, F::Error> {
    let raw = classify::bytes_at(flash, e.offset, e.size)?;
    if raw == Bytes::Blank {
        return Ok(Finding::Blank);
    }
    let decrypted = match key {
        Some(k) => {
            let Some(mut d) = dec_view(flash, e, k) else { return Ok(Finding::OutsideFlash) };
            Some(try_view!(classify::bytes_at(&mut d, 0, e.size)))
        }
        None => None,
    };
    // Plaintext decrypts to random bytes and ciphertext to structure (or to erased FF).
    let decrypts_to_sense = decrypted.is_some_and(|d| d != Bytes::RandomLike);
    Ok(match (decrypts, raw) {
        (true, Bytes::RandomLike) if decrypts_to_sense => Finding::EncryptedAsExpected { verified: true },
        (true, Bytes::RandomLike) if decrypted.is_some() => Finding::Garbage,
        (true, Bytes::RandomLike) => Finding::EncryptedAsExpected { verified: false },
        (true, _) => Finding::WrittenPlainReadDecrypted,
        (false, Bytes::RandomLike) if decrypts_to_sense => {
            Finding::WrittenEncryptedReadPlain { confirmed_with_key: true }
        }
        (false, _) => Finding::Data,
    })
}

/// ESP image magic (`ESP_IMAGE_HEADER_MAGIC`), the first byte of every app and bootloader image.
const IMAGE_MAGIC: u8 = 0xE9;

fn judge_app<F: ReadNorFlash>(
    flash: &mut F,
    e: &PartitionEntry,
    decrypts: bool,
    key: Option<&FlashKey>,
) -> Result<Finding, F::Error> {
    let n = e.size.min(classify::SECTOR as u32);
    if classify::is_blank(flash, e.offset, n)? {
        return Ok(Finding::Blank);
    }
    if !decrypts || e.size < 16 {
        return Ok(Finding::NotInspected);
    }
    let mut first = [0u8; 16];
    flash.read(e.offset, &mut first)?;
    if first[0] == IMAGE_MAGIC && classify::bytes_at(flash, e.offset, n)? != Bytes::RandomLike {
        return Ok(Finding::WrittenPlainReadDecrypted);
    }
    Ok(match key {
        Some(k) => {
            let ok = k.decrypt(e.offset, &mut first).is_ok() && first[0] == IMAGE_MAGIC;
            if ok { Finding::EncryptedAsExpected { verified: true } } else { Finding::Garbage }
        }
        None => Finding::EncryptedAsExpected { verified: false },
    })
}

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

/// Which table a partition comes from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(rename_all = "snake_case"))]
pub enum TableId {
    /// The primary table at 0x8000.
    Primary,
    /// ESP-AT's secondary table in `at_customize`.
    Secondary,
}

/// One partition's report.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PartitionReport {
    /// The table it is listed in.
    pub table: TableId,
    /// The entry.
    pub entry: PartitionEntry,
    /// Whether the entry comes from ESP-AT's default table (its own table was unreadable).
    pub assumed: bool,
    /// Whether the chip decrypts reads of it.
    pub read_decrypted: bool,
    /// What it holds.
    pub finding: Finding,
}

/// A failure: which partition, where, why, and what to do.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Problem {
    /// The partition (`partition_table` for the primary table, `at_customize` for the
    /// secondary table).
    pub partition: Label,
    /// Its flash offset.
    pub offset: u32,
    /// The cause, in the shared vocabulary.
    #[cfg_attr(feature = "serde", serde(serialize_with = "ser_unreadable"))]
    pub reason: Unreadable,
    /// What was seen.
    pub detail: &'static str,
    /// What to do.
    pub remedy: &'static str,
    /// Whether the location comes from ESP-AT's default table (the real table was unreadable).
    pub assumed_location: bool,
}

#[cfg(feature = "serde")]
fn ser_unreadable<S: serde::Serializer>(u: &Unreadable, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeStruct;
    let mut st = s.serialize_struct("Unreadable", 2)?;
    st.serialize_field("kind", &alloc::format!("{u:?}"))?;
    st.serialize_field("message", &alloc::format!("{u}"))?;
    st.end()
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at 0x{:x}: {}", self.partition, self.offset, self.reason)?;
        if !self.detail.is_empty() {
            write!(f, " — {}", self.detail)?;
        }
        if self.assumed_location {
            f.write_str(" [location assumed from ESP-AT's default table]")?;
        }
        write!(f, "\n     remedy: {}", self.remedy)
    }
}

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

fn problem(
    partition: Label,
    offset: u32,
    reason: Unreadable,
    detail: &'static str,
    assumed: bool,
) -> Problem {
    Problem { partition, offset, reason, detail, remedy: reason.remedy(), assumed_location: assumed }
}

fn label(s: &str) -> Label {
    Label::new(s).unwrap_or_default()
}

/// Diagnose a whole flash (`flash` address 0 = flash address 0). Reads only.
pub fn diagnose<F: ReadNorFlash>(flash: &mut F, opts: DiagnoseOptions<'_>) -> Result<Diagnosis, F::Error> {
    let key = opts.flash_key;
    let flash_size = u32::try_from(flash.capacity()).unwrap_or(u32::MAX);
    let mut problems = Vec::new();

    // 1. The primary table.
    let (primary_status, primary_table, fe) = match layout::read_table(flash, PRIMARY_TABLE_OFFSET, key)? {
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
    let primary_problem = match primary_status {
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
    problems.extend(primary_problem);
    // The device itself reads the table through the chip: only an erased or invalid table
    // stops ESP-AT (a key that does not fit is this tool's problem, not the device's).
    let boot_blocker = primary_problem.filter(|p| p.reason != Unreadable::FlashEncryptedReadAsPlain);
    let primary_assumed = primary_table.is_none() && opts.assume_esp_at_defaults;
    let primary_table = match primary_table {
        Some(t) => Some(t),
        None if opts.assume_esp_at_defaults => Some(layout::esp_at_c3_default_primary()),
        None => None,
    };
    let fe_on = fe == FlashEncryption::On;
    let primary = TableReport {
        offset: PRIMARY_TABLE_OFFSET,
        status: primary_status,
        read_decrypted: fe_on,
        assumed_default: primary_assumed,
    };

    // 2. The secondary table.
    let mut secondary = None;
    let mut secondary_table: Option<(PartitionTable, bool)> = None;
    let mut secondary_problem: Option<Problem> = None;
    let at_customize = primary_table.as_ref().and_then(|t| layout::find_at_customize(t).copied());
    match (&primary_table, at_customize) {
        (None, _) => {}
        (Some(_), None) => {
            secondary = Some(TableReport {
                offset: 0,
                status: TableStatus::NotPresent,
                read_decrypted: false,
                assumed_default: false,
            });
            let p = problem(
                label(AT_CUSTOMIZE),
                0,
                Unreadable::PartitionNotFound,
                "no at_customize (type 0x40) partition in the primary table",
                primary_assumed,
            );
            secondary_problem = Some(p);
            problems.push(p);
        }
        (Some(_), Some(atc)) => {
            let decrypts = atc.read_decrypted(fe_on);
            let fits = atc.offset as u64 + crate::table::TABLE_LEN as u64 <= flash.capacity() as u64;
            let read = if !fits {
                TableRead::Unreadable {
                    error: TableError::TooShort { len: flash.capacity().saturating_sub(atc.offset as usize) },
                    looks_encrypted: false,
                    decrypted_error: None,
                }
            } else if decrypts {
                match key {
                    Some(k) => {
                        let bytes = layout::read_table_bytes(flash, atc.offset, Some(k))?;
                        match PartitionTable::parse(&bytes, Some(flash_size)) {
                            Ok(t) => TableRead::Encrypted(t),
                            Err(error) => {
                                TableRead::Unreadable { error, looks_encrypted: false, decrypted_error: None }
                            }
                        }
                    }
                    None => TableRead::Unreadable {
                        error: TableError::NoEndMarker,
                        looks_encrypted: true,
                        decrypted_error: None,
                    },
                }
            } else {
                layout::read_table(flash, atc.offset, key)?
            };
            let (status, table, p) = secondary_outcome(read, decrypts, &atc, primary_assumed);
            if let Some(p) = p {
                problems.push(p);
                secondary_problem = Some(p);
            }
            let assumed_default = table.is_none() && opts.assume_esp_at_defaults;
            secondary_table = match table {
                Some(t) => Some((t, false)),
                None if opts.assume_esp_at_defaults => Some((layout::esp_at_c3_default_secondary(), true)),
                None => None,
            };
            secondary =
                Some(TableReport { offset: atc.offset, status, read_decrypted: decrypts, assumed_default });
        }
    }

    // 3. Every partition.
    let mut partitions = Vec::new();
    let lists = primary_table
        .iter()
        .map(|t| (TableId::Primary, t, primary_assumed))
        // A secondary table that parsed vouches for its own entries, even if at_customize's
        // location came from the default table.
        .chain(secondary_table.iter().map(|(t, a)| (TableId::Secondary, t, *a)));
    for (table, t, assumed) in lists {
        for e in t.entries() {
            let finding = judge_partition(flash, e, fe_on, key, opts.nvs_keys)?;
            if let Some(reason) = finding.unreadable() {
                problems.push(Problem {
                    partition: e.label,
                    offset: e.offset,
                    reason,
                    detail: finding.detail(),
                    remedy: finding.remedy(),
                    assumed_location: assumed,
                });
            }
            partitions.push(PartitionReport {
                table,
                entry: *e,
                assumed,
                read_decrypted: e.read_decrypted(fe_on),
                finding,
            });
        }
    }

    // 4. mfg_nvs as ESP-AT's boot path sees it.
    let mfg_nvs = if let Some(p) = boot_blocker.or(secondary_problem) {
        Err(p)
    } else {
        let found = partitions.iter().find(|p| {
            p.table == TableId::Secondary
                && p.entry.ty == types::DATA
                && p.entry.subtype == subtypes::DATA_NVS
                && p.entry.label.matches(MFG_NVS)
        });
        match found {
            None => {
                let offset = secondary.as_ref().map_or(0, |s| s.offset);
                let p = problem(
                    label(MFG_NVS),
                    offset,
                    Unreadable::PartitionNotFound,
                    "no (data, nvs, \"mfg_nvs\") in the secondary table",
                    false,
                );
                if secondary_table.is_some() {
                    problems.push(p);
                }
                Err(p)
            }
            Some(r) => {
                match problems.iter().find(|p| p.partition == r.entry.label && p.offset == r.entry.offset) {
                    Some(p) => Err(*p),
                    None => Ok(()),
                }
            }
        }
    };

    Ok(Diagnosis {
        flash_size,
        key_given: key.is_some(),
        flash_encryption: fe,
        primary,
        secondary,
        partitions,
        mfg_nvs,
        problems,
    })
}

fn secondary_outcome(
    read: TableRead,
    decrypts: bool,
    atc: &PartitionEntry,
    assumed: bool,
) -> (TableStatus, Option<PartitionTable>, Option<Problem>) {
    let unreadable =
        |detail| Some(problem(atc.label, atc.offset, Unreadable::SecondaryTableUnreadable, detail, assumed));
    match read {
        TableRead::Plain(t) if decrypts => (
            TableStatus::Plain { entries: t.entries().len() },
            None,
            Some(Problem {
                remedy: REMEDY_PLAIN_READ_DECRYPTED,
                ..problem(
                    atc.label,
                    atc.offset,
                    Unreadable::SecondaryTableUnreadable,
                    DETAIL_PLAIN_READ_DECRYPTED,
                    assumed,
                )
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

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fe = match self.flash_encryption {
            FlashEncryption::Off => "off (primary table stored plain)",
            FlashEncryption::On => "on (primary table stored encrypted)",
            FlashEncryption::Unknown => "unknown",
        };
        writeln!(
            f,
            "flash: {} KiB; flash encryption: {fe}; key: {}",
            self.flash_size / 1024,
            if self.key_given { "given" } else { "not given" }
        )?;
        writeln!(f, "primary table @0x{:x}: {}", self.primary.offset, self.primary.status)?;
        if let Some(s) = &self.secondary {
            writeln!(f, "secondary table (at_customize) @0x{:x}: {}", s.offset, s.status)?;
        }
        if self.primary.assumed_default || self.secondary.as_ref().is_some_and(|s| s.assumed_default) {
            writeln!(f, "(* = location assumed from ESP-AT's ESP32-C3 default tables)")?;
        }
        writeln!(
            f,
            "  {:<17} {:<16} {:>10} {:>10}  {:<9}  finding",
            "partition", "type/subtype", "offset", "size", "read"
        )?;
        for p in &self.partitions {
            let name = alloc::format!("{}{}", p.entry.label, if p.assumed { "*" } else { "" });
            let kind = alloc::format!("{}", p.entry.kind());
            writeln!(
                f,
                "  {:<17} {:<16} {:>#10x} {:>#10x}  {:<9}  {}",
                name,
                kind,
                p.entry.offset,
                p.entry.size,
                if p.read_decrypted { "decrypted" } else { "plain" },
                p.finding
            )?;
        }
        match &self.mfg_nvs {
            Ok(()) => writeln!(f, "mfg_nvs (ESP-AT boot path): readable")?,
            Err(p) => writeln!(
                f,
                "mfg_nvs (ESP-AT boot path): NOT READABLE: {} at 0x{:x}: {}",
                p.partition, p.offset, p.reason
            )?,
        }
        if self.problems.is_empty() {
            writeln!(f, "no problems found")
        } else {
            writeln!(f, "problems:")?;
            for (i, p) in self.problems.iter().enumerate() {
                writeln!(f, "  {}. {p}", i + 1)?;
            }
            Ok(())
        }
    }
}
