//! [`FlashRegions`]: which flash ranges the ESP32-C3 reads through flash decryption.
//!
//! With flash encryption on (eFuse `SPI_BOOT_CRYPT_CNT` has an odd number of bits set), ESP-IDF
//! reads — and the firmware must read — these ranges **decrypted** (through the cache/MMU,
//! which decrypts transparently) and writes them **encrypted**:
//!
//! * the 2nd-stage bootloader, `0x0..0x8000`;
//! * the primary partition table, `0x8000..0x9000`;
//! * every partition [`PartitionEntry::read_decrypted`] names: apps, OTA data, `nvs_keys`, and
//!   anything flagged `encrypted` — in the primary table and in ESP-AT's secondary table
//!   (the partitions inside `at_customize`, e.g. `mfg_nvs`, `fs_storage`).
//!
//! Everything else is read and written **raw**: that includes ESP-AT's `at_customize` and
//! `mfg_nvs` unless flagged, exactly as ESP-AT reads them — so a `mfg_nvs` that
//! `idf.py encrypted-flash` wrote encrypted (the forum bug) reads as ciphertext here too, and
//! at-flash's diagnosis reports it instead of an empty store.
//!
//! A range named by the secondary table lies inside `at_customize`; the more specific entry
//! wins (regions added later take precedence where they overlap). With flash encryption off,
//! everything is raw.

use alloc::vec::Vec;

use at_flash::PartitionTable;
use at_flash::table::{PRIMARY_TABLE_OFFSET, PartitionEntry};

/// End of the bootloader's range (it starts at 0).
pub const BOOTLOADER_END: u32 = PRIMARY_TABLE_OFFSET;

/// The primary table's sector: the table is `TABLE_LEN` (0xC00) bytes; ESP-IDF reserves the whole
/// 4 KiB sector (the MD5 entry and padding are inside it).
pub const PRIMARY_TABLE_SECTOR: u32 = 0x1000;

/// How a range of flash is accessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// As stored: SPI reads and plain programming.
    Raw,
    /// Through flash encryption: reads decrypted by the cache/MMU, writes encrypted.
    Decrypted,
}

/// One range with its access and where the rule came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// First byte.
    pub start: u32,
    /// One past the last byte (`u64`: a range may end at 4 GiB).
    pub end: u64,
    /// The access.
    pub access: Access,
    /// What the range is: a partition label, `"bootloader"` or `"partition table"`.
    pub label: [u8; 16],
}

impl Region {
    /// The label as text (`"?"` if it is not UTF-8).
    pub fn label(&self) -> &str {
        let n = self.label.iter().position(|&b| b == 0).unwrap_or(self.label.len());
        core::str::from_utf8(&self.label[..n]).unwrap_or("?")
    }
}

fn label16(s: &str) -> [u8; 16] {
    let mut l = [0u8; 16];
    for (d, s) in l.iter_mut().zip(s.bytes()) {
        *d = s;
    }
    l
}

/// The read/write policy of the whole flash: raw or decrypted, per range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlashRegions {
    flash_encryption: bool,
    /// Explicit ranges, in the order added; later ones take precedence. Ranges not covered are
    /// [`Access::Raw`].
    regions: Vec<Region>,
}

impl FlashRegions {
    /// The policy known before any table is read: with flash encryption on, the bootloader and
    /// the primary table are read decrypted; with it off, nothing is.
    pub fn new(flash_encryption: bool) -> FlashRegions {
        let mut r = FlashRegions { flash_encryption, regions: Vec::new() };
        if flash_encryption {
            r.push(0, u64::from(BOOTLOADER_END), Access::Decrypted, "bootloader");
            r.push(
                PRIMARY_TABLE_OFFSET,
                u64::from(PRIMARY_TABLE_OFFSET + PRIMARY_TABLE_SECTOR),
                Access::Decrypted,
                "partition table",
            );
        }
        r
    }

    fn push(&mut self, start: u32, end: u64, access: Access, label: &str) {
        if u64::from(start) < end {
            self.regions.push(Region { start, end, access, label: label16(label) });
        }
    }

    /// Whether flash encryption is on.
    pub fn flash_encryption(&self) -> bool {
        self.flash_encryption
    }

    /// Add the partitions of a table (the primary one, then ESP-AT's secondary one): each
    /// becomes a region, decrypted if [`PartitionEntry::read_decrypted`] says the chip reads it
    /// decrypted, raw otherwise (so a raw partition inside a decrypted one — or the other way
    /// round — is explicit).
    pub fn add_table(&mut self, table: &PartitionTable) {
        for e in table.entries() {
            self.add_partition(e);
        }
    }

    /// Add one partition (see [`FlashRegions::add_table`]).
    pub fn add_partition(&mut self, e: &PartitionEntry) {
        let access = if e.read_decrypted(self.flash_encryption) { Access::Decrypted } else { Access::Raw };
        self.push(e.offset, e.end(), access, e.label.as_str().unwrap_or("?"));
    }

    /// The explicit regions, in precedence order (last wins).
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// The access of the byte at `offset`.
    pub fn access_at(&self, offset: u32) -> Access {
        self.region_at(offset).map_or(Access::Raw, |r| r.access)
    }

    /// The region that decides the byte at `offset` (`None`: not covered, raw).
    pub fn region_at(&self, offset: u32) -> Option<&Region> {
        let o = u64::from(offset);
        self.regions.iter().rev().find(|r| u64::from(r.start) <= o && o < r.end)
    }

    /// The first segment of `offset..offset + len` that has one access: its access and
    /// length (≤ `len`; 0 only if `len` is 0). Callers loop until the range is done.
    pub fn segment(&self, offset: u32, len: usize) -> (Access, usize) {
        let access = self.access_at(offset);
        let o = u64::from(offset);
        // The next boundary of any region after `offset` may change the answer.
        let next = self
            .regions
            .iter()
            .flat_map(|r| [u64::from(r.start), r.end])
            .filter(|&b| b > o)
            .min()
            .unwrap_or(u64::MAX);
        let n = usize::try_from(next - o).unwrap_or(usize::MAX).min(len);
        (access, n)
    }

    /// Whether any byte of `offset..offset + len` is read decrypted.
    pub fn any_decrypted(&self, offset: u32, len: usize) -> bool {
        let mut o = u64::from(offset);
        let end = o + len as u64;
        while o < end {
            let Ok(off) = u32::try_from(o) else { return false };
            let (a, n) = self.segment(off, usize::try_from(end - o).unwrap_or(usize::MAX));
            if a == Access::Decrypted {
                return true;
            }
            if n == 0 {
                return false;
            }
            o += n as u64;
        }
        false
    }
}

impl core::fmt::Display for FlashRegions {
    /// One line per decrypted region (`0x8000..0x9000 partition table`), or "none".
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut any = false;
        for r in self.regions.iter().filter(|r| r.access == Access::Decrypted) {
            if any {
                f.write_str(", ")?;
            }
            write!(f, "0x{:x}..0x{:x} {}", r.start, r.end, r.label())?;
            any = true;
        }
        if !any {
            f.write_str("none")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use at_flash::table::{Flags, Label, subtypes, types};

    fn part(name: &str, ty: u8, subtype: u8, offset: u32, size: u32, encrypted: bool) -> PartitionEntry {
        PartitionEntry {
            ty,
            subtype,
            offset,
            size,
            label: Label::new(name).unwrap(),
            flags: Flags(if encrypted { Flags::ENCRYPTED } else { 0 }),
        }
    }

    #[test]
    fn off_means_all_raw() {
        let mut r = FlashRegions::new(false);
        r.add_partition(&part("ota_0", types::APP, subtypes::APP_OTA_0, 0x60000, 0x1000, true));
        for o in [0, 0x8000, 0x60000, 0x3F_FFFF] {
            assert_eq!(r.access_at(o), Access::Raw);
        }
        assert!(!r.any_decrypted(0, 0x40_0000));
        assert_eq!(r.to_string(), "none");
    }

    #[test]
    fn nested_regions_and_segments() {
        let mut r = FlashRegions::new(true);
        r.add_partition(&part("at_customize", 0x40, 0, 0x1E000, 0x42000, false));
        r.add_partition(&part("mfg_nvs", types::DATA, subtypes::DATA_NVS, 0x1F000, 0x1F000, true));
        assert_eq!(r.access_at(0x7FFF), Access::Decrypted);
        assert_eq!(r.access_at(0x8000), Access::Decrypted);
        assert_eq!(r.access_at(0x9000), Access::Raw);
        assert_eq!(r.access_at(0x1E000), Access::Raw);
        assert_eq!(r.access_at(0x1F000), Access::Decrypted);
        assert_eq!(r.access_at(0x3DFFF), Access::Decrypted);
        assert_eq!(r.access_at(0x3E000), Access::Raw);
        assert_eq!(r.region_at(0x1F010).unwrap().label(), "mfg_nvs");
        // A read across at_customize's first sector into mfg_nvs is two segments.
        assert_eq!(r.segment(0x1EF00, 0x200), (Access::Raw, 0x100));
        assert_eq!(r.segment(0x1F000, 0x100), (Access::Decrypted, 0x100));
        assert_eq!(r.segment(0x8FF0, 0x20), (Access::Decrypted, 0x10));
        assert_eq!(r.segment(0x40_0000, 0), (Access::Raw, 0));
        assert_eq!(r.segment(u32::MAX, 10), (Access::Raw, 10));
        assert!(r.any_decrypted(0x1E000, 0x1001));
        assert!(!r.any_decrypted(0x1E000, 0x1000));
        assert_eq!(
            r.to_string(),
            "0x0..0x8000 bootloader, 0x8000..0x9000 partition table, 0x1f000..0x3e000 mfg_nvs"
        );
    }
}
