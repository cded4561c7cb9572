//! A read-only, key-less look at whether a partition holds ESP-IDF NVS pages.
//!
//! Only what the flash-encryption diagnosis needs: per 4 KiB page, is it erased, does its header
//! pass its CRC, and how many WRITTEN entries pass theirs (nvs-and-flash-encryption.md §1). The
//! full reader, writer and NVS-encryption keys live in `at-nvs`; this probe interprets nothing
//! beyond headers and entry CRCs.

use crate::classify::{Histogram, SECTOR};
use embedded_storage::nor_flash::ReadNorFlash;

/// What the pages of a partition look like.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct NvsProbe {
    /// Whole pages examined.
    pub pages: u32,
    /// Pages that are entirely `FF`.
    pub blank_pages: u32,
    /// Pages whose header has an ACTIVE/FULL/FREEING state and a matching CRC.
    pub valid_headers: u32,
    /// Valid headers whose format version is newer than 2 (`< 0xFE`).
    pub newer_version: u32,
    /// WRITTEN entries (by the bitmap) on pages with a valid header.
    pub written_entries: u32,
    /// Of those, entries whose own CRC matches (0 for NVS-encrypted data read without keys).
    pub crc_ok_entries: u32,
    /// Whether the non-blank pages are indistinguishable from random bytes.
    pub random_like: bool,
}

/// What [`NvsProbe::verdict`] concludes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(rename_all = "snake_case"))]
pub enum NvsVerdict {
    /// Every page is erased: a fresh store.
    Blank,
    /// Valid pages and entries (or valid, empty pages): readable NVS.
    Plain,
    /// Valid page headers, but no entry checks out: NVS-encrypted.
    NvsEncrypted,
    /// Valid pages of a newer NVS format.
    NewerVersion,
    /// No valid page, and the data looks like ciphertext: flash-encrypted (or random).
    RandomLike,
    /// No valid page and not random: garbage.
    Garbage,
}

impl NvsProbe {
    /// The classification (the reference's key-less rule, extended to images shorter than their
    /// partition: erased pages are set aside).
    pub fn verdict(&self) -> NvsVerdict {
        if self.pages == self.blank_pages {
            NvsVerdict::Blank
        } else if self.valid_headers > 0 {
            if self.newer_version > 0 {
                NvsVerdict::NewerVersion
            } else if self.written_entries > 0 && self.crc_ok_entries == 0 {
                NvsVerdict::NvsEncrypted
            } else {
                NvsVerdict::Plain
            }
        } else if self.random_like {
            NvsVerdict::RandomLike
        } else {
            NvsVerdict::Garbage
        }
    }
}

/// NVS's CRC-32: `esp_rom_crc32_le(0xffffffff, ..)`, i.e. reflected 0xEDB88320 with init 0 and
/// xorout 0xFFFFFFFF (check value `crc("123456789") = 0xD202D277`). Bitwise: only headers and
/// entries go through it.
fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = 0u32; // the ROM starts from !0xffffffff
    for part in parts {
        for &b in *part {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
    }
    !crc
}

const STATE_ACTIVE: u32 = 0xFFFF_FFFE;
const STATE_FULL: u32 = 0xFFFF_FFFC;
const STATE_FREEING: u32 = 0xFFFF_FFF8;

/// Probe the whole pages of `flash` (`capacity()` bytes, from 0).
pub fn probe<F: ReadNorFlash>(flash: &mut F) -> Result<NvsProbe, F::Error> {
    let mut p = NvsProbe::default();
    let mut h = Histogram::default();
    let mut page = [0u8; SECTOR];
    let pages = flash.capacity() / SECTOR;
    for i in 0..pages {
        flash.read((i * SECTOR) as u32, &mut page)?;
        p.pages += 1;
        if page.iter().all(|&b| b == 0xFF) {
            p.blank_pages += 1;
            continue;
        }
        h.add(&page);
        let state = u32::from_le_bytes([page[0], page[1], page[2], page[3]]);
        let stored = u32::from_le_bytes([page[28], page[29], page[30], page[31]]);
        let header_ok =
            matches!(state, STATE_ACTIVE | STATE_FULL | STATE_FREEING) && crc32(&[&page[4..28]]) == stored;
        if !header_ok {
            continue;
        }
        p.valid_headers += 1;
        if page[8] < 0xFE {
            p.newer_version += 1;
        }
        for e in 0..126usize {
            let bits = (page[32 + e / 4] >> (2 * (e % 4))) & 3;
            if bits != 0b10 {
                continue;
            }
            p.written_entries += 1;
            let ent = &page[64 + 32 * e..96 + 32 * e];
            let stored = u32::from_le_bytes([ent[4], ent[5], ent[6], ent[7]]);
            if crc32(&[&ent[0..4], &ent[8..32]]) == stored {
                p.crc_ok_entries += 1;
            }
        }
    }
    p.random_like = h.looks_random();
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_reference_vectors() {
        assert_eq!(crc32(&[b"123456789"]), 0xD202_D277);
        let mut hdr = [0xFFu8; 24];
        hdr[..4].copy_from_slice(&0u32.to_le_bytes());
        hdr[4] = 0xFE;
        assert_eq!(crc32(&[&hdr]), 0xB9BA_2D84);
        assert_eq!(crc32(&[b"ESP32C3-TEST\0"]), 0xBBDA_FC64);
    }
}
