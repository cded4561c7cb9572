//! Partition images: an NVS image as ESP-AT reads `mfg_nvs` (plain, with the NVS keys given),
//! confirmed by decrypting with the flash-encryption key at `--offset`; a partition-table
//! image; and the key-less rule for small ciphertext.

use at_flash::classify::{self, Bytes};
use at_flash::table::{ENTRY_MAGIC, PRIMARY_TABLE_OFFSET, PartitionTable, TABLE_LEN};
use at_flash::{Finding, FlashKey, SliceFlash};
use at_hal::kv::Unreadable;
use at_nvs::{NvsKeys, Verdict};

use super::PAGE;
use crate::entries::{NvsRead, read_nvs};
use crate::report::{Class, Decrypted, ImageReport, TableImage};

/// Neither blank nor NVS as stored: ciphertext-like or garbage.
fn is_unstructured(v: Verdict) -> bool {
    matches!(v, Verdict::LooksFlashEncrypted | Verdict::Garbage)
}

/// A note if the mount failed although the classification allowed it.
fn mount_failed(read: &NvsRead) -> Option<String> {
    match &read.entries {
        Some(Err(e)) => Some(format!("the NVS mount failed: {e}")),
        _ => None,
    }
}

/// Classify a partition image as stored and, with the flash key, as decrypted; list its
/// entries where readable.
pub fn judge(
    data: &[u8],
    fe: Option<(&FlashKey, u32)>,
    nvs_keys: Option<&NvsKeys>,
) -> Result<ImageReport, String> {
    let mut notes = Vec::new();
    let whole = data.len() / PAGE * PAGE;
    if whole != data.len() {
        notes.push(format!(
            "the image is {} bytes, not a multiple of 4096: the last {} bytes are ignored (truncated image?)",
            data.len(),
            data.len() - whole
        ));
    }
    let raw_read =
        read_nvs(SliceFlash(&data[..whole]), nvs_keys).map_err(|e| format!("reading the image: {e}"))?;
    let raw = raw_read.classification;

    if let (true, Some((key, offset))) = (is_unstructured(raw.verdict), fe) {
        let mut plain = data[..whole].to_vec();
        key.decrypt(offset, &mut plain).map_err(|e| format!("decrypting at --offset 0x{offset:x}: {e}"))?;
        let dec = read_nvs(SliceFlash(&plain), nvs_keys)
            .map_err(|e| format!("reading the decrypted image: {e}"))?;
        let dc = dec.classification;
        let decrypted = Some(Decrypted { offset, class: Finding::from_nvs(&dc).into(), nvs: dc });
        if !is_unstructured(dc.verdict) {
            notes.extend(mount_failed(&dec));
            if let Some(u) = dc.verdict.unreadable() {
                notes.push(format!("inside the flash encryption: {u} — {}", u.remedy()));
            }
            let inner = match dc.verdict.unreadable() {
                None => {
                    format!("decrypted with the key at 0x{offset:x} it is {}", describe_verdict(dc.verdict))
                }
                Some(u) => format!("decrypted with the key at 0x{offset:x} it is still unreadable: {u}"),
            };
            return Ok(ImageReport {
                // The device reads the ciphertext; and once re-flashed plain, the content's own
                // problem (NVS keys) would remain — the class reports the one it hits first.
                class: Finding::WrittenEncryptedReadPlain { confirmed_with_key: true }.into(),
                raw,
                decrypted,
                entries: dec.entries.and_then(Result::ok),
                detail: format!("flash-encrypted (confirmed: {inner})"),
                notes,
            });
        }
        if raw.verdict == Verdict::LooksFlashEncrypted {
            return Ok(ImageReport {
                class: Class::FlashEncryptedKeyMismatch,
                raw,
                decrypted,
                entries: None,
                detail: format!(
                    "looks flash-encrypted (entropy {:.2} bits/byte, no valid NVS page), but decrypting with the \
                     given key at 0x{offset:x} gives no NVS either: the key is not this device's, or --offset is \
                     not the address the image was written at",
                    raw.entropy
                ),
                notes,
            });
        }
        notes.push(format!("decrypting with the given key at 0x{offset:x} gives no NVS either"));
        return Ok(ImageReport {
            class: Finding::Garbage.into(),
            raw,
            decrypted,
            entries: None,
            detail: describe_verdict(raw.verdict),
            notes,
        });
    }

    if fe.is_some() && !is_unstructured(raw.verdict) {
        notes.push(
            "the image is not flash-encrypted (it is blank or has valid NVS structure as stored): the \
             flash-encryption key was not needed"
                .into(),
        );
    }
    if nvs_keys.is_some() && raw.verdict == Verdict::PlainNvs && raw.written_entries > 0 {
        notes.push(
            "NVS keys were given, but the image is not NVS-encrypted (its entries check out as stored)"
                .into(),
        );
    }
    notes.extend(mount_failed(&raw_read));
    let mut detail = describe_verdict(raw.verdict);
    if raw.verdict == Verdict::LooksFlashEncrypted {
        detail.push_str(
            ". To look inside, give --flash-encryption-key KEY_FILE and --offset ADDR (the flash address the image \
             was written at; ESP-AT's mfg_nvs on the ESP32-C3: 0x1f000)",
        );
    }
    Ok(ImageReport {
        class: Finding::from_nvs(&raw).into(),
        raw,
        decrypted: None,
        entries: raw_read.entries.and_then(Result::ok),
        detail,
        notes,
    })
}

/// A verdict in words.
fn describe_verdict(v: Verdict) -> String {
    match v {
        Verdict::Blank => "blank: every page is erased (an empty store)".into(),
        Verdict::PlainNvs => "plain NVS: the entries pass their CRCs as stored".into(),
        Verdict::NvsEncrypted { keys_ok: Some(true) } => {
            "NVS-encrypted, and the given NVS keys decrypt it".into()
        }
        Verdict::NvsEncrypted { keys_ok: None } => {
            "NVS-encrypted: valid NVS page headers, but no entry passes its CRC without the NVS keys \
             (give --nvs-keys nvs_keys.bin or --hmac-key)"
                .into()
        }
        Verdict::NvsEncrypted { keys_ok: Some(false) } => {
            "NVS-encrypted: valid NVS page headers, but no entry passes its CRC after decryption with the \
             given NVS keys: they are not the keys this image was generated with"
                .into()
        }
        Verdict::NvsNewerVersion => "NVS pages of a format version newer than this reader knows".into(),
        Verdict::LooksFlashEncrypted => {
            "flash-encrypted: no page is blank, no NVS page header is valid, and the bytes have the \
             entropy of ciphertext — written with flash encryption (idf.py encrypted-flash / esptool \
             write-flash --encrypt). A partition that is not flagged `encrypted` (ESP-AT's mfg_nvs and \
             at_customize are not) is read as stored, so the device sees no NVS at all: ESP-AT finds no \
             certificates (cert_len=0) and its SSL server closes every connection"
                .into()
        }
        Verdict::Garbage => {
            "garbage: neither blank, nor NVS, nor ciphertext-like (a wrong file, or a corrupted partition)"
                .into()
        }
    }
}

/// The table at the start of `bytes`, if slot 0 is a partition entry and it parses.
fn parse_table(bytes: &[u8]) -> Option<PartitionTable> {
    let n = bytes.len().min(TABLE_LEN);
    if bytes.get(..2)? != ENTRY_MAGIC {
        return None;
    }
    PartitionTable::parse(&bytes[..n], None).ok()
}

/// A partition-table image: plain, or flash-encrypted and decrypting with the key at
/// `--offset`; judged (the chip decrypts the primary table at 0x8000; ESP-AT reads its
/// secondary table plain).
pub fn table_image(data: &[u8], fe: Option<(&FlashKey, u32)>) -> Option<TableImage> {
    let (table, encrypted_at) = match parse_table(data) {
        Some(table) => (table, None),
        None => {
            let (key, offset) = fe?;
            let n = data.len().min(TABLE_LEN) / 16 * 16;
            let mut plain = data.get(..n)?.to_vec();
            key.decrypt(offset, &mut plain).ok()?;
            (parse_table(&plain)?, Some(offset))
        }
    };
    let n = table.entries().len();
    // A table image is read plain, as at-mfg reads every image: stored encrypted, it is
    // ciphertext (confirmed by the key) whatever the chip does with it.
    let encrypted = Class::Finding(Finding::WrittenEncryptedReadPlain { confirmed_with_key: true });
    let (class, problem, detail) = match encrypted_at {
        None => (
            Class::PartitionTable,
            None,
            format!(
                "a partition table with {n} partitions, stored plain (as ESP-AT's secondary table must be)"
            ),
        ),
        Some(PRIMARY_TABLE_OFFSET) => (
            encrypted,
            None,
            format!(
                "a partition table with {n} partitions, flash-encrypted for 0x8000: the primary table, which \
                 the chip decrypts (expected with flash encryption on)"
            ),
        ),
        Some(o) => (
            encrypted,
            Some(Unreadable::SecondaryTableUnreadable),
            format!(
                "a partition table with {n} partitions, flash-encrypted for 0x{o:x}. If this is ESP-AT's \
                 secondary table (at_customize.bin, 0x1e000), ESP-AT reads it plain, its magic check fails \
                 and mfg_nvs is never found (`at param mode: 0`, `cert_len=0`)"
            ),
        ),
    };
    Some(TableImage { encrypted_at, table, class, problem, detail })
}

/// Whether `data` (at least 1 KiB) is indistinguishable from random: ciphertext.
pub fn looks_like_ciphertext(data: &[u8]) -> bool {
    let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
    data.len() >= 1024 && matches!(classify::bytes_at(&mut SliceFlash(data), 0, len), Ok(Bytes::RandomLike))
}
