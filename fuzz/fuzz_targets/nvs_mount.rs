//! Arbitrary bytes as an NVS partition: classify, mount read-only and read-write (plain and
//! with NVS keys), list and read every entry, write a little. Must never panic or hang.
//!
//! The input is padded with 0xFF (or truncated) to a whole number of 4 KiB pages, at most 8.
#![no_main]

use at_hal::kv::{Kv, Value};
use at_mock::flash::MockFlash;
use at_nvs::{Nvs, NvsKeys, classify};
use libfuzzer_sys::fuzz_target;

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
    let pages = data.len().div_ceil(PAGE).clamp(1, MAX_PAGES);
    let mut image = data[..data.len().min(pages * PAGE)].to_vec();
    image.resize(pages * PAGE, 0xFF);
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
