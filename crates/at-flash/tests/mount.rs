//! With the flash-encryption key, encrypted partitions read and their NVS stores mount
//! (`at_nvs::Nvs`); without it they are refused with the precise diagnosis — and nothing is
//! written either way.

mod common;
use at_flash::Finding;
use at_flash::layout::{MFG_NVS, esp_at_c3_default_primary};
use at_flash::table::{Flags, PRIMARY_TABLE_OFFSET, PartitionTable};
use at_flash::{
    DecryptedView, DiagnoseOptions, LocateError, MountView, NvsKeys, PartitionView, SliceFlash, diagnose,
    locate_mfg_nvs,
};
use at_hal::kv::{KvError, Unreadable, Value};
use at_mock::flash::MockFlash;
use at_nvs::{Nvs, Verdict};
use common::{fixture, flash_key};
use embedded_storage::nor_flash::{NorFlash, ReadNorFlash};

fn nvs_keys() -> NvsKeys {
    NvsKeys::from_partition(&fixture("../nvs/keys/nvs_keys.bin")).unwrap()
}

/// The ESP-AT mfg_nvs values every image built from `fixtures/nvs/csv/mfg_nvs.csv` holds.
fn check_mfg_nvs<F: ReadNorFlash>(nvs: &mut Nvs<F>) {
    let mut buf = vec![0u8; 4096];
    assert_eq!(nvs.get("factory_param", "module_name", &mut buf).unwrap(), Value::Str(b"MINI-1"));
    assert_eq!(nvs.get("factory_param", "uart_baudrate", &mut buf).unwrap(), Value::I32(115200));
    let cert = fixture("../nvs/pem/server_cert.pem");
    assert_eq!(nvs.get("server_cert", "server_cert", &mut buf).unwrap(), Value::Blob(&cert[..]));
}

fn untouched(flash: &MockFlash, img: &[u8]) {
    assert_eq!((flash.stats().writes, flash.stats().erases), (0, 0));
    assert!(flash.data() == img);
}

#[test]
fn healthy_mfg_nvs_mounts_through_the_located_view() {
    let key = flash_key();
    let img = fixture("dumps/healthy.bin.gz");
    let mut flash = MockFlash::from_image(img.clone());
    let m = locate_mfg_nvs(&mut flash, Some(&key)).unwrap();
    let mut nvs = Nvs::mount_read_only(m.view, None).unwrap();
    check_mfg_nvs(&mut nvs);
    drop(nvs);
    untouched(&flash, &img);
}

#[test]
fn seed_mfg_nvs_mounts_only_through_the_decrypting_view() {
    let key = flash_key();
    let img = fixture("dumps/seed.bin.gz");
    let mut flash = MockFlash::from_image(img.clone());
    // As the chip reads it (plain): at-nvs refuses with the same diagnosis, and does not format.
    let raw = PartitionView::new(&mut flash, 0x1F000, 0x1F000).unwrap();
    match Nvs::mount_read_only(raw, None) {
        Err(KvError::Unreadable(u)) => assert_eq!(u, Unreadable::FlashEncryptedReadAsPlain),
        other => panic!("{:?}", other.map(|_| ())),
    }
    // With the key: the store is all there.
    let view = DecryptedView::new(&mut flash, 0x1F000, 0x1F000, &key).unwrap();
    let mut nvs = Nvs::mount_read_only(view, None).unwrap();
    check_mfg_nvs(&mut nvs);
    drop(nvs);
    untouched(&flash, &img);
}

#[test]
fn nvs_encrypted_and_flash_encrypted_image_mounts_with_both_keys() {
    let key = flash_key();
    let mut img = vec![0xFFu8; 0x30000];
    img[0x21000..0x27000].copy_from_slice(&fixture("single_ns_nvsenc.fe_0x21000.bin"));
    let mut flash = MockFlash::from_image(img.clone());
    let keys = nvs_keys();
    let view = DecryptedView::new(&mut flash, 0x21000, 0x6000, &key).unwrap();
    let mut nvs = Nvs::mount_read_only(view, Some(&keys)).unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(nvs.get("at_certs", "module_name", &mut buf).unwrap(), Value::Str(b"ESP32C3-TEST"));
    assert_eq!(nvs.get("at_certs", "uart_baud", &mut buf).unwrap(), Value::U32(115200));
    drop(nvs);
    // Decrypted but without NVS keys: at-nvs says keys missing.
    let view = DecryptedView::new(&mut flash, 0x21000, 0x6000, &key).unwrap();
    assert!(matches!(Nvs::mount_read_only(view, None), Err(KvError::Unreadable(Unreadable::NvsKeysMissing))));
    untouched(&flash, &img);
}

/// A flash-encryption chip whose secondary table flags mfg_nvs `encrypted` and holds it
/// encrypted: the alternative fix the remedies name. The chip decrypts it, so it reads.
fn flagged_encrypted_flash() -> Vec<u8> {
    let key = flash_key();
    let mut img = vec![0xFFu8; 0x40_0000];
    let mut pt = esp_at_c3_default_primary().to_bytes(true).unwrap();
    key.encrypt(PRIMARY_TABLE_OFFSET, &mut pt).unwrap();
    img[0x8000..0x8C00].copy_from_slice(&pt);
    let mut sec = at_flash::layout::esp_at_c3_default_secondary().entries().to_vec();
    sec[0].flags = Flags(Flags::ENCRYPTED);
    let sec = PartitionTable::new(sec).unwrap().to_bytes(true).unwrap();
    img[0x1E000..0x1EC00].copy_from_slice(&sec);
    img[0x1F000..0x3E000].copy_from_slice(&fixture("mfg_nvs.fe_0x1f000.bin"));
    img
}

#[test]
fn mfg_nvs_flagged_encrypted_is_located_decrypted_and_read_only() {
    let key = flash_key();
    let img = flagged_encrypted_flash();
    let mut flash = MockFlash::from_image(img.clone());
    let m = locate_mfg_nvs(&mut flash, Some(&key)).unwrap();
    assert!(m.view.is_decrypted() && m.entry.flags.encrypted());
    assert_eq!(m.content, Finding::Nvs { verdict: Verdict::PlainNvs, entries: 33 });
    let mut view = m.view;
    // NVS cannot update in place under XTS: the decrypted mount view refuses writes.
    assert!(view.write(0, &[0; 4]).is_err() && view.erase(0, 4096).is_err());
    let mut nvs = Nvs::mount_read_only(view, None).unwrap();
    check_mfg_nvs(&mut nvs);
    drop(nvs);
    untouched(&flash, &img);

    // Without the key, the primary table cannot be read; with the bootloader's table but no
    // key, the flagged partition needs the key.
    let primary = esp_at_c3_default_primary();
    let err = at_flash::locate_mfg_nvs_with_primary(&mut flash, &primary, true, None).unwrap_err();
    assert!(matches!(err, LocateError::KeyRequired { offset: 0x1F000, .. }), "{err:?}");

    // The diagnosis agrees: encrypted as the chip expects, verified with the key.
    let d = diagnose(&mut SliceFlash(&img), DiagnoseOptions { flash_key: Some(&key), ..Default::default() })
        .unwrap();
    let r = d.partition(MFG_NVS).unwrap();
    assert!(r.read_decrypted);
    assert_eq!(r.finding, Finding::Nvs { verdict: Verdict::PlainNvs, entries: 33 });
    assert!(d.is_healthy(), "{d}");
    let d = diagnose(&mut SliceFlash(&img), DiagnoseOptions::default()).unwrap();
    assert_eq!(d.partition(MFG_NVS).unwrap().finding, Finding::EncryptedAsExpected { verified: false });
    assert!(d.is_healthy(), "{d}");
}

#[test]
fn plain_nvs_in_a_partition_the_chip_decrypts_is_the_opposite_mistake() {
    let key = flash_key();
    let mut img = flagged_encrypted_flash();
    img[0x1F000..0x3E000].copy_from_slice(&fixture("../nvs/mfg_nvs_plain_124k.bin"));
    for k in [None, Some(&key)] {
        let d =
            diagnose(&mut SliceFlash(&img), DiagnoseOptions { flash_key: k, ..Default::default() }).unwrap();
        assert_eq!(d.partition(MFG_NVS).unwrap().finding, Finding::WrittenPlainReadDecrypted);
        let p = d.mfg_nvs.unwrap_err();
        assert_eq!(p.reason, Unreadable::Garbage);
        assert!(p.remedy.contains("--encrypt"));
    }
    let mut flash = MockFlash::from_image(img);
    let err = locate_mfg_nvs(&mut flash, Some(&key)).unwrap_err();
    assert_eq!(err.unreadable(), Some(Unreadable::Garbage));
    assert!(err.remedy().contains("--encrypt"));
}

#[test]
fn nvs_encrypted_mfg_nvs_keys_missing_wrong_ok() {
    // The healthy layout with an NVS-encrypted mfg_nvs (plain as far as flash encryption goes).
    let mut img = fixture("dumps/no_flash_encryption.bin.gz");
    img[0x1F000..0x3E000].fill(0xFF);
    img[0x1F000..0x25000].copy_from_slice(&fixture("../nvs/mfg_nvs_nvsenc.bin"));
    let right = nvs_keys();
    let wrong = NvsKeys::from_bytes(&[3; 64]);
    for (keys, keys_ok) in [(None, None), (Some(&wrong), Some(false)), (Some(&right), Some(true))] {
        let d = diagnose(&mut SliceFlash(&img), DiagnoseOptions { nvs_keys: keys, ..Default::default() })
            .unwrap();
        let f = d.partition(MFG_NVS).unwrap().finding;
        let Finding::Nvs { verdict, entries } = f else { panic!("{f:?}") };
        // The finding embeds at-nvs's verdict, and its diagnosis is the verdict's.
        assert_eq!(verdict, Verdict::NvsEncrypted { keys_ok });
        assert_eq!(f.unreadable(), verdict.unreadable());
        match keys_ok {
            Some(true) => {
                assert!(entries > 0);
                assert!(d.is_healthy(), "{d}");
            }
            _ => {
                assert_eq!(entries, 0);
                let want =
                    if keys_ok.is_none() { Unreadable::NvsKeysMissing } else { Unreadable::NvsKeysWrong };
                assert_eq!(d.mfg_nvs.unwrap_err().reason, want);
            }
        }
    }
    // locate hands it over (no NVS keys there): the mount decides with the keys.
    let mut flash = MockFlash::from_image(img);
    let m = locate_mfg_nvs(&mut flash, None).unwrap();
    assert_eq!(m.content, Finding::Nvs { verdict: Verdict::NvsEncrypted { keys_ok: None }, entries: 0 });
    let MountView::Plain(view) = m.view else { panic!("plain expected") };
    let mut nvs = Nvs::mount_read_only(view, Some(&right)).unwrap();
    check_mfg_nvs(&mut nvs);
}
