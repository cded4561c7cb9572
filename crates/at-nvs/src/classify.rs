//! What is in a partition, without needing to mount it: blank, plain NVS, NVS-encrypted,
//! flash-encrypted ciphertext read as plain, or garbage.
//!
//! The numbers are the ones of the reference's detection table (§4.3): blank pages, page
//! headers with a valid CRC, entries whose header passes NVS's consistency check (CRC, type,
//! span), and the byte entropy. Typical values:
//!
//! | image | blank | valid headers | CRC-ok entries | entropy | verdict |
//! |---|---|---|---|---|---|
//! | plain NVS, 6 pages | 5 | 1 | 12 | 1.6 | [`Verdict::PlainNvs`] |
//! | the same, NVS-encrypted | 5 | 1 | 0 | 1.9 | [`Verdict::NvsEncrypted`] |
//! | the same, flash-encrypted | 0 | 0 | 0 | 8.0 | [`Verdict::LooksFlashEncrypted`] |
//! | all `0xFF` | 6 | 0 | 0 | 0 | [`Verdict::Blank`] |
//!
//! [`Nvs::mount`](crate::Nvs::mount) applies the same rules and refuses (never formats) every
//! verdict that is not readable; [`Verdict::unreadable`] gives the error it reports.
//!
//! ## One vocabulary, in layers
//!
//! A partition's state has one name at each layer, and each layer *embeds* the one below
//! rather than mapping it by hand:
//!
//! 1. [`Verdict`] (here): what an NVS partition's bytes hold, read as given (with NVS keys if
//!    any). [`Verdict::unreadable`] is the **only** place NVS content becomes an
//!    [`Unreadable`] diagnosis — `classify` and `Nvs::mount` both go through it.
//! 2. `at_flash::Finding`: one partition as the chip reads it (decrypted or not, confirmed
//!    with the flash-encryption key). NVS content that reads as NVS is
//!    `Finding::Nvs { verdict, .. }`, this verdict embedded; its diagnosis is the verdict's.
//! 3. [`Unreadable`] (`at_hal`): the firmware-facing cause, with its remedy; `at_hal` knows
//!    neither of the above.
//!
//! [`Verdict::name`] is the stable spelling of a verdict in reports (`at-mfg inspect`'s
//! `classification`).

use at_hal::kv::{KvError, Unreadable};
use embedded_storage::nor_flash::ReadNorFlash;

use crate::crypto::{EntryCipher, NvsKeys};
use crate::format::PAGE_SIZE;
use crate::scan::{self, Scan};

/// Entropy (bits per byte) from which data that is neither blank nor NVS is taken for
/// ciphertext. Flash-encrypted NVS images measure ≈ 7.99; plain NVS pages stay below 6.
pub const CIPHERTEXT_ENTROPY: f32 = 7.0;

/// The outcome of [`classify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(rename_all = "snake_case"))]
pub enum Verdict {
    /// No NVS data: every page is erased (or carries nothing but a torn page header).
    Blank,
    /// NVS whose entries check out in plaintext.
    PlainNvs,
    /// Valid NVS page headers, but entry headers only check out after XTS decryption — or,
    /// without keys, none does.
    NvsEncrypted {
        /// `None`: no keys given. `Some(true)`: the given keys decrypt it. `Some(false)`:
        /// they do not.
        keys_ok: Option<bool>,
    },
    /// Valid headers with a format version newer than this crate reads (version byte < 0xFE).
    NvsNewerVersion,
    /// No page is blank or NVS and the data has the entropy of ciphertext: most likely
    /// written flash-encrypted (`idf.py encrypted-flash`) and read without decryption.
    LooksFlashEncrypted,
    /// Neither blank, nor NVS, nor ciphertext.
    Garbage,
}

impl Verdict {
    /// The stable name of the verdict in reports (`at-mfg inspect`'s `classification`):
    /// `blank`, `plain`, `nvs-encrypted`, `nvs-encrypted (keys missing)`,
    /// `nvs-encrypted (wrong keys)`, `nvs-newer-version`, `flash-encrypted`, `garbage`.
    pub const fn name(self) -> &'static str {
        match self {
            Verdict::Blank => "blank",
            Verdict::PlainNvs => "plain",
            Verdict::NvsEncrypted { keys_ok: Some(true) } => "nvs-encrypted",
            Verdict::NvsEncrypted { keys_ok: None } => "nvs-encrypted (keys missing)",
            Verdict::NvsEncrypted { keys_ok: Some(false) } => "nvs-encrypted (wrong keys)",
            Verdict::NvsNewerVersion => "nvs-newer-version",
            Verdict::LooksFlashEncrypted => "flash-encrypted",
            Verdict::Garbage => "garbage",
        }
    }

    /// Whether the bytes are NVS (valid page headers): plain, NVS-encrypted or of a newer
    /// version — as opposed to blank, ciphertext-like or garbage.
    pub const fn is_nvs(self) -> bool {
        matches!(self, Verdict::PlainNvs | Verdict::NvsEncrypted { .. } | Verdict::NvsNewerVersion)
    }

    /// The [`Unreadable`] diagnosis a mount with the same keys reports, or `None` if the
    /// partition mounts. (Exception: [`PlainNvs`](Verdict::PlainNvs) with entries mounts
    /// only *without* keys; a mount given keys reports [`Unreadable::NvsKeysWrong`] because
    /// nothing decrypts.)
    pub fn unreadable(self) -> Option<Unreadable> {
        match self {
            Verdict::Blank | Verdict::PlainNvs | Verdict::NvsEncrypted { keys_ok: Some(true) } => None,
            Verdict::NvsEncrypted { keys_ok: None } => Some(Unreadable::NvsKeysMissing),
            Verdict::NvsEncrypted { keys_ok: Some(false) } => Some(Unreadable::NvsKeysWrong),
            Verdict::NvsNewerVersion => Some(Unreadable::NvsNewerVersion),
            Verdict::LooksFlashEncrypted => Some(Unreadable::FlashEncryptedReadAsPlain),
            Verdict::Garbage => Some(Unreadable::Garbage),
        }
    }
}

/// What [`classify`] found, with the numbers behind the verdict.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Classification {
    /// The verdict.
    pub verdict: Verdict,
    /// Whole 4 KiB pages in the partition.
    pub pages: usize,
    /// Pages that are `0xFF` throughout.
    pub blank_pages: usize,
    /// Pages whose header CRC is valid and state known.
    pub valid_headers: usize,
    /// Entries marked WRITTEN in the bitmaps of valid pages and examined as item headers.
    pub written_entries: usize,
    /// Of those, headers that pass NVS's check (CRC, type, span) read as plaintext.
    pub crc_ok_entries: usize,
    /// The same count after decryption with the given keys (`None` without keys).
    pub crc_ok_decrypted: Option<usize>,
    /// Shannon entropy of the whole partition, bits per byte (0..=8).
    pub entropy: f32,
}

/// Classify the partition in `flash` (address 0 = partition start) without writing anything.
/// With `keys`, also try NVS decryption. Fails only if the flash cannot be read
/// ([`KvError::Flash`]).
pub fn classify<F: ReadNorFlash>(flash: &mut F, keys: Option<&NvsKeys>) -> Result<Classification, KvError> {
    let plain = scan::scan(flash, None).map_err(|_| KvError::Flash)?;
    let decrypted = match keys {
        Some(k) => Some(scan::scan(flash, Some(&EntryCipher::new(k))).map_err(|_| KvError::Flash)?),
        None => None,
    };
    Ok(Classification {
        verdict: verdict(&plain, decrypted.as_ref()),
        pages: flash.capacity() / PAGE_SIZE,
        blank_pages: plain.blank_pages,
        valid_headers: plain.valid_headers,
        written_entries: plain.written_headers,
        crc_ok_entries: plain.headers_ok,
        crc_ok_decrypted: decrypted.as_ref().map(|d| d.headers_ok),
        entropy: scan::entropy(&plain.hist),
    })
}

/// The verdict from a plain scan and, if keys were given, a decrypting scan.
pub(crate) fn verdict(plain: &Scan, decrypted: Option<&Scan>) -> Verdict {
    judge(plain, plain.headers_ok > 0, decrypted.map(|d| d.headers_ok > 0))
}

/// The verdict a mount reaches from its one scan (decrypting with the keys if given). With
/// keys, nothing is tried in plaintext: a plain store with entries is
/// `NvsEncrypted { keys_ok: Some(false) }`, the exception [`Verdict::unreadable`] documents.
pub(crate) fn mount_verdict(scan: &Scan, keys_given: bool) -> Verdict {
    let ok = scan.headers_ok > 0;
    if keys_given { judge(scan, false, Some(ok)) } else { judge(scan, ok, None) }
}

/// The rules of the module docs. The page structure (headers, bitmaps, version) reads the same
/// with or without NVS keys; only whether entry headers check out depends on them: `plain_ok`
/// as stored, `decrypted_ok` after decryption (`None`: no keys).
fn judge(s: &Scan, plain_ok: bool, decrypted_ok: Option<bool>) -> Verdict {
    if s.valid_headers == 0 {
        if s.data_corrupt_pages == 0 {
            return Verdict::Blank;
        }
        return if scan::entropy(&s.data_hist) >= CIPHERTEXT_ENTROPY {
            Verdict::LooksFlashEncrypted
        } else {
            Verdict::Garbage
        };
    }
    if s.newer_version {
        return Verdict::NvsNewerVersion;
    }
    if s.written_headers == 0 || plain_ok {
        // Nothing written yet (readable with or without keys), or entries that check out in
        // plaintext.
        return Verdict::PlainNvs;
    }
    Verdict::NvsEncrypted { keys_ok: decrypted_ok }
}
