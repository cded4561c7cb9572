//! The chip's flash as the firmware reads it — routed by [`FlashRegions`] over the emulated
//! chip (raw bytes + the eFuse flash-encryption key) — on the whole-flash dumps of
//! `fixtures/flash/dumps`: which ranges are decrypted, what at-flash's `MfgStorage` then finds,
//! and the seed's case (an encrypted `mfg_nvs` read as plain) reported by AT+SYSMFG.

mod common;

use std::time::Duration;

use at_core::{Firmware, Options};
use at_esp32c3::emulation::EmulatedFlash;
use at_esp32c3::factory::{C3_MINI_1, FactoryUart};
use at_esp32c3::routed::{BootTables, TableState, boot};
use at_esp32c3::{Access, FlashRegions, RoutedError, RoutedFlash};
use at_flash::layout::TableRead;
use at_flash::table::{Flags, PartitionTable};
use at_flash::{MfgStorage, PartitionView};
use at_hal::kv::{Kv, KvError, MemKv, Unreadable, Value};
use at_hal::storage::MfgStore;
use at_hal::time::Instant;
use at_mock::MockPlatform;
use common::{dump, fixture, flash_key};
use embedded_storage::nor_flash::{NorFlash, ReadNorFlash};

type Routed = RoutedFlash<EmulatedFlash>;

/// Boot the emulated chip: flash encryption on iff a key is given.
fn chip(image: Vec<u8>, encrypted: bool) -> (Routed, BootTables) {
    let key = encrypted.then(flash_key);
    boot(EmulatedFlash::new(image, key), encrypted)
}

fn server_cert(s: &mut impl Kv) -> Result<usize, KvError> {
    let mut buf = vec![0u8; 8192];
    Ok(s.get("server_cert", "server_cert", &mut buf)?.len())
}

fn entries(t: &TableState) -> usize {
    match t {
        TableState::Read(TableRead::Plain(t)) => t.entries().len(),
        other => panic!("table not read: {other:?}"),
    }
}

#[test]
fn healthy_dump_reads_the_real_tables_and_mounts() {
    let img = dump("healthy");
    let (flash, tables) = chip(img.clone(), true);
    // The primary table is stored encrypted: read decrypted, it is ESP-AT's real table.
    assert_eq!(entries(&tables.primary), 6);
    assert_eq!(entries(&tables.secondary), 2);
    let r = flash.regions();
    for (at, want) in [
        (0x0, Access::Decrypted),     // bootloader
        (0x8000, Access::Decrypted),  // primary table
        (0xD000, Access::Decrypted),  // otadata
        (0xF000, Access::Raw),        // phy_init
        (0x10000, Access::Raw),       // nvs (settings)
        (0x1E000, Access::Raw),       // at_customize: ESP-AT reads it plain
        (0x1F000, Access::Raw),       // mfg_nvs: not flagged
        (0x47000, Access::Raw),       // fs_storage
        (0x60000, Access::Decrypted), // ota_0
        (0x230000, Access::Decrypted),
    ] {
        assert_eq!(r.access_at(at), want, "0x{at:x}");
    }
    assert_eq!(
        r.to_string(),
        "0x0..0x8000 bootloader, 0x8000..0x9000 partition table, 0xd000..0xf000 otadata, \
         0x60000..0x230000 ota_0, 0x230000..0x400000 ota_1"
    );

    let mut s = MfgStorage::whole_flash(flash, None, None);
    assert_eq!(s.unreadable(), None, "{}", s.detail());
    // Not assumed any more: the table the bootloader read.
    assert!(!s.primary_assumed(), "{}", s.detail());
    assert!(s.detail().contains("mfg_nvs at 0x1f000"), "{}", s.detail());
    assert!(server_cert(&mut s).unwrap() > 500);
    assert_eq!(FactoryUart::read(&mut s).unwrap().check(), Ok(C3_MINI_1));
    s.flash().with(|f| {
        let st = f.ops().stats();
        assert!(st.decrypted_reads > 0 && st.raw_reads > 0, "{st:?}");
        assert_eq!((st.raw_programs, st.encrypted_programs, st.erases), (0, 0, 0), "{st:?}");
        assert!(f.ops().data() == &img[..], "image changed");
    });
}

/// What milestone 1 did (everything raw, flash encryption on): the table is ciphertext and
/// had to be assumed.
#[test]
fn raw_reads_of_the_same_dump_must_assume_the_table() {
    let flash =
        RoutedFlash::new(EmulatedFlash::new(dump("healthy"), Some(flash_key())), FlashRegions::new(false));
    let s = MfgStorage::whole_flash(flash, None, None);
    assert_eq!(s.unreadable(), None, "{}", s.detail());
    assert!(s.primary_assumed());
}

#[test]
fn seed_dump_is_diagnosed_not_emptied() {
    let img = dump("seed");
    let (flash, tables) = chip(img.clone(), true);
    assert_eq!(entries(&tables.primary), 6);
    assert!(
        matches!(tables.secondary, TableState::Read(TableRead::Unreadable { looks_encrypted: true, .. })),
        "{:?}",
        tables.secondary
    );
    assert_eq!(tables.secondary.to_string(), "unreadable: looks flash-encrypted but is read raw");
    let mut s = MfgStorage::whole_flash(flash, None, None);
    assert_eq!(s.unreadable(), Some(Unreadable::SecondaryTableUnreadable), "{}", s.detail());
    assert!(s.detail().contains("at_customize at 0x1e000"), "{}", s.detail());
    assert_eq!(server_cert(&mut s), Err(KvError::Unreadable(Unreadable::SecondaryTableUnreadable)));
    s.flash().with(|f| assert!(f.ops().data() == &img[..], "image changed"));
}

#[test]
fn second_hazard_encrypted_mfg_nvs_read_as_plain() {
    let img = dump("second_hazard");
    let (flash, tables) = chip(img.clone(), true);
    assert_eq!(entries(&tables.secondary), 2);
    assert_eq!(flash.regions().access_at(0x1F000), Access::Raw);
    let mut s = MfgStorage::whole_flash(flash, None, None);
    assert_eq!(s.unreadable(), Some(Unreadable::FlashEncryptedReadAsPlain), "{}", s.detail());
    assert!(s.detail().contains("mfg_nvs at 0x1f000"), "{}", s.detail());
    assert_eq!(server_cert(&mut s), Err(KvError::Unreadable(Unreadable::FlashEncryptedReadAsPlain)));
    s.flash().with(|f| assert!(f.ops().data() == &img[..], "image changed"));
}

#[test]
fn no_flash_encryption_is_all_raw() {
    let (flash, tables) = chip(dump("no_flash_encryption"), false);
    assert_eq!(entries(&tables.primary), 6);
    assert_eq!(flash.regions().to_string(), "none");
    let mut s = MfgStorage::whole_flash(flash, None, None);
    assert_eq!(s.unreadable(), None, "{}", s.detail());
    assert!(server_cert(&mut s).unwrap() > 500);
    s.flash().with(|f| assert_eq!(f.ops().stats().decrypted_reads, 0));
}

/// The healthy dump, with `mfg_nvs` flagged `encrypted` in the secondary table and written
/// encrypted (what `idf.py encrypted-flash` does for a flagged partition).
fn flagged_image() -> Vec<u8> {
    let key = flash_key();
    let mut img = dump("healthy");
    let mut entries = PartitionTable::parse(&fixture("flash/inputs/tables/at_customize.bin"), None)
        .unwrap()
        .entries()
        .to_vec();
    entries[0].flags = Flags(Flags::ENCRYPTED);
    assert!(entries[0].label.matches("mfg_nvs"));
    let table = PartitionTable::new(entries).unwrap().to_bytes(true).unwrap();
    img[0x1E000..0x1F000].fill(0xFF);
    img[0x1E000..0x1E000 + table.len()].copy_from_slice(&table);
    let mut mfg = fixture("nvs/mfg_nvs_plain_124k.bin");
    assert_eq!(mfg.len(), 0x1F000);
    key.encrypt(0x1F000, &mut mfg).unwrap();
    img[0x1F000..0x3E000].copy_from_slice(&mfg);
    img
}

#[test]
fn flagged_mfg_nvs_reads_decrypted_and_refuses_nvs_updates() {
    let img = flagged_image();
    let (flash, tables) = chip(img.clone(), true);
    assert_eq!(entries(&tables.secondary), 2);
    assert_eq!(flash.regions().access_at(0x1F000), Access::Decrypted);
    assert_eq!(flash.regions().access_at(0x1E000), Access::Raw);
    assert_eq!(flash.regions().region_at(0x3DFFF).unwrap().label(), "mfg_nvs");
    let mut s = MfgStorage::whole_flash(flash, None, None);
    assert_eq!(s.unreadable(), None, "{}", s.detail());
    assert!(server_cert(&mut s).unwrap() > 500);
    // NVS's in-place updates cannot happen under flash encryption: refused, nothing changed.
    let refused = s.set("x", "y", Value::U8(1));
    assert!(matches!(refused, Err(KvError::Flash)), "{refused:?}");
    s.flash().with(|f| assert!(f.ops().data() == &img[..], "image changed"));
}

#[test]
fn writes_into_an_encrypted_range() {
    let (mut flash, _) = chip(flagged_image(), true);
    let last = 0x3D000; // the last sector of mfg_nvs
    flash.erase(last, last + 0x1000).unwrap();
    let data: Vec<u8> = (0..64u8).collect();
    flash.write(last, &data).unwrap();
    let mut back = [0u8; 64];
    flash.read(last, &mut back).unwrap();
    assert_eq!(&back[..], &data[..]);
    assert_ne!(&flash.ops().data()[last as usize..last as usize + 64], &data[..], "stored encrypted");
    assert_eq!(flash.ops().stats().encrypted_programs, 1);

    // Whole 32-byte blocks only, and only into erased flash; refused writes change nothing.
    let before = flash.ops().data().to_vec();
    assert_eq!(
        flash.write(last + 64, &[0; 16]),
        Err(RoutedError::EncryptedWriteNotAligned { offset: last + 64 })
    );
    assert_eq!(
        flash.write(last + 68, &[0; 32]),
        Err(RoutedError::EncryptedWriteNotAligned { offset: last + 68 })
    );
    assert_eq!(flash.write(last, &[0; 32]), Err(RoutedError::NotErased { offset: last }));
    assert_eq!(
        flash.write(last + 64, &[0; 64]).and(flash.write(last + 32, &[1; 64])),
        Err(RoutedError::NotErased { offset: last + 32 })
    );
    assert_eq!(&flash.ops().data()[..last as usize + 64], &before[..last as usize + 64]);

    // A write across the end of mfg_nvs: 32 bytes encrypted, 32 raw (at_customize).
    let end = 0x3E000u32;
    flash.erase(end, end + 0x1000).unwrap();
    let tail = [0xA5u8; 64];
    flash.write(end - 32, &tail).unwrap();
    assert_eq!(&flash.ops().data()[end as usize..end as usize + 32], &tail[32..]);
    assert_ne!(&flash.ops().data()[end as usize - 32..end as usize], &tail[..32]);
    let mut back = [0u8; 64];
    flash.read(end - 32, &mut back).unwrap();
    assert_eq!(back, tail);

    // Raw ranges keep NOR rules and 4-byte units.
    assert_eq!(flash.write(0x10001, &[0; 4]), Err(RoutedError::NotAligned));
    assert_eq!(flash.read(0x3FFFFC, &mut [0; 8]), Err(RoutedError::OutOfBounds));
    assert_eq!(flash.erase(0x1000, 0x1800), Err(RoutedError::NotAligned));
    assert_eq!(flash.capacity(), 0x40_0000);
}

#[test]
fn a_view_of_a_decrypted_partition_reads_plaintext() {
    let (flash, _) = chip(flagged_image(), true);
    let mut v = PartitionView::new(flash, 0x1F000, 0x1F000).unwrap();
    let mut head = [0u8; 32];
    v.read(0, &mut head).unwrap();
    let plain = fixture("nvs/mfg_nvs_plain_124k.bin");
    assert_eq!(&head[..], &plain[..32]);
}

/// A device with the core on the mock platform and `mfg` as its manufacturing store.
fn sysmfg_reply(mfg: MfgStorage<'static, Routed>) -> String {
    let mut now = Instant::from_millis(0);
    let p = MockPlatform::with_stores(vec![], MemKv::new(), mfg);
    let mut fw = Firmware::new(p, Options::default(), now);
    let mut out = String::new();
    for cmd in ["ATE0\r\n", "AT+SYSLOG=1\r\n", "AT+SYSMFG=1,\"server_cert\",\"server_cert\"\r\n"] {
        out.clear();
        assert_eq!(fw.receive(cmd.as_bytes(), now), cmd.len());
        for _ in 0..10 {
            now = now + Duration::from_millis(1);
            fw.poll(now);
        }
        let mut b = vec![0u8; fw.tx_len()];
        let n = fw.transmit(&mut b);
        out.push_str(&String::from_utf8_lossy(&b[..n]));
    }
    out
}

#[test]
fn sysmfg_reports_the_seed_cases_over_the_routed_flash() {
    let (flash, _) = chip(dump("second_hazard"), true);
    let out = sysmfg_reply(MfgStorage::whole_flash(flash, None, None));
    assert!(out.contains("mfg_nvs: partition is flash-encrypted but read as plain"), "{out}");
    assert!(out.ends_with("ERR CODE:0x010a0103\r\n\r\nERROR\r\n"), "{out}");

    let (flash, _) = chip(dump("seed"), true);
    let out = sysmfg_reply(MfgStorage::whole_flash(flash, None, None));
    assert!(out.contains("secondary partition table (start of at_customize) is unreadable"), "{out}");
    assert!(out.ends_with("ERR CODE:0x010a0102\r\n\r\nERROR\r\n"), "{out}");

    let (flash, _) = chip(dump("healthy"), true);
    let out = sysmfg_reply(MfgStorage::whole_flash(flash, None, None));
    assert!(out.starts_with("+SYSMFG:\"server_cert\",\"server_cert\",8,"), "{out}");
}

/// A write that starts raw and ends in a decrypted range that is not erased changes nothing.
#[test]
fn mixed_write_is_checked_before_anything_is_programmed() {
    let (mut flash, _) = chip(flagged_image(), true);
    // 0x1EFE0..0x1F000 is at_customize (raw, erased after the table), 0x1F000.. is mfg_nvs
    // (decrypted, holding NVS page headers: not erased).
    let before = flash.ops().data().to_vec();
    assert_eq!(flash.write(0x1EFE0, &[0u8; 64]), Err(RoutedError::NotErased { offset: 0x1F000 }));
    assert!(flash.ops().data() == &before[..]);
    assert_eq!(flash.ops().stats().raw_programs, 0);
}
