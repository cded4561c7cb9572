//! Arbitrary bytes as an NVS partition: classify, mount read-only and read-write (plain and
//! with NVS keys), list and read every entry, write a little. Must never panic or hang.
//!
//! Two input modes, chosen by the first byte:
//! * even: the rest of the input *is* the partition, padded with 0xFF (or truncated) to a
//!   whole number of 4 KiB pages, at most 8;
//! * odd: the rest is a list of `(offset u16 LE, byte)` edits applied to a valid 4-page image
//!   built in-process (namespaces, integers, a string, a multi-page blob), with every page-header
//!   CRC fixed up afterwards if the first byte's bit 1 is set — which keeps pages "valid" so
//!   the item, bitmap and blob logic gets exercised, not just the header check.
#![no_main]

use std::sync::OnceLock;

use at_hal::kv::{Kv, Value};
use at_mock::flash::MockFlash;
use at_nvs::image::{FormatVersion, ImageBuilder};
use at_nvs::{Nvs, NvsKeys, classify};
use libfuzzer_sys::fuzz_target;

fn base_image() -> &'static [u8] {
    static IMG: OnceLock<Vec<u8>> = OnceLock::new();
    IMG.get_or_init(|| {
        let mut b = ImageBuilder::new(4 * PAGE, FormatVersion::V2, None).expect("size");
        b.namespace("at").expect("ns");
        b.entry("baud", Value::U32(115200)).expect("u32");
        b.entry("name", Value::Str(b"ESP32C3-FUZZ")).expect("str");
        b.entry("port", Value::I8(-1)).expect("i8");
        b.namespace("pki").expect("ns");
        let blob: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        b.entry("bundle", Value::Blob(&blob)).expect("blob");
        b.entry("key", Value::Blob(&blob[..300])).expect("blob");
        b.finish().expect("image")
    })
}

const PAGE: usize = 4096;
const MAX_PAGES: usize = 8;

fn read_all<K: Kv>(kv: &mut K) {
    let mut namespaces = Vec::new();
    let _ = kv.for_each_namespace(&mut |n| namespaces.push(n.to_string()));
    for ns in namespaces {
        let mut entries = Vec::new();
        let _ = kv.for_each_entry(&ns, &mut |k, info| entries.push((k.to_string(), info.len)));
        for (key, len) in entries {
            let mut buf = vec![0u8; len];
            let _ = kv.info(&ns, &key);
            let _ = kv.get(&ns, &key, &mut buf);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, data)) = data.split_first() else { return };
    let image = if mode & 1 == 0 {
        let pages = data.len().div_ceil(PAGE).clamp(1, MAX_PAGES);
        let mut image = data[..data.len().min(pages * PAGE)].to_vec();
        image.resize(pages * PAGE, 0xFF);
        image
    } else {
        let mut image = base_image().to_vec();
        for edit in data.chunks_exact(3) {
            let off = usize::from(u16::from_le_bytes([edit[0], edit[1]])) % image.len();
            image[off] = edit[2];
        }
        if mode & 2 != 0 {
            for page in image.chunks_mut(PAGE) {
                let crc = at_nvs::crc::crc32(&page[4..28]);
                page[28..32].copy_from_slice(&crc.to_le_bytes());
            }
        }
        image
    };
    let keys = NvsKeys::new([0x11; 32], [0x22; 32]);

    for k in [None, Some(&keys)] {
        let _ = classify(&mut MockFlash::from_image(image.clone()), k);

        let mut flash = MockFlash::from_image(image.clone());
        if let Ok(mut nvs) = Nvs::mount_read_only(&mut flash, k) {
            read_all(&mut nvs);
        }
        assert_eq!(flash.data(), &image[..], "a read-only mount wrote");

        if let Ok(mut nvs) = Nvs::mount(&mut flash, k) {
            read_all(&mut nvs);
            let _ = nvs.set("fuzz", "blob", Value::Blob(&[0xA5; 600]));
            let _ = nvs.set("fuzz", "n", Value::U32(1));
            let _ = nvs.erase("fuzz", "n");
            read_all(&mut nvs);
        }
        // Whatever the read-write mount did, the result mounts again.
        if let Ok(mut nvs) = Nvs::mount(&mut flash, k) {
            read_all(&mut nvs);
        }
    }
});
