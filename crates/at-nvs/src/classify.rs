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
    if plain.valid_headers == 0 {
        if plain.data_corrupt_pages == 0 {
            return Verdict::Blank;
        }
        return if scan::entropy(&plain.data_hist) >= CIPHERTEXT_ENTROPY {
            Verdict::LooksFlashEncrypted
        } else {
            Verdict::Garbage
        };
    }
    if plain.newer_version {
        return Verdict::NvsNewerVersion;
    }
    if plain.written_headers == 0 || plain.headers_ok > 0 {
        // Nothing written yet (readable with or without keys), or entries that check out in
        // plaintext.
        return Verdict::PlainNvs;
    }
    Verdict::NvsEncrypted { keys_ok: decrypted.map(|d| d.headers_ok > 0) }
}
