//! The flash-encryption model must be byte-identical to `espsecure encrypt-flash-data --aes-xts`
//! (and `decrypt-flash-data`) for every fixture in `fixtures/flash/`, in both directions.

use at_flash::xts::FlashKey;

mod common;
use common::{fixture, flash_key};

/// (plain input, espsecure output, address, espsecure direction was encrypt)
const CASES: &[(&str, &str, u32, bool)] = &[
    ("inputs/tables/partitions_at.bin", "partitions_at.fe_0x8000.bin", 0x8000, true),
    ("inputs/tables/at_customize.bin", "at_customize.fe_0x1e000.bin", 0x1E000, true),
    ("../nvs/mfg_nvs_plain_124k.bin", "mfg_nvs.fe_0x1f000.bin", 0x1F000, true),
    ("../nvs/single_ns_plain.bin", "single_ns_plain.fe_0x21000.bin", 0x21000, true),
    ("../nvs/single_ns_nvsenc.bin", "single_ns_nvsenc.fe_0x21000.bin", 0x21000, true),
    // decrypt-flash-data applied to plaintext: our decrypt must match, and our encrypt undoes it.
    ("inputs/tables/at_customize.bin", "at_customize.fd_0x1e000.bin", 0x1E000, false),
];

#[test]
fn encrypt_matches_espsecure_for_every_fixture() {
    let key = flash_key();
    for &(plain, oracle, addr, enc) in CASES {
        let (input, expected) = (fixture(plain), fixture(oracle));
        let mut out = input.clone();
        if enc {
            key.encrypt(addr, &mut out).unwrap();
        } else {
            key.decrypt(addr, &mut out).unwrap();
        }
        assert!(out == expected, "{oracle}: model differs from espsecure");
        // and back
        if enc {
            key.decrypt(addr, &mut out).unwrap();
        } else {
            key.encrypt(addr, &mut out).unwrap();
        }
        assert!(out == input, "{oracle}: inverse does not restore {plain}");
    }
}

#[test]
fn otadata_is_ff_encrypted_at_0xd000() {
    let mut ff = vec![0xFFu8; 0x2000];
    flash_key().encrypt(0xD000, &mut ff).unwrap();
    assert_eq!(ff, fixture("ota_data_initial.fe_0xd000.bin"));
}

#[test]
fn wrong_key_or_address_does_not_decrypt() {
    let plain = fixture("inputs/tables/at_customize.bin");
    let enc = fixture("at_customize.fe_0x1e000.bin");
    let mut at_wrong_addr = enc.clone();
    flash_key().decrypt(0x1F000, &mut at_wrong_addr).unwrap();
    assert_ne!(at_wrong_addr, plain);
    let mut with_wrong_key = enc.clone();
    FlashKey::new(&[7; 32]).decrypt(0x1E000, &mut with_wrong_key).unwrap();
    assert_ne!(with_wrong_key, plain);
}

#[test]
fn hardware_sized_pieces_match_the_whole_image() {
    // 16- and 32-byte writes (SOC_FLASH_ENCRYPTED_XTS_AES_BLOCK_MAX = 32) at their own
    // addresses produce the same ciphertext as espsecure's whole-image run.
    let key = flash_key();
    let plain = fixture("../nvs/single_ns_plain.bin");
    let expected = fixture("single_ns_plain.fe_0x21000.bin");
    let mut pos = 0;
    while pos < 0x400 {
        let n = if (pos / 16) % 3 == 0 { 16 } else { 32 };
        let mut piece = plain[pos..pos + n].to_vec();
        key.encrypt(0x21000 + pos as u32, &mut piece).unwrap();
        assert_eq!(piece, &expected[pos..pos + n], "piece at 0x{:x}", 0x21000 + pos);
        pos += n;
    }
}
