//! NVS keys through the [`HmacSha256`] trait: a software HMAC with the fixtures' "eFuse" key
//! derives exactly what at-nvs derives from the key itself and what Espressif's generator wrote
//! (`--key_protect_hmac`), and they open the HMAC-protected NVS image.

mod common;

use at_esp32c3::emulation::EmulatedFlash;
use at_esp32c3::hmac::{EKEY_SEED, TKEY_SEED};
use at_esp32c3::{FlashRegions, HmacSha256, RoutedFlash, derive_nvs_keys};
use at_flash::MfgStorage;
use at_hal::kv::{Kv, Value};
use at_hal::storage::MfgStore;
use at_nvs::NvsKeys;
use common::fixture;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// HMAC-SHA256 in software with a key it holds, counting its calls.
struct SoftHmac {
    key: Vec<u8>,
    calls: usize,
}

impl HmacSha256 for SoftHmac {
    type Error = core::convert::Infallible;
    fn hmac(&mut self, msg: &[u8; 32]) -> Result<[u8; 32], Self::Error> {
        self.calls += 1;
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).expect("any key length");
        mac.update(msg);
        Ok(mac.finalize().into_bytes().into())
    }
}

fn hmac_key() -> Vec<u8> {
    let k = fixture("nvs/keys/hmac_key.bin");
    assert_eq!(k.len(), 32);
    k
}

#[test]
fn trait_derivation_equals_at_nvs_and_the_generator() {
    let key = hmac_key();
    let mut h = SoftHmac { key: key.clone(), calls: 0 };
    let keys = derive_nvs_keys(&mut h).unwrap();
    assert_eq!(h.calls, 2, "one MAC per XTS key");
    assert_eq!(keys, NvsKeys::from_hmac_key(&key));
    // What esp-idf-nvs-partition-gen wrote with --key_protect_hmac for this key.
    assert_eq!(Ok(keys.clone()), NvsKeys::from_partition(&fixture("nvs/keys/nvs_keys_hmac.bin")));
    // And the seeds are what the keys are made from.
    assert_eq!(keys.encryption_key(), &h.hmac(&EKEY_SEED).unwrap());
    assert_eq!(keys.tweak_key(), &h.hmac(&TKEY_SEED).unwrap());
}

#[test]
fn other_keys_give_other_nvs_keys() {
    for k in [[0u8; 32], [0xFF; 32], [0x11; 32]] {
        let d = derive_nvs_keys(&mut SoftHmac { key: k.to_vec(), calls: 0 }).unwrap();
        assert_eq!(d, NvsKeys::from_hmac_key(&k));
        assert_ne!(d, NvsKeys::from_hmac_key(&hmac_key()));
    }
}

#[test]
fn derived_keys_open_the_hmac_protected_image() {
    let img = fixture("nvs/single_ns_nvsenc_hmac.bin");
    let flash = || RoutedFlash::new(EmulatedFlash::new(img.clone(), None), FlashRegions::new(false));
    let keys = derive_nvs_keys(&mut SoftHmac { key: hmac_key(), calls: 0 }).unwrap();
    let mut s = MfgStorage::partition_image(flash(), Some(keys));
    assert_eq!(s.unreadable(), None, "{}", s.detail());
    assert!(s.detail().contains("NVS-encrypted"), "{}", s.detail());
    let mut buf = [0u8; 32];
    assert_eq!(s.get("at_certs", "module_name", &mut buf).unwrap(), Value::Str(&b"ESP32C3-TEST"[..]));

    // Without keys it is not read as if it were plain.
    let s = MfgStorage::partition_image(flash(), None);
    assert!(s.unreadable().is_some(), "{}", s.detail());
}
