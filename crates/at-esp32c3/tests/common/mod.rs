//! Fixture loading shared by the integration tests.
#![allow(dead_code)] // each test binary uses a subset

use std::io::Read;
use std::path::PathBuf;

use at_flash::xts::FlashKey;

/// `fixtures/<rel>` from the repository root; `.gz` files are decompressed.
pub fn fixture(rel: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures").join(rel);
    let raw = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    if rel.ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out).unwrap();
        out
    } else {
        raw
    }
}

/// A whole-flash dump of `fixtures/flash/dumps`.
pub fn dump(name: &str) -> Vec<u8> {
    fixture(&format!("flash/dumps/{name}.bin.gz"))
}

/// The committed test flash-encryption key (the "eFuse" key of the emulated chip).
pub fn flash_key() -> FlashKey {
    FlashKey::from_slice(&fixture("flash/inputs/fe_key.bin")).unwrap()
}
