//! Property: a read through [`RoutedFlash`] returns, byte for byte, the decrypted image where
//! the policy says "decrypted" and the stored image elsewhere — whatever the offset and length,
//! across region boundaries.

mod common;

use std::sync::OnceLock;

use at_esp32c3::emulation::EmulatedFlash;
use at_esp32c3::routed::boot;
use at_esp32c3::{Access, FlashRegions};
use at_flash::table::{Flags, PartitionTable};
use common::{dump, fixture, flash_key};
use embedded_storage::nor_flash::ReadNorFlash;
use proptest::prelude::*;

/// The healthy dump with `mfg_nvs` flagged `encrypted` (and written encrypted), its fully
/// decrypted counterpart, and the policy the boot builds for it.
fn images() -> &'static (Vec<u8>, Vec<u8>, FlashRegions) {
    static IMAGES: OnceLock<(Vec<u8>, Vec<u8>, FlashRegions)> = OnceLock::new();
    IMAGES.get_or_init(|| {
        let key = flash_key();
        let mut img = dump("healthy");
        let mut entries = PartitionTable::parse(&fixture("flash/inputs/tables/at_customize.bin"), None)
            .unwrap()
            .entries()
            .to_vec();
        entries[0].flags = Flags(Flags::ENCRYPTED);
        let table = PartitionTable::new(entries).unwrap().to_bytes(true).unwrap();
        img[0x1E000..0x1F000].fill(0xFF);
        img[0x1E000..0x1E000 + table.len()].copy_from_slice(&table);
        let mut mfg = fixture("nvs/mfg_nvs_plain_124k.bin");
        key.encrypt(0x1F000, &mut mfg).unwrap();
        img[0x1F000..0x3E000].copy_from_slice(&mfg);
        let mut plain = img.clone();
        key.decrypt(0, &mut plain).unwrap();
        let (flash, _) = boot(EmulatedFlash::new(img.clone(), Some(key)), true);
        let regions = flash.regions().clone();
        (img, plain, regions)
    })
}

/// Offsets near the interesting boundaries: bootloader/table, at_customize/mfg_nvs, ota_0.
fn near_boundary() -> impl Strategy<Value = u32> {
    prop_oneof![
        (0x7000u32..0xA000),
        (0xC000u32..0x11000),
        (0x1D000u32..0x20000),
        (0x3C000u32..0x3F000),
        (0x5F000u32..0x61000),
    ]
    .prop_map(|o| o & !3)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn routed_reads_match_the_reference(offset in near_boundary(), words in 0usize..0x900) {
        let (img, plain, regions) = images();
        let len = words * 4;
        let mut flash = at_esp32c3::RoutedFlash::new(
            EmulatedFlash::new(img.clone(), Some(flash_key())),
            regions.clone(),
        );
        let mut got = vec![0u8; len];
        flash.read(offset, &mut got).unwrap();
        for (i, b) in got.iter().enumerate() {
            let at = offset as usize + i;
            let want = match regions.access_at(at as u32) {
                Access::Decrypted => plain[at],
                Access::Raw => img[at],
            };
            prop_assert_eq!(*b, want, "byte at 0x{:x}", at);
        }
    }
}
