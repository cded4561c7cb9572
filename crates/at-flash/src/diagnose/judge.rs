//! Per-partition judgement: what one partition holds, read as the chip reads it (decrypted or
//! not), confirmed with the flash-encryption key where one is given. Reads only.

use crate::classify::{self, Bytes};
use crate::finding::Finding;
use crate::table::{PartitionEntry, subtypes, types};
use crate::view::{DecryptedView, PartitionView};
use crate::xts::FlashKey;
use at_nvs::{Classification, NvsKeys, Verdict};
use embedded_storage::nor_flash::ReadNorFlash;
use embedded_storage::nor_flash::{ErrorType, NorFlashError, NorFlashErrorKind};

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

/// The raw view of one partition (`None` if it does not fit the flash).
fn raw_view<'a, F: ReadNorFlash>(flash: &'a mut F, e: &PartitionEntry) -> Option<PartitionView<&'a mut F>> {
    PartitionView::new(flash, e.offset, e.size).ok()
}

/// The view of one partition decrypted with `key`, as the chip reads a partition it decrypts.
fn dec_view<'a, 'k, F: ReadNorFlash>(
    flash: &'a mut F,
    e: &PartitionEntry,
    key: &'k FlashKey,
) -> Option<DecryptedView<'k, &'a mut F>> {
    DecryptedView::new(flash, e.offset, e.size, key).ok()
}

/// A view error: the flash's own error, or (the partition does not fit) the finding that says so.
fn flash_err<E>(e: crate::view::ViewError<E>) -> Result<E, Finding> {
    match e {
        crate::view::ViewError::Flash(e) => Ok(e),
        _ => Err(Finding::OutsideFlash),
    }
}

/// Unwrap a view result, returning a flash error, or the finding of a partition that does not fit.
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
    /// The flash.
    inner: G,
    /// Its first error.
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
    let decrypts_to_nvs = decrypted.as_ref().is_some_and(|d| d.verdict.is_nvs());
    if decrypts {
        // The chip decrypts: plaintext NVS here is the opposite mistake.
        return Ok(match (raw.verdict, decrypted) {
            (Verdict::Blank, _) => Finding::Blank,
            (v, _) if v.is_nvs() => Finding::WrittenPlainReadDecrypted,
            (_, Some(d)) if decrypts_to_nvs => Finding::from_nvs(&d),
            (_, Some(_)) => Finding::Garbage,
            (_, None) => Finding::EncryptedAsExpected { verified: false },
        });
    }
    // Read plain: ciphertext-like or garbage bytes that decrypt to NVS with the key are the
    // seed bug, confirmed; otherwise the bytes as stored tell.
    Ok(match raw.verdict {
        Verdict::LooksFlashEncrypted | Verdict::Garbage if decrypts_to_nvs => {
            Finding::WrittenEncryptedReadPlain { confirmed_with_key: true }
        }
        _ => Finding::from_nvs(&raw),
    })
}

/// Non-NVS data partitions: blank, ciphertext-like or structured, as read and, with the key,
/// as decrypted.
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

/// App and bootloader images: blank, or (where the chip decrypts them) ciphertext or a plain
/// image header; only the first sector is examined.
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
