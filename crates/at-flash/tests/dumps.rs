//! Every whole-flash dump in `fixtures/flash/dumps/` diagnosed with and without the key, and
//! `mfg_nvs` located (or refused) the way ESP-AT's boot would; nothing is ever written.

mod common;
use at_flash::diagnose::{Finding, FlashEncryption, TableStatus};
use at_flash::layout::MFG_NVS;
use at_flash::xts::FlashKey;
use at_flash::{DiagnoseOptions, Diagnosis, LocateError, SliceFlash, diagnose, locate_mfg_nvs};
use at_hal::kv::Unreadable;
use at_mock::flash::MockFlash;
use at_nvs::Verdict;
use common::{fixture, flash_key};
use embedded_storage::nor_flash::ReadNorFlash;

fn dump(name: &str) -> Vec<u8> {
    fixture(&format!("dumps/{name}.bin.gz"))
}

/// Diagnose through a MockFlash and check that nothing was written or erased.
fn diag(name: &str, key: Option<&FlashKey>) -> Diagnosis {
    let img = dump(name);
    let mut flash = MockFlash::from_image(img.clone());
    let d = diagnose(&mut flash, DiagnoseOptions { flash_key: key, ..Default::default() }).unwrap();
    let stats = flash.stats();
    assert_eq!((stats.writes, stats.erases), (0, 0), "{name}: diagnosis wrote");
    assert!(flash.data() == &img[..], "{name}: image changed");
    // The human form names the partitions and the remedies.
    let text = d.to_string();
    for p in &d.problems {
        assert!(text.contains(p.remedy), "{name}: remedy missing from the report:\n{text}");
    }
    d
}

fn problem_kinds(d: &Diagnosis) -> Vec<(String, u32, Unreadable)> {
    d.problems.iter().map(|p| (p.partition.to_string(), p.offset, p.reason)).collect()
}

#[test]
fn healthy_dump_without_key_assumes_the_default_layout_and_finds_no_problem() {
    let d = diag("healthy", None);
    assert_eq!(d.flash_size, 0x40_0000);
    assert_eq!(d.flash_encryption, FlashEncryption::On);
    assert_eq!(d.primary.status, TableStatus::EncryptedKeyUnknown);
    assert!(d.primary.assumed_default);
    let s = d.secondary.as_ref().unwrap();
    assert_eq!((s.offset, s.status, s.assumed_default), (0x1E000, TableStatus::Plain { entries: 2 }, false));
    let mfg = d.partition(MFG_NVS).unwrap();
    assert!(!mfg.assumed, "the secondary table was read, so mfg_nvs's location is not assumed");
    assert_eq!(mfg.finding, Finding::Nvs { verdict: Verdict::PlainNvs, entries: 33 });
    assert_eq!(d.partition("otadata").unwrap().finding, Finding::EncryptedAsExpected { verified: false });
    assert!(d.is_healthy(), "{d}");
    assert_eq!(d.mfg_nvs, Ok(()));
}

#[test]
fn healthy_dump_with_key_reads_the_encrypted_primary_table() {
    let key = flash_key();
    let d = diag("healthy", Some(&key));
    assert_eq!(d.primary.status, TableStatus::Encrypted { entries: 6 });
    assert!(!d.primary.assumed_default && d.primary.read_decrypted);
    assert_eq!(d.partition("otadata").unwrap().finding, Finding::EncryptedAsExpected { verified: true });
    assert_eq!(
        d.partition(MFG_NVS).unwrap().finding,
        Finding::Nvs { verdict: Verdict::PlainNvs, entries: 33 }
    );
    assert!(d.partitions.iter().all(|p| !p.assumed));
    assert!(d.is_healthy(), "{d}");
}

#[test]
fn seed_dump_without_key_names_the_secondary_table_then_mfg_nvs() {
    let d = diag("seed", None);
    assert_eq!(d.secondary.as_ref().unwrap().status, TableStatus::EncryptedKeyUnknown);
    assert_eq!(
        problem_kinds(&d),
        vec![
            ("at_customize".into(), 0x1E000, Unreadable::SecondaryTableUnreadable),
            ("mfg_nvs".into(), 0x1F000, Unreadable::FlashEncryptedReadAsPlain),
        ]
    );
    // mfg_nvs's location is ESP-AT's default, since the real table is unreadable.
    assert!(d.problems[1].assumed_location && d.partition(MFG_NVS).unwrap().assumed);
    assert_eq!(
        d.partition(MFG_NVS).unwrap().finding,
        Finding::WrittenEncryptedReadPlain { confirmed_with_key: false }
    );
    // ESP-AT's boot stops at the secondary table (at param mode: 0).
    assert_eq!(d.mfg_nvs.unwrap_err().reason, Unreadable::SecondaryTableUnreadable);
    assert!(d.to_string().contains("at_customize at 0x1e000"));
}

#[test]
fn seed_dump_with_key_confirms_both() {
    let key = flash_key();
    let d = diag("seed", Some(&key));
    // The table decrypts: the decrypted table, not the default, locates mfg_nvs.
    assert_eq!(d.secondary.as_ref().unwrap().status, TableStatus::Encrypted { entries: 2 });
    assert!(!d.partition(MFG_NVS).unwrap().assumed);
    assert_eq!(
        d.partition(MFG_NVS).unwrap().finding,
        Finding::WrittenEncryptedReadPlain { confirmed_with_key: true }
    );
    assert_eq!(
        problem_kinds(&d),
        vec![
            ("at_customize".into(), 0x1E000, Unreadable::SecondaryTableUnreadable),
            ("mfg_nvs".into(), 0x1F000, Unreadable::FlashEncryptedReadAsPlain),
        ]
    );
    assert!(d.problems[0].detail.contains("confirmed with the key"));
}

#[test]
fn second_hazard_is_mfg_nvs_read_plain() {
    let key = flash_key();
    for k in [None, Some(&key)] {
        let d = diag("second_hazard", k);
        assert_eq!(d.secondary.as_ref().unwrap().status, TableStatus::Plain { entries: 2 });
        assert_eq!(
            problem_kinds(&d),
            vec![("mfg_nvs".into(), 0x1F000, Unreadable::FlashEncryptedReadAsPlain)]
        );
        let p = d.mfg_nvs.unwrap_err();
        assert_eq!(
            (p.reason, p.remedy),
            (Unreadable::FlashEncryptedReadAsPlain, Unreadable::FlashEncryptedReadAsPlain.remedy())
        );
        assert_eq!(
            d.partition(MFG_NVS).unwrap().finding,
            Finding::WrittenEncryptedReadPlain { confirmed_with_key: k.is_some() }
        );
    }
}

#[test]
fn no_flash_encryption_dump_is_plain_and_healthy() {
    let key = flash_key();
    for k in [None, Some(&key)] {
        let d = diag("no_flash_encryption", k);
        assert_eq!(d.flash_encryption, FlashEncryption::Off);
        assert_eq!(d.primary.status, TableStatus::Plain { entries: 6 });
        assert!(d.partitions.iter().all(|p| !p.read_decrypted && !p.assumed));
        assert_eq!(
            d.partition(MFG_NVS).unwrap().finding,
            Finding::Nvs { verdict: Verdict::PlainNvs, entries: 33 }
        );
        assert!(d.is_healthy(), "{d}");
    }
}

#[test]
fn locate_healthy_returns_a_view_with_the_plain_nvs() {
    let key = flash_key();
    let img = dump("healthy");
    let mut flash = MockFlash::from_image(img.clone());
    let m = locate_mfg_nvs(&mut flash, Some(&key)).unwrap();
    assert!(m.flash_encryption);
    assert_eq!((m.entry.offset, m.entry.size, m.at_customize.offset), (0x1F000, 0x1F000, 0x1E000));
    assert_eq!(m.content, Finding::Nvs { verdict: Verdict::PlainNvs, entries: 33 });
    let mut view = m.view;
    assert!(!view.is_decrypted());
    assert_eq!(view.capacity(), 0x1F000);
    let mut page = [0u8; 4096];
    view.read(0, &mut page).unwrap();
    assert_eq!(&page[..], &fixture("../nvs/mfg_nvs_plain_124k.bin")[..4096]);
    assert_eq!((flash.stats().writes, flash.stats().erases), (0, 0));
    assert!(flash.data() == &img[..]);
}

#[test]
fn locate_without_key_cannot_read_an_encrypted_primary_table() {
    let mut flash = MockFlash::from_image(dump("healthy"));
    match locate_mfg_nvs(&mut flash, None) {
        Err(e @ LocateError::PrimaryTableUnreadable { looks_encrypted: true, .. }) => {
            assert_eq!(e.unreadable(), Some(Unreadable::FlashEncryptedReadAsPlain));
        }
        other => panic!("unexpected {other:?}"),
    }
    // ...but given the table the bootloader read, it finds mfg_nvs.
    let primary = at_flash::layout::esp_at_c3_default_primary();
    let m = at_flash::locate_mfg_nvs_with_primary(&mut flash, &primary, true, None).unwrap();
    assert_eq!(m.content, Finding::Nvs { verdict: Verdict::PlainNvs, entries: 33 });
}

#[test]
fn locate_seed_is_secondary_table_unreadable() {
    let key = flash_key();
    let primary = at_flash::layout::esp_at_c3_default_primary();
    for k in [None, Some(&key)] {
        let mut flash = MockFlash::from_image(dump("seed"));
        let err = match k {
            Some(k) => locate_mfg_nvs(&mut flash, Some(k)).unwrap_err(),
            None => at_flash::locate_mfg_nvs_with_primary(&mut flash, &primary, true, None).unwrap_err(),
        };
        match err {
            LocateError::Unreadable { partition, offset, reason, detail } => {
                assert_eq!((partition.to_string().as_str(), offset), ("at_customize", 0x1E000));
                assert_eq!(reason, Unreadable::SecondaryTableUnreadable);
                assert_eq!(detail.contains("confirmed"), k.is_some(), "{detail}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().contains(Unreadable::SecondaryTableUnreadable.remedy()));
        assert_eq!((flash.stats().writes, flash.stats().erases), (0, 0));
    }
}

#[test]
fn locate_second_hazard_is_flash_encrypted_read_as_plain() {
    let key = flash_key();
    let mut flash = MockFlash::from_image(dump("second_hazard"));
    let err = locate_mfg_nvs(&mut flash, Some(&key)).unwrap_err();
    assert!(matches!(
        err,
        LocateError::Unreadable { offset: 0x1F000, reason: Unreadable::FlashEncryptedReadAsPlain, .. }
    ));
    assert_eq!(err.remedy(), Unreadable::FlashEncryptedReadAsPlain.remedy());
    let primary = at_flash::layout::esp_at_c3_default_primary();
    let err = at_flash::locate_mfg_nvs_with_primary(&mut flash, &primary, true, None).unwrap_err();
    assert_eq!(err.unreadable(), Some(Unreadable::FlashEncryptedReadAsPlain));
    assert_eq!((flash.stats().writes, flash.stats().erases), (0, 0));
}

#[test]
fn locate_no_flash_encryption() {
    let mut flash = MockFlash::from_image(dump("no_flash_encryption"));
    let m = locate_mfg_nvs(&mut flash, None).unwrap();
    assert!(!m.flash_encryption && !m.view.is_decrypted());
    assert_eq!(m.content, Finding::Nvs { verdict: Verdict::PlainNvs, entries: 33 });
}

#[test]
fn slice_flash_gives_the_same_diagnosis() {
    let key = flash_key();
    let img = dump("seed");
    let a = diagnose(&mut SliceFlash(&img), DiagnoseOptions { flash_key: Some(&key), ..Default::default() })
        .unwrap();
    let b = diag("seed", Some(&key));
    assert_eq!(a.to_string(), b.to_string());
}

#[test]
fn locate_and_the_diagnosis_report_mfg_nvs_in_the_same_words() {
    // One vocabulary: where the boot-time lookup refuses a partition, the dump diagnosis names
    // the same partition, cause and detail for mfg_nvs's boot path.
    let key = flash_key();
    let mut compared = 0;
    for name in ["healthy", "no_flash_encryption", "second_hazard", "seed"] {
        for k in [None, Some(&key)] {
            let d = diag(name, k);
            let mut flash = MockFlash::from_image(dump(name));
            match locate_mfg_nvs(&mut flash, k) {
                Ok(_) => assert!(d.mfg_nvs.is_ok(), "{name}: {d}"),
                Err(LocateError::Unreadable { partition, offset, reason, detail }) => {
                    let p = d.mfg_nvs.unwrap_err();
                    assert_eq!(
                        (p.partition, p.offset, p.reason, p.detail),
                        (partition, offset, reason, detail)
                    );
                    compared += 1;
                }
                // The primary table is stored encrypted and no key was given: locate needs the
                // bootloader's table, the diagnosis assumes ESP-AT's default.
                Err(LocateError::PrimaryTableUnreadable { looks_encrypted: true, .. }) => {
                    assert!(k.is_none())
                }
                Err(e) => panic!("{name}: {e}"),
            }
        }
    }
    assert!(compared >= 2, "the seed and second-hazard dumps are refused with the key");
}
