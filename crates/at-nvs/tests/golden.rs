//! Golden tests against images made by Espressif's `esp-idf-nvs-partition-gen` 0.3.0
//! (`fixtures/gen-nvs.sh`): every value reads back, classification numbers, key derivation,
//! and the runtime writer reproducing the tool's bytes.

mod common;

use at_hal::kv::{KvError, Unreadable};
use at_mock::flash::MockFlash;
use at_nvs::{Nvs, NvsKeys, Verdict, classify};
use common::{Expected, assert_contents, fixture};

fn keys() -> NvsKeys {
    NvsKeys::from_partition(&fixture("keys/nvs_keys.bin")).expect("keys file")
}

fn hmac_keys() -> NvsKeys {
    NvsKeys::from_hmac_key(&fixture("keys/hmac_key.bin"))
}

fn cases() -> Vec<(&'static str, Expected, Option<NvsKeys>)> {
    vec![
        ("single_ns_plain.bin", common::single_ns(), None),
        ("single_ns_plain_v1.bin", common::single_ns(), None),
        ("multipage_plain.bin", common::multipage(), None),
        ("all_types_plain.bin", common::all_types(), None),
        ("all_types_v1.bin", common::all_types(), None),
        ("mfg_nvs_plain.bin", common::mfg_nvs(), None),
        ("mfg_nvs_plain_124k.bin", common::mfg_nvs(), None),
        ("single_ns_nvsenc.bin", common::single_ns(), Some(keys())),
        ("multipage_nvsenc.bin", common::multipage(), Some(keys())),
        ("all_types_nvsenc.bin", common::all_types(), Some(keys())),
        ("mfg_nvs_nvsenc.bin", common::mfg_nvs(), Some(keys())),
        ("single_ns_nvsenc_hmac.bin", common::single_ns(), Some(hmac_keys())),
    ]
}

#[test]
fn every_value_of_every_fixture_reads_back() {
    for (name, want, keys) in cases() {
        let image = fixture(name);
        let mut ro = Nvs::mount_read_only(MockFlash::from_image(image.clone()), keys.as_ref())
            .unwrap_or_else(|e| panic!("{name}: read-only mount: {e}"));
        assert_contents(&mut ro, &want, name);

        // A read-write mount of a generator image has nothing to repair: no write, no erase.
        let mut flash = MockFlash::from_image(image.clone());
        let mut rw = Nvs::mount(&mut flash, keys.as_ref()).unwrap_or_else(|e| panic!("{name}: mount: {e}"));
        assert_contents(&mut rw, &want, name);
        drop(rw);
        assert_eq!(flash.stats().writes + flash.stats().erases, 0, "{name}: mount wrote");
        assert_eq!(flash.data(), &image[..], "{name}");
    }
}

#[test]
fn multipage_blob_really_spans_pages() {
    let image = fixture("multipage_plain.bin");
    // ca_bundle (4920 bytes) cannot fit one page: the tool wrote two BLOB_DATA chunks.
    let chunks = image.chunks(32).filter(|e| e[1] == 0x42 && &e[8..17] == b"ca_bundle").count();
    assert_eq!(chunks, 2);
    let mut nvs = Nvs::mount_read_only(MockFlash::from_image(image), None).unwrap();
    assert_eq!(nvs.info("at_certs", "ca_bundle").unwrap().len, 4920);
}

#[test]
fn v1_images_use_legacy_blobs() {
    let image = fixture("single_ns_plain_v1.bin");
    assert_eq!(image[8], 0xFF, "version byte of format v1");
    let item = |ty: u8| image.chunks(32).any(|e| e[1] == ty && &e[8..20] == b"server_cert\0");
    assert!(item(0x41), "a legacy BLOB item");
    assert!(!item(0x48) && !item(0x42), "no BLOB_IDX or BLOB_DATA");
}

#[test]
fn hmac_derivation_matches_the_generator() {
    assert_eq!(hmac_keys().to_partition_image().to_vec(), fixture("keys/nvs_keys_hmac.bin"));
    assert_eq!(keys().to_partition_image().to_vec(), fixture("keys/nvs_keys.bin"));
}

#[test]
fn classification_numbers() {
    let c = classify(&mut MockFlash::from_image(fixture("single_ns_plain.bin")), None).unwrap();
    assert_eq!(
        (c.verdict, c.pages, c.blank_pages, c.valid_headers, c.crc_ok_entries),
        (Verdict::PlainNvs, 6, 5, 1, 12)
    );
    assert!(c.entropy > 1.0 && c.entropy < 3.0, "{}", c.entropy);

    let mut enc = MockFlash::from_image(fixture("single_ns_nvsenc.bin"));
    let c = classify(&mut enc, None).unwrap();
    assert_eq!(
        (c.verdict, c.blank_pages, c.valid_headers, c.crc_ok_entries),
        (Verdict::NvsEncrypted { keys_ok: None }, 5, 1, 0)
    );
    assert_eq!(c.written_entries, 125);
    let c = classify(&mut enc, Some(&keys())).unwrap();
    assert_eq!((c.verdict, c.crc_ok_decrypted), (Verdict::NvsEncrypted { keys_ok: Some(true) }, Some(12)));
    let c = classify(&mut enc, Some(&hmac_keys())).unwrap();
    assert_eq!((c.verdict, c.crc_ok_decrypted), (Verdict::NvsEncrypted { keys_ok: Some(false) }, Some(0)));

    let c = classify(&mut MockFlash::new(0x6000), None).unwrap();
    assert_eq!((c.verdict, c.blank_pages, c.valid_headers, c.entropy), (Verdict::Blank, 6, 0, 0.0));

    let c = classify(&mut MockFlash::from_image(fixture("mfg_nvs_plain_124k.bin")), None).unwrap();
    assert_eq!((c.verdict, c.pages, c.valid_headers), (Verdict::PlainNvs, 31, 2));
}

/// Encrypt every 16-byte block of an image with AES-XTS at its flash address, the way the
/// C3's flash encryption turns a plaintext image into ciphertext (the exact algorithm does not
/// matter for detection; the fixtures made with espsecure are checked in at-flash).
fn pseudo_flash_encrypt(image: &[u8]) -> Vec<u8> {
    use aes::cipher::{Array, KeyInit};
    let c1 = aes::Aes128::new(&Array([0x42; 16]));
    let c2 = aes::Aes128::new(&Array([0x24; 16]));
    let xts = xts_mode::Xts128::new(c1, c2);
    let mut out = image.to_vec();
    xts.encrypt_area(&mut out, 128, 0x1F000 / 128, xts_mode::get_tweak_default);
    out
}

#[test]
fn flash_encrypted_partition_is_refused_and_left_alone() {
    for name in ["single_ns_plain.bin", "mfg_nvs_plain_124k.bin", "single_ns_nvsenc.bin"] {
        let ct = pseudo_flash_encrypt(&fixture(name));
        let c = classify(&mut MockFlash::from_image(ct.clone()), None).unwrap();
        assert_eq!(
            (c.verdict, c.blank_pages, c.valid_headers, c.crc_ok_entries),
            (Verdict::LooksFlashEncrypted, 0, 0, 0)
        );
        assert!(c.entropy > 7.9, "{name}: {}", c.entropy);
        for keys in [None, Some(keys())] {
            let mut flash = MockFlash::from_image(ct.clone());
            let err = Nvs::mount(&mut flash, keys.as_ref()).unwrap_err();
            assert_eq!(err, KvError::Unreadable(Unreadable::FlashEncryptedReadAsPlain), "{name}");
            assert_eq!(flash.stats().writes + flash.stats().erases, 0, "{name}: never formatted");
            assert_eq!(flash.data(), &ct[..]);
            let err = Nvs::mount_read_only(&mut flash, keys.as_ref()).unwrap_err();
            assert_eq!(err, KvError::Unreadable(Unreadable::FlashEncryptedReadAsPlain));
        }
    }
}

#[test]
fn garbage_is_refused() {
    let mut text = Vec::new();
    while text.len() < 0x6000 {
        text.extend_from_slice(b"this is not an NVS partition, just some text. ");
    }
    text.truncate(0x6000);
    let mut flash = MockFlash::from_image(text.clone());
    assert_eq!(classify(&mut flash, None).unwrap().verdict, Verdict::Garbage);
    assert_eq!(Nvs::mount(&mut flash, None).unwrap_err(), KvError::Unreadable(Unreadable::Garbage));
    assert_eq!(flash.data(), &text[..]);
    let mut zeros = MockFlash::from_image(vec![0; 0x3000]);
    assert_eq!(Nvs::mount(&mut zeros, None).unwrap_err(), KvError::Unreadable(Unreadable::Garbage));
    assert_eq!(zeros.stats().writes + zeros.stats().erases, 0);
}

#[test]
fn missing_and_wrong_keys_are_diagnosed() {
    let image = fixture("single_ns_nvsenc.bin");
    let mut flash = MockFlash::from_image(image.clone());
    assert_eq!(Nvs::mount(&mut flash, None).unwrap_err(), KvError::Unreadable(Unreadable::NvsKeysMissing));
    assert_eq!(
        Nvs::mount(&mut flash, Some(&hmac_keys())).unwrap_err(),
        KvError::Unreadable(Unreadable::NvsKeysWrong)
    );
    assert_eq!(
        Nvs::mount_read_only(&mut flash, None).unwrap_err(),
        KvError::Unreadable(Unreadable::NvsKeysMissing)
    );
    assert_eq!(flash.data(), &image[..]);
    // Keys given for a plain partition: nothing decrypts.
    let mut plain = MockFlash::from_image(fixture("single_ns_plain.bin"));
    assert_eq!(
        Nvs::mount(&mut plain, Some(&keys())).unwrap_err(),
        KvError::Unreadable(Unreadable::NvsKeysWrong)
    );
}

#[test]
fn newer_format_version_is_refused() {
    let mut image = fixture("single_ns_plain.bin");
    image[8] = 0xFD;
    let crc = at_nvs::crc::crc32(&image[4..28]);
    image[28..32].copy_from_slice(&crc.to_le_bytes());
    let mut flash = MockFlash::from_image(image.clone());
    assert_eq!(classify(&mut flash, None).unwrap().verdict, Verdict::NvsNewerVersion);
    assert_eq!(Nvs::mount(&mut flash, None).unwrap_err(), KvError::Unreadable(Unreadable::NvsNewerVersion));
    assert_eq!(flash.data(), &image[..]);
}

/// Writing the CSV's values through `Kv::set` in CSV order onto a blank partition gives the
/// tool's image byte for byte: same item layout, page switching, chunking and encryption.
///
/// Not for `mfg_nvs*.bin`: there a blob's first chunk would start with less than 400 bytes
/// left on the page. ESP-IDF's runtime (`Storage::writeMultiPageBlob`, which the writer
/// follows) then starts the blob on a fresh page, while the generator splits it there. Both
/// layouts read back the same (`writer_layout_differs_only_by_first_chunk_rule`).
#[test]
fn runtime_writer_reproduces_the_generator() {
    let cases: Vec<(&str, Expected, Option<NvsKeys>, usize)> = vec![
        ("single_ns_plain.bin", common::single_ns(), None, 0x6000),
        ("multipage_plain.bin", common::multipage(), None, 0x6000),
        ("single_ns_nvsenc.bin", common::single_ns(), Some(keys()), 0x6000),
        ("multipage_nvsenc.bin", common::multipage(), Some(keys()), 0x6000),
        ("single_ns_nvsenc_hmac.bin", common::single_ns(), Some(hmac_keys()), 0x6000),
    ];
    for (name, want, keys, size) in cases {
        let mut flash = MockFlash::new(size);
        let mut nvs = Nvs::mount(&mut flash, keys.as_ref()).unwrap();
        for (ns, entries) in &want {
            for (key, w) in entries {
                nvs.set(ns, key, w.as_value()).unwrap_or_else(|e| panic!("{name}: set {ns}/{key}: {e}"));
            }
        }
        drop(nvs);
        let image = fixture(name);
        if flash.data() != &image[..] {
            let first = flash.data().iter().zip(&image).position(|(a, b)| a != b).unwrap();
            panic!("{name}: differs from the tool's image first at {first:#x}");
        }
    }
}

#[test]
fn writer_layout_differs_only_by_first_chunk_rule() {
    let want = common::mfg_nvs();
    let mut flash = MockFlash::new(0x6000);
    let mut nvs = Nvs::mount(&mut flash, None).unwrap();
    for (ns, entries) in &want {
        for (key, w) in entries {
            nvs.set(ns, key, w.as_value()).unwrap();
        }
    }
    assert_contents(&mut nvs, &want, "writer");
    drop(nvs);
    let tool = fixture("mfg_nvs_plain.bin");
    // Page 0 is identical up to its last entry, where the tool put a zero-length first chunk
    // of client_key.0 (no room left) and the runtime rule moved the whole blob on.
    assert_eq!(&flash.data()[..63], &tool[..63]);
    let last = 64 + 32 * 125;
    assert_eq!(&flash.data()[64..last], &tool[64..last]);
    assert_eq!((tool[last + 1], tool[last + 2], tool[last + 24]), (0x42, 1, 0), "the tool's empty chunk 0");
    assert_eq!(&flash.data()[last..4096], &[0xFF; 32][..], "the writer left it free");
    let mut a = Nvs::mount_read_only(MockFlash::from_image(tool), None).unwrap();
    assert_contents(&mut a, &want, "tool");
}

/// A flash that can only be read still backs a `Kv` through `ReadOnlyFlash`.
#[test]
fn read_only_flash_wrapper_is_a_kv() {
    use at_hal::kv::{Kv, Value};
    let image = fixture("mfg_nvs_plain.bin");
    let mut kv =
        Nvs::mount_read_only(at_nvs::ReadOnlyFlash(MockFlash::from_image(image.clone())), None).unwrap();
    assert_contents(&mut kv, &common::mfg_nvs(), "ReadOnlyFlash");
    assert_eq!(Kv::set(&mut kv, "factory_param", "uart_port", Value::I8(0)), Err(KvError::ReadOnly));
    assert_eq!(Kv::erase(&mut kv, "factory_param", "uart_port"), Err(KvError::ReadOnly));
    assert_eq!(Kv::erase_namespace(&mut kv, "factory_param"), Err(KvError::ReadOnly));
    assert_eq!(Kv::get(&mut kv, "factory_param", "uart_port", &mut []), Ok(Value::I8(1)));
    assert_eq!(kv.into_inner().0.into_inner(), image);
    // A read-write mount over it works until the first write, which is a flash error.
    let mut rw = Nvs::mount(at_nvs::ReadOnlyFlash(MockFlash::from_image(image)), None).unwrap();
    assert_eq!(rw.set("factory_param", "uart_port", Value::I8(0)), Err(KvError::Flash));
    assert_eq!(
        rw.get("factory_param", "uart_port", &mut []),
        Err(KvError::Flash),
        "poisoned until remounted"
    );
}

/// Keys are listed in storage order, as ESP-IDF's iterator (and so ESP-AT's
/// `AT+SYSMFG=1,"<ns>"`) lists them: the generator writes CSV order.
#[test]
fn entries_are_listed_in_storage_order() {
    let csv =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/nvs/csv/mfg_nvs.csv"))
            .unwrap();
    let mut want = Vec::new();
    let mut in_factory = false;
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.get(1) == Some(&"namespace") {
            in_factory = f[0] == "factory_param";
        } else if in_factory {
            want.push(f[0].to_owned());
        }
    }
    assert!(want.len() > 5);
    let mut nvs = Nvs::mount_read_only(MockFlash::from_image(fixture("mfg_nvs_plain.bin")), None).unwrap();
    let mut got = Vec::new();
    nvs.for_each_entry("factory_param", &mut |k, _| got.push(k.to_owned())).unwrap();
    assert_eq!(got, want, "CSV order, not alphabetical");
    // A rewritten key moves to the newest position.
    let mut flash = MockFlash::from_image(fixture("mfg_nvs_plain.bin"));
    let mut nvs = Nvs::mount(&mut flash, None).unwrap();
    nvs.set("factory_param", "version", at_hal::kv::Value::I8(5)).unwrap();
    let mut got = Vec::new();
    nvs.for_each_entry("factory_param", &mut |k, _| got.push(k.to_owned())).unwrap();
    assert_eq!(got.last().map(String::as_str), Some("version"));
}
