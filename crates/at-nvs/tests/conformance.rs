//! The at-hal `Kv` conformance suite against NVS on the emulated flash, plain and encrypted.

use at_hal::kv::{Kv, Protection};
use at_mock::flash::MockFlash;
use at_nvs::{Nvs, NvsKeys};

const PAGES: usize = 8;

#[test]
fn conformance_plain() {
    at_hal::kv::conformance::run_all(|| Nvs::mount(MockFlash::new(PAGES * 4096), None).expect("mount blank"));
}

#[test]
fn conformance_encrypted() {
    let keys = NvsKeys::new([0x11; 32], [0x22; 32]);
    at_hal::kv::conformance::run_all(|| {
        let nvs = Nvs::mount(MockFlash::new(PAGES * 4096), Some(&keys)).expect("mount blank");
        assert_eq!(nvs.protection(), Protection::Confidential);
        nvs
    });
}

/// What the suite's checks leave behind survives a remount (read-write and read-only), plain
/// and encrypted.
#[test]
fn state_survives_remount() {
    for keys in [None, Some(NvsKeys::new([5; 32], [6; 32]))] {
        let mut flash = MockFlash::new(PAGES * 4096);
        {
            let mut nvs = Nvs::mount(&mut flash, keys.as_ref()).unwrap();
            at_hal::kv::conformance::listing(&mut nvs);
            at_hal::kv::conformance::large_blob(&mut nvs);
            at_hal::kv::conformance::many_keys(&mut nvs);
        }
        let mut nvs = Nvs::mount(&mut flash, keys.as_ref()).unwrap();
        let mut buf = vec![0u8; 5000];
        let big: Vec<u8> = (0..5059u32).map(|i| (i * 31 % 251) as u8).collect();
        let smaller: Vec<u8> = big.iter().rev().take(4500).copied().collect();
        assert_eq!(nvs.get("pki", "ca_bundle", &mut buf).unwrap().as_bytes().unwrap(), &smaller[..]);
        assert_eq!(nvs.get("many", "key1", &mut buf).unwrap(), at_hal::kv::Value::U32(7));
        assert_eq!(nvs.get("many", "key3", &mut buf), Err(at_hal::kv::KvError::NotFound));
        assert_eq!(nvs.get("factory", "uart_port", &mut buf).unwrap(), at_hal::kv::Value::I8(1));
        let mut ro = Nvs::mount_read_only(&mut flash, keys.as_ref()).unwrap();
        assert_eq!(ro.set("x", "y", at_hal::kv::Value::U8(1)), Err(at_hal::kv::KvError::ReadOnly));
        assert_eq!(ro.get("many", "key2", &mut buf).unwrap(), at_hal::kv::Value::U32(14));
    }
}
