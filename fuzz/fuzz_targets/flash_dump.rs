//! Arbitrary bytes as a flash image (at most 64 KiB): partition-table parsing, the whole-flash
//! diagnosis and the boot-time mfg_nvs lookup must never panic or hang, and never write.
//!
//! Layout: the first byte picks where the rest goes — at the primary table (0x8000) of an
//! erased 64 KiB flash, so that short inputs exercise table parsing, or as the image itself
//! from address 0 (padded with FF to cover the table).
#![no_main]

use at_flash::table::PartitionTable;
use at_flash::{DiagnoseOptions, FlashKey, SliceFlash, diagnose, locate_mfg_nvs};
use at_mock::flash::MockFlash;
use libfuzzer_sys::fuzz_target;

const MAX: usize = 64 * 1024;
const TABLE: usize = 0x8000;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let _ = PartitionTable::parse(rest, None);
    let _ = PartitionTable::parse(rest, Some(MAX as u32));

    let img = if mode & 1 == 0 {
        let mut img = vec![0xFFu8; MAX];
        let n = rest.len().min(MAX - TABLE);
        img[TABLE..TABLE + n].copy_from_slice(&rest[..n]);
        img
    } else {
        let mut img = rest[..rest.len().min(MAX)].to_vec();
        if img.len() < TABLE + 0x1000 {
            img.resize(TABLE + 0x1000, 0xFF);
        }
        img
    };

    let key = FlashKey::new(&[0xA5; 32]);
    let key = (mode & 2 != 0).then_some(&key);
    let d = diagnose(&mut SliceFlash(&img), DiagnoseOptions { flash_key: key, ..Default::default() })
        .expect("SliceFlash reads inside the image never fail");
    let _ = d.to_string();

    let mut flash = MockFlash::from_image(img.clone());
    let _ = locate_mfg_nvs(&mut flash, key).map(|m| m.content);
    let stats = flash.stats();
    assert_eq!((stats.writes, stats.erases), (0, 0), "locate_mfg_nvs wrote to the flash");
    assert!(flash.data() == &img[..]);
});
