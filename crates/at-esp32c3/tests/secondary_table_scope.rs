//! The secondary table is read raw from the unencrypted `at_customize`, so its entries may not
//! re-route anything outside `at_customize`: an entry covering the bootloader, the primary
//! table and `otadata` of a flash-encrypted chip must not turn them into raw ranges (a write
//! there would be programmed as plaintext). Found by a review; `boot` now ignores such entries.

mod common;

use at_esp32c3::Access;
use at_esp32c3::emulation::EmulatedFlash;
use at_esp32c3::routed::boot;
use at_flash::table::{Flags, Label, PartitionEntry, PartitionTable, TABLE_LEN};
use common::{dump, flash_key};
use embedded_storage::nor_flash::NorFlash;

#[test]
fn secondary_entries_cannot_reroute_ranges_outside_at_customize() {
    let mut img = dump("healthy");
    let at = 0x1E000usize;
    let sec = PartitionTable::parse(&img[at..at + TABLE_LEN], None).unwrap();
    let mut entries = sec.entries().to_vec();
    entries.push(PartitionEntry {
        ty: 0x01,
        subtype: 0x02,
        offset: 0x0,
        size: 0x1E000,
        label: Label::new("evil").unwrap(),
        flags: Flags(0),
    });
    let bytes = PartitionTable::new(entries).unwrap().to_bytes(true).unwrap();
    img[at..at + TABLE_LEN].copy_from_slice(&bytes);

    let (mut flash, tables) = boot(EmulatedFlash::new(img, Some(flash_key())), true);
    assert_eq!(tables.ignored_secondary.len(), 1, "the out-of-scope entry is reported");
    let r = flash.regions().clone();
    for a in [0x0u32, 0x8000, 0xD000] {
        assert_eq!(r.access_at(a), Access::Decrypted, "0x{a:x} rerouted by the secondary table: {r}");
    }
    // What it means: an erase + write of otadata lands as plaintext.
    flash.erase(0xD000, 0xE000).unwrap();
    flash.write(0xD000, &[0u8; 32]).unwrap();
    assert_eq!(flash.ops().stats().encrypted_programs, 1, "otadata written raw");
}
