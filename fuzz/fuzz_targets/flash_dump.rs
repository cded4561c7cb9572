//! Arbitrary bytes as a flash image (at most 64 KiB): partition-table parsing, the whole-flash
//! diagnosis and the boot-time mfg_nvs lookup must never panic or hang, and never write.
//!
//! Layout: the first byte picks where the rest goes — at the primary table (0x8000) of an
//! erased 64 KiB flash, so that short inputs exercise table parsing; as the image itself
//! from address 0 (padded with FF to cover the table); or (bit 2) as a list of partitions from
//! which valid primary and secondary tables (with MD5) are built, so that every partition
//! judge runs on fuzzed contents. Bit 1 passes a flash-encryption key, bit 3 encrypts the
//! primary table with it.
#![no_main]

use at_flash::table::{Flags, Label, PartitionEntry, PartitionTable};
use at_flash::{DiagnoseOptions, FlashKey, SliceFlash, diagnose, locate_mfg_nvs};
use at_mock::flash::MockFlash;
use libfuzzer_sys::fuzz_target;

const MAX: usize = 64 * 1024;
const TABLE: usize = 0x8000;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let _ = PartitionTable::parse(rest, None);
    let _ = PartitionTable::parse(rest, Some(MAX as u32));

    let key_bytes = [0xA5u8; 32];
    let img = if mode & 4 != 0 {
        structured(rest, &key_bytes, mode & 8 != 0)
    } else if mode & 1 == 0 {
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

    let key = FlashKey::new(&key_bytes);
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

/// Partitions from 8-byte records (type, subtype, offset/4K, size/4K, flags, 3 bytes of fill);
/// the primary table gets those with bit 0 of the fill clear, the secondary table (at the first
/// 0x40/0 partition) the rest; the remaining bytes fill the flash from 0x9000 on.
fn structured(rest: &[u8], key: &[u8; 32], encrypt_primary: bool) -> Vec<u8> {
    let mut img = vec![0xFFu8; MAX];
    let (mut primary, mut secondary) = (Vec::new(), Vec::new());
    let n = rest.len().min(8 * 16) / 8;
    for (i, r) in rest[..8 * n].chunks_exact(8).enumerate() {
        let e = PartitionEntry {
            ty: r[0],
            subtype: r[1],
            offset: u32::from(r[2] & 0x0F) * 0x1000,
            size: u32::from(r[3] & 0x0F) * 0x1000 + u32::from(r[7] & 0x10) * 0x10,
            label: Label::new(["mfg_nvs", "at_customize", "nvs", "ota_0", "x"][i % 5]).unwrap_or_default(),
            flags: Flags(u32::from(r[4] & 3)),
        };
        if r[5] & 1 == 0 { primary.push(e) } else { secondary.push(e) }
    }
    let data = &rest[8 * n..];
    let m = data.len().min(MAX - 0x9000);
    img[0x9000..0x9000 + m].copy_from_slice(&data[..m]);
    if let Ok(t) = PartitionTable::new(primary)
        && let Ok(mut b) = t.to_bytes(true)
    {
        if let Some(atc) = at_flash::layout::find_at_customize(&t)
            && let Ok(s) = PartitionTable::new(secondary)
            && let Ok(sb) = s.to_bytes(true)
        {
            let at = atc.offset as usize;
            if at + sb.len() <= MAX && at >= 0x9000 {
                img[at..at + sb.len()].copy_from_slice(&sb);
            }
        }
        if encrypt_primary {
            let _ = FlashKey::new(key).encrypt(0x8000, &mut b);
        }
        img[TABLE..TABLE + b.len()].copy_from_slice(&b);
    }
    img
}
