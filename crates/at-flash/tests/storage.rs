//! `MfgStorage` on the whole-flash dumps and on partition images: what the firmware's
//! AT+SYSMFG/AT+SYSFLASH see, and that an unreadable partition is never written.

mod common;
use at_flash::MfgStorage;
use at_hal::kv::{Kv, KvError, Unreadable, Value};
use at_hal::storage::{MfgStore, PartitionError, UserPartitions};
use at_mock::flash::MockFlash;
use common::{fixture, flash_key};

fn dump(name: &str) -> Vec<u8> {
    fixture(&format!("dumps/{name}.bin.gz"))
}

fn nvs_fixture(name: &str) -> Vec<u8> {
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/nvs").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn server_cert(s: &mut impl Kv) -> Result<usize, KvError> {
    let mut buf = vec![0u8; 8192];
    Ok(s.get("server_cert", "server_cert", &mut buf)?.len())
}

#[test]
fn healthy_dump_mounts_and_lists_user_partitions() {
    for key in [None, Some(flash_key())] {
        let mut s = MfgStorage::whole_flash(MockFlash::from_image(dump("healthy")), key.as_ref(), None);
        assert_eq!(s.unreadable(), None, "{}", s.detail());
        assert!(server_cert(&mut s).unwrap() > 500);
        let mut labels = Vec::new();
        s.for_each_partition(&mut |p| labels.push((p.label().to_owned(), p.offset))).unwrap();
        assert_eq!(labels, [("mfg_nvs".to_owned(), 0x1f000), ("fs_storage".to_owned(), 0x47000)]);
        assert!(s.detail().contains("mfg_nvs at 0x1f000"), "{}", s.detail());
    }
}

#[test]
fn read_only_mount_reads_and_never_writes() {
    let img = dump("healthy");
    let mut s = MfgStorage::whole_flash_read_only(MockFlash::from_image(img.clone()), None, None);
    assert_eq!(s.unreadable(), None, "{}", s.detail());
    assert!(s.detail().contains("read-only"), "{}", s.detail());
    assert!(server_cert(&mut s).unwrap() > 500);
    assert_eq!(s.set("x", "y", Value::U8(1)), Err(KvError::ReadOnly));
    s.flash().with(|f| {
        assert_eq!((f.stats().writes, f.stats().erases), (0, 0));
        assert!(f.data() == &img[..], "image changed");
    });
}

#[test]
fn seed_dump_is_diagnosed_and_never_written() {
    let img = dump("seed");
    for key in [None, Some(flash_key())] {
        let mut s = MfgStorage::whole_flash(MockFlash::from_image(img.clone()), key.as_ref(), None);
        assert_eq!(s.unreadable(), Some(Unreadable::SecondaryTableUnreadable), "{}", s.detail());
        assert!(s.detail().contains("at_customize at 0x1e000"), "{}", s.detail());
        assert_eq!(server_cert(&mut s), Err(KvError::Unreadable(Unreadable::SecondaryTableUnreadable)));
        assert_eq!(
            s.set("x", "y", Value::U8(1)),
            Err(KvError::Unreadable(Unreadable::SecondaryTableUnreadable))
        );
        assert_eq!(
            s.for_each_partition(&mut |_| {}),
            Err(PartitionError::Unreadable(Unreadable::SecondaryTableUnreadable))
        );
        let flash = s.flash();
        flash.with(|f| {
            assert_eq!((f.stats().writes, f.stats().erases), (0, 0));
            assert!(f.data() == &img[..], "image changed");
        });
    }
}

#[test]
fn second_hazard_is_named_flash_encrypted() {
    let img = dump("second_hazard");
    let mut s = MfgStorage::whole_flash(MockFlash::from_image(img.clone()), None, None);
    assert_eq!(s.unreadable(), Some(Unreadable::FlashEncryptedReadAsPlain), "{}", s.detail());
    assert!(s.detail().contains("mfg_nvs at 0x1f000"), "{}", s.detail());
    assert_eq!(server_cert(&mut s), Err(KvError::Unreadable(Unreadable::FlashEncryptedReadAsPlain)));
    s.flash().with(|f| assert!(f.data() == &img[..]));
}

#[test]
fn partition_images_plain_encrypted_and_flash_encrypted() {
    let mut s = MfgStorage::partition_image(MockFlash::from_image(nvs_fixture("mfg_nvs_plain.bin")), None);
    assert_eq!(s.unreadable(), None, "{}", s.detail());
    assert!(server_cert(&mut s).unwrap() > 500);
    let fe = fixture("mfg_nvs.fe_0x1f000.bin");
    let s = MfgStorage::partition_image(MockFlash::from_image(fe.clone()), None);
    assert_eq!(s.unreadable(), Some(Unreadable::FlashEncryptedReadAsPlain), "{}", s.detail());
    s.flash().with(|f| assert!(f.data() == &fe[..]));
    let s = MfgStorage::partition_image(MockFlash::from_image(nvs_fixture("mfg_nvs_nvsenc.bin")), None);
    assert_eq!(s.unreadable(), Some(Unreadable::NvsKeysMissing), "{}", s.detail());
}

#[test]
fn sysflash_reprovisions_mfg_nvs_and_remounts() {
    let mut s = MfgStorage::whole_flash(MockFlash::from_image(dump("second_hazard")), None, None);
    assert_eq!(s.unreadable(), Some(Unreadable::FlashEncryptedReadAsPlain));
    // AT+SYSFLASH=0,"mfg_nvs" then AT+SYSFLASH=1,"mfg_nvs",0,<len> with a plain image.
    let plain = nvs_fixture("mfg_nvs_plain_124k.bin");
    UserPartitions::erase(&mut s, "mfg_nvs", 0, plain.len() as u32).unwrap();
    assert_eq!(server_cert(&mut s), Err(KvError::NotFound), "an erased partition mounts as an empty store");
    UserPartitions::erase(&mut s, "mfg_nvs", 0, plain.len() as u32).unwrap();
    for (i, chunk) in plain.chunks(4096).enumerate() {
        s.write("mfg_nvs", (i * 4096) as u32, chunk).unwrap();
    }
    assert_eq!(s.unreadable(), None, "{}", s.detail());
    assert!(server_cert(&mut s).unwrap() > 500);
    let mut back = vec![0u8; 64];
    s.read("mfg_nvs", 0, &mut back).unwrap();
    assert_eq!(back, plain[..64]);
    assert_eq!(UserPartitions::erase(&mut s, "mfg_nvs", 100, 4096), Err(PartitionError::Misaligned));
    assert_eq!(s.read("mfg_nvs", 0x1f000, &mut back), Err(PartitionError::OutOfRange));
    assert_eq!(s.read("nope", 0, &mut back), Err(PartitionError::NotFound));
}
