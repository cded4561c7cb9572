//! The ESP-AT flash layout: the primary table at 0x8000, the secondary table at the start of
//! `at_customize`, and how each table is read on a chip with or without flash encryption.
//!
//! * The bootloader reads the **primary table** at [`crate::table::PRIMARY_TABLE_OFFSET`]. With flash
//!   encryption on it is always stored encrypted and the chip decrypts it.
//! * ESP-AT reads its **secondary table** from offset 0 of the primary table's `at_customize`
//!   partition (type 0x40, subtype 0) with a plain partition read: `at_customize` is not flagged
//!   `encrypted`, so the chip does not decrypt it (esp-at-reference.md §4.1).
//! * `mfg_nvs` is found only in the secondary table, as
//!   `esp_at_custom_partition_find(DATA, NVS, "mfg_nvs")`.
//!
//! [`esp_at_c3_default_primary`] / [`esp_at_c3_default_secondary`] are ESP-AT's
//! `module_esp32c3_default` tables, used by the diagnosis as a labelled assumption when a table
//! cannot be read without the key.

use crate::classify::{self, Bytes};
use crate::table::{Flags, Label, PartitionEntry, PartitionTable, TABLE_LEN, TableError, subtypes, types};
use crate::xts::FlashKey;
use embedded_storage::nor_flash::ReadNorFlash;

/// Label of ESP-AT's secondary-table partition.
pub const AT_CUSTOMIZE: &str = "at_customize";
/// Label of ESP-AT's manufacturing NVS partition.
pub const MFG_NVS: &str = "mfg_nvs";

/// ESP-AT `module_config/module_esp32c3_default/partitions_at.csv` (Apache-2.0).
pub const ESP_AT_C3_PARTITIONS_CSV: &str = "\
otadata, data, ota, 0xd000, 0x2000
phy_init, data, phy, 0xf000, 0x1000
nvs, data, nvs, 0x10000, 0xE000
at_customize, 0x40, 0, 0x1E000, 0x42000
ota_0, app, ota_0, 0x60000, 0x1d0000
ota_1, app, ota_1, 0x230000, 0x1d0000
";

/// ESP-AT `module_config/module_esp32c3_default/at_customize.csv` (Apache-2.0).
pub const ESP_AT_C3_AT_CUSTOMIZE_CSV: &str = "\
mfg_nvs, data, nvs, 0x1f000, 124K
fs_storage, data, 0xff, 0x47000, 100K
";

fn builtin(name: &str, ty: u8, subtype: u8, offset: u32, size: u32) -> PartitionEntry {
    let mut label = [0u8; 16];
    for (d, s) in label.iter_mut().zip(name.bytes()) {
        *d = s;
    }
    PartitionEntry { ty, subtype, offset, size, label: Label(label), flags: Flags(0) }
}

/// ESP-AT's default ESP32-C3 primary table ([`ESP_AT_C3_PARTITIONS_CSV`]).
pub fn esp_at_c3_default_primary() -> PartitionTable {
    PartitionTable::from_trusted(alloc::vec![
        builtin("otadata", types::DATA, subtypes::DATA_OTA, 0xD000, 0x2000),
        builtin("phy_init", types::DATA, subtypes::DATA_PHY, 0xF000, 0x1000),
        builtin("nvs", types::DATA, subtypes::DATA_NVS, 0x10000, 0xE000),
        builtin(AT_CUSTOMIZE, types::AT_CUSTOMIZE, subtypes::AT_CUSTOMIZE, 0x1E000, 0x42000),
        builtin("ota_0", types::APP, subtypes::APP_OTA_0, 0x60000, 0x1D0000),
        builtin("ota_1", types::APP, subtypes::APP_OTA_0 + 1, 0x230000, 0x1D0000),
    ])
}

/// ESP-AT's default ESP32-C3 secondary table ([`ESP_AT_C3_AT_CUSTOMIZE_CSV`]).
pub fn esp_at_c3_default_secondary() -> PartitionTable {
    PartitionTable::from_trusted(alloc::vec![
        builtin(MFG_NVS, types::DATA, subtypes::DATA_NVS, 0x1F000, 0x1F000),
        builtin("fs_storage", types::DATA, 0xFF, 0x47000, 0x19000),
    ])
}

/// The `at_customize` entry of a primary table (type 0x40 subtype 0, preferring the label).
pub fn find_at_customize(primary: &PartitionTable) -> Option<&PartitionEntry> {
    primary
        .find(types::AT_CUSTOMIZE, subtypes::AT_CUSTOMIZE, Some(AT_CUSTOMIZE))
        .or_else(|| primary.find(types::AT_CUSTOMIZE, subtypes::AT_CUSTOMIZE, None))
}

/// The `mfg_nvs` entry of a secondary table, exactly as ESP-AT looks it up.
pub fn find_mfg_nvs(secondary: &PartitionTable) -> Option<&PartitionEntry> {
    secondary.find(types::DATA, subtypes::DATA_NVS, Some(MFG_NVS))
}

/// Read the [`TABLE_LEN`] bytes at `offset`, decrypted with `key` if given.
pub fn read_table_bytes<F: ReadNorFlash>(
    flash: &mut F,
    offset: u32,
    key: Option<&FlashKey>,
) -> Result<[u8; TABLE_LEN], F::Error> {
    let mut buf = [0xFFu8; TABLE_LEN];
    flash.read(offset, &mut buf)?;
    if let Some(k) = key {
        // A partition offset that is not 16-aligned cannot hold an encrypted table; leave the
        // bytes raw so that the parse fails and reports them.
        let _ = k.decrypt(offset, &mut buf);
    }
    Ok(buf)
}

/// How a table's bytes turned out.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum TableRead {
    /// Parsed as stored.
    Plain(PartitionTable),
    /// Did not parse as stored, parsed after decryption with the key: it is stored encrypted.
    Encrypted(PartitionTable),
    /// All `FF`: never written.
    Blank,
    /// Did not parse. `looks_encrypted`: the bytes are ciphertext-like (the key-less rule);
    /// `decrypted_error`: the error after decrypting with the key, if one was tried.
    Unreadable {
        /// The parse error of the bytes as stored.
        error: TableError,
        /// Whether the bytes as stored look like ciphertext.
        looks_encrypted: bool,
        /// The parse error after decrypting with the given key, if any.
        decrypted_error: Option<TableError>,
    },
}

/// Read and judge the table at `offset` as stored (raw), trying `key` if it does not parse.
pub fn read_table<F: ReadNorFlash>(
    flash: &mut F,
    offset: u32,
    key: Option<&FlashKey>,
) -> Result<TableRead, F::Error> {
    let flash_size = u32::try_from(flash.capacity()).unwrap_or(u32::MAX);
    if offset as u64 + TABLE_LEN as u64 > flash.capacity() as u64 {
        return Ok(TableRead::Unreadable {
            error: TableError::TooShort { len: flash.capacity().saturating_sub(offset as usize) },
            looks_encrypted: false,
            decrypted_error: None,
        });
    }
    let raw = read_table_bytes(flash, offset, None)?;
    if raw.iter().all(|&b| b == 0xFF) {
        return Ok(TableRead::Blank);
    }
    let error = match PartitionTable::parse(&raw, Some(flash_size)) {
        Ok(t) => return Ok(TableRead::Plain(t)),
        Err(e) => e,
    };
    let looks_encrypted = classify::bytes_at(&mut crate::view::SliceFlash(&raw), 0, TABLE_LEN as u32)
        .is_ok_and(|b| b == Bytes::RandomLike);
    let decrypted_error = match key {
        None => None,
        Some(_) => match PartitionTable::parse(&read_table_bytes(flash, offset, key)?, Some(flash_size)) {
            Ok(t) => return Ok(TableRead::Encrypted(t)),
            Err(e) => Some(e),
        },
    };
    Ok(TableRead::Unreadable { error, looks_encrypted, decrypted_error })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_equal_their_csv() {
        use crate::csv::parse_csv;
        assert_eq!(parse_csv(ESP_AT_C3_PARTITIONS_CSV, 0x8000).unwrap(), esp_at_c3_default_primary());
        assert_eq!(parse_csv(ESP_AT_C3_AT_CUSTOMIZE_CSV, 0x1E000).unwrap(), esp_at_c3_default_secondary());
        let p = esp_at_c3_default_primary();
        assert_eq!(p.entries().len(), 6);
        let atc = find_at_customize(&p).unwrap();
        assert_eq!((atc.offset, atc.size), (0x1E000, 0x42000));
        let s = esp_at_c3_default_secondary();
        let m = find_mfg_nvs(&s).unwrap();
        assert_eq!((m.offset, m.size), (0x1F000, 0x1F000));
        assert_eq!(s.entries()[1].subtype, 0xFF);
    }
}
