//! Shared helpers for the behaviour tests: fixture loading and test flashes.
#![allow(dead_code)] // each test binary uses a subset

use at_flash::xts::FlashKey;
use std::io::Read;
use std::path::PathBuf;

/// `fixtures/flash/<rel>`.
pub fn fixture_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/flash").join(rel)
}

/// The bytes of `fixtures/flash/<rel>`; `.gz` files are decompressed.
pub fn fixture(rel: &str) -> Vec<u8> {
    let p = fixture_path(rel);
    let raw = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    if rel.ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out).unwrap();
        out
    } else {
        raw
    }
}

/// The committed test flash-encryption key.
pub fn flash_key() -> FlashKey {
    FlashKey::from_slice(&fixture("inputs/fe_key.bin")).unwrap()
}
