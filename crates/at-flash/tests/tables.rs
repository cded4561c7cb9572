//! ESP-AT's real ESP32-C3 tables: the `.bin`s made by `gen_esp32part.py` parse, and the CSVs
//! reproduce them byte for byte.

mod common;
use at_flash::csv::parse_csv;
use at_flash::table::{Md5Status, PartitionTable, TABLE_LEN, TableError, subtypes, types};
use common::fixture;

fn text(rel: &str) -> String {
    String::from_utf8(fixture(rel)).unwrap()
}

#[test]
fn real_primary_table_parses() {
    let bin = fixture("inputs/tables/partitions_at.bin");
    assert_eq!(bin.len(), TABLE_LEN);
    let t = PartitionTable::parse(&bin, Some(0x40_0000)).unwrap();
    assert_eq!(t.md5(), Md5Status::Verified);
    let names: Vec<String> = t.entries().iter().map(|e| e.label.to_string()).collect();
    assert_eq!(names, ["otadata", "phy_init", "nvs", "at_customize", "ota_0", "ota_1"]);
    let atc = t.find(types::AT_CUSTOMIZE, subtypes::AT_CUSTOMIZE, Some("at_customize")).unwrap();
    assert_eq!((atc.offset, atc.size, atc.flags.encrypted()), (0x1E000, 0x42000, false));
    let ota1 = t.find_by_label("ota_1").unwrap();
    assert_eq!((ota1.ty, ota1.subtype, ota1.offset, ota1.size), (types::APP, 0x11, 0x230000, 0x1D0000));
}

#[test]
fn real_secondary_table_parses_and_holds_mfg_nvs() {
    let t = PartitionTable::parse(&fixture("inputs/tables/at_customize.bin"), Some(0x40_0000)).unwrap();
    let m = at_flash::layout::find_mfg_nvs(&t).unwrap();
    assert_eq!((m.offset, m.size), (0x1F000, 124 * 1024));
    assert_eq!(t.find_by_label("fs_storage").unwrap().subtype, 0xFF);
}

#[test]
fn csvs_reproduce_the_binaries_byte_for_byte() {
    for (csv, bin, table_offset) in [
        ("inputs/tables/partitions_at.csv", "inputs/tables/partitions_at.bin", 0x8000),
        ("inputs/tables/at_customize.csv", "inputs/tables/at_customize.bin", 0x1E000),
    ] {
        let t = parse_csv(&text(csv), table_offset).unwrap();
        let emitted = t.to_bytes(true).unwrap();
        assert!(emitted[..] == fixture(bin)[..], "{csv} does not reproduce {bin}");
        // and binary -> table -> binary
        let parsed = PartitionTable::parse(&fixture(bin), None).unwrap();
        assert_eq!(parsed.entries(), t.entries());
        assert!(parsed.to_bytes(true).unwrap()[..] == fixture(bin)[..]);
    }
}

#[test]
fn encrypted_tables_fail_at_entry_0_with_their_random_magic() {
    for (f, addr) in [("at_customize.fe_0x1e000.bin", 0x1E000u32), ("partitions_at.fe_0x8000.bin", 0x8000)] {
        let b = fixture(f);
        match PartitionTable::parse(&b, Some(0x40_0000)) {
            Err(TableError::BadMagic { entry: 0, magic }) => assert_eq!(magic, [b[0], b[1]]),
            other => panic!("{f}: {other:?}"),
        }
        // with the key they decrypt to the real table
        let mut d = b.clone();
        common::flash_key().decrypt(addr, &mut d).unwrap();
        assert!(PartitionTable::parse(&d, Some(0x40_0000)).is_ok(), "{f} after decryption");
    }
}

#[test]
fn a_table_past_a_small_flash_is_refused() {
    let bin = fixture("inputs/tables/partitions_at.bin");
    // ota_1 ends at 0x400000: a 2 MB flash cannot hold it (entry 4, ota_0, already fails).
    assert!(matches!(
        PartitionTable::parse(&bin, Some(0x20_0000)),
        Err(TableError::OutOfFlash { entry: 4, offset: 0x60000, size: 0x1D0000, flash_size: 0x20_0000 })
    ));
}
