//! NVS encryption: XTS-AES-256 per 32-byte entry, and where its keys come from.
//!
//! * **Cipher.** The key is 64 bytes, `eky ‖ tky`: XTS key 1 (AES-256, encrypts the data) and
//!   key 2 (AES-256, encrypts the tweak). Each 32-byte entry is one XTS data unit; its tweak
//!   is the entry's *partition-relative* byte address as a little-endian `u32` followed by 12
//!   zero bytes (`page * 4096 + 64 + 32 * i`). Page headers and bitmaps stay plain, and
//!   entries never written stay raw `0xFF`.
//! * **Keys from an `nvs_keys` partition** ([`NvsKeys::from_partition`]): `eky (32) ‖ tky (32)
//!   ‖ crc32 (4, LE)` over the 64 key bytes, the rest `0xFF`. On a device that partition is
//!   flash-encrypted; this function wants its *decrypted* contents (what
//!   `esp_partition_read` returns for an `encrypted` partition).
//! * **Keys from an eFuse HMAC key** ([`NvsKeys::from_hmac_key`]), as ESP32-C3's
//!   `nvs_sec_provider` derives them: `eky = HMAC-SHA256(k, 5A 5A BE AE × 8)`,
//!   `tky = HMAC-SHA256(k, A5 A5 DE CE × 8)`.
//!
//! Key material is zeroized when dropped (the AES key schedules too: `aes`'s `zeroize`).

use aes::Aes256;
use aes::cipher::{Array, KeyInit};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use xts_mode::Xts128;
use zeroize::Zeroize;

use crate::crc::crc32;

/// `EKEY_SEED` of `nvs_sec_provider.c`, as the bytes HMAC sees (`0xAEBE5A5A` LE, 8 times).
const EKEY_SEED_WORD: [u8; 4] = [0x5A, 0x5A, 0xBE, 0xAE];
/// `TKEY_SEED` (`0xCEDEA5A5` LE, 8 times).
const TKEY_SEED_WORD: [u8; 4] = [0xA5, 0xA5, 0xDE, 0xCE];

/// Size of an `nvs_keys` partition image as the generator writes it (one sector).
pub const KEYS_PARTITION_SIZE: usize = 4096;

/// Why an `nvs_keys` partition image was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeysError {
    /// Fewer than 68 bytes.
    TooShort,
    /// Keys and CRC are all `0xFF`: the partition was never written
    /// (`ESP_ERR_NVS_KEYS_NOT_INITIALIZED`).
    NotInitialized,
    /// The CRC over the keys does not match (`ESP_ERR_NVS_CORRUPT_KEY_PART`). On a device this
    /// also happens when the partition is read without flash decryption.
    CrcMismatch,
}

impl core::fmt::Display for KeysError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            KeysError::TooShort => "nvs_keys image shorter than 68 bytes",
            KeysError::NotInitialized => "nvs_keys partition is blank (keys not initialised)",
            KeysError::CrcMismatch => "nvs_keys CRC mismatch (corrupt, or read without flash decryption)",
        })
    }
}

impl core::error::Error for KeysError {}

/// The two XTS keys of NVS encryption. Zeroized on drop; `Debug` does not print them.
#[derive(Clone, PartialEq, Eq)]
pub struct NvsKeys {
    eky: [u8; 32],
    tky: [u8; 32],
}

impl core::fmt::Debug for NvsKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("NvsKeys { .. }")
    }
}

impl Drop for NvsKeys {
    fn drop(&mut self) {
        self.eky.zeroize();
        self.tky.zeroize();
    }
}

impl NvsKeys {
    /// Keys from the encryption key (`eky`, XTS key 1) and the tweak key (`tky`, XTS key 2).
    pub fn new(eky: [u8; 32], tky: [u8; 32]) -> NvsKeys {
        NvsKeys { eky, tky }
    }

    /// Keys from the 64 bytes `eky ‖ tky` (what the generator reads from a keys file).
    pub fn from_bytes(key: &[u8; 64]) -> NvsKeys {
        let mut k = NvsKeys { eky: [0; 32], tky: [0; 32] };
        k.eky.copy_from_slice(&key[..32]);
        k.tky.copy_from_slice(&key[32..]);
        k
    }

    /// Keys from the contents of an `nvs_keys` partition (or the generator's keys file): at
    /// least 68 bytes, `eky ‖ tky ‖ crc32`. Checks the CRC like `nvs_flash_read_security_cfg`.
    pub fn from_partition(image: &[u8]) -> Result<NvsKeys, KeysError> {
        let (Some(keys), Some(crc)) = (image.get(..64), image.get(64..68)) else {
            return Err(KeysError::TooShort);
        };
        if keys.iter().chain(crc).all(|&b| b == 0xFF) {
            return Err(KeysError::NotInitialized);
        }
        if crc32(keys) != u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]) {
            return Err(KeysError::CrcMismatch);
        }
        let mut k = NvsKeys { eky: [0; 32], tky: [0; 32] };
        k.eky.copy_from_slice(&keys[..32]);
        k.tky.copy_from_slice(&keys[32..64]);
        Ok(k)
    }

    /// Keys derived from the eFuse HMAC key (purpose `HMAC_UP`) exactly as ESP32-C3's
    /// `nvs_sec_provider` and the generator's `--key_protect_hmac` do. The C3's key is 32
    /// bytes; HMAC accepts any length, and so does this function.
    pub fn from_hmac_key(hmac_key: &[u8]) -> NvsKeys {
        let mut k = NvsKeys { eky: [0; 32], tky: [0; 32] };
        for (out, word) in [(&mut k.eky, EKEY_SEED_WORD), (&mut k.tky, TKEY_SEED_WORD)] {
            let mut seed = [0u8; 32];
            for chunk in seed.chunks_exact_mut(4) {
                chunk.copy_from_slice(&word);
            }
            // HMAC takes keys of every length, so this cannot fail.
            if let Ok(mut mac) = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(hmac_key) {
                mac.update(&seed);
                let mut tag = mac.finalize().into_bytes();
                out.copy_from_slice(&tag);
                tag.as_mut_slice().zeroize();
            }
        }
        k
    }

    /// The `nvs_keys` partition image for these keys: `eky ‖ tky ‖ crc32`, then `0xFF` up to
    /// [`KEYS_PARTITION_SIZE`] bytes — byte-identical to the generator's keys file.
    pub fn to_partition_image(&self) -> [u8; KEYS_PARTITION_SIZE] {
        let mut img = [0xFFu8; KEYS_PARTITION_SIZE];
        img[..32].copy_from_slice(&self.eky);
        img[32..64].copy_from_slice(&self.tky);
        let crc = crc32(&img[..64]);
        img[64..68].copy_from_slice(&crc.to_le_bytes());
        img
    }

    /// The encryption key (XTS key 1).
    pub fn encryption_key(&self) -> &[u8; 32] {
        &self.eky
    }

    /// The tweak key (XTS key 2).
    pub fn tweak_key(&self) -> &[u8; 32] {
        &self.tky
    }
}

/// XTS-AES-256 over 32-byte NVS entries. The key schedules zeroize on drop.
pub(crate) struct EntryCipher {
    xts: Xts128<Aes256>,
}

impl EntryCipher {
    pub(crate) fn new(keys: &NvsKeys) -> EntryCipher {
        let c1 = Aes256::new(&Array(keys.eky));
        let c2 = Aes256::new(&Array(keys.tky));
        EntryCipher { xts: Xts128::new(c1, c2) }
    }

    fn tweak(addr: u32) -> Array<u8, aes::cipher::consts::U16> {
        xts_mode::get_tweak_default(u128::from(addr))
    }

    /// Encrypt the entry stored at partition-relative address `addr`.
    pub(crate) fn encrypt(&self, addr: u32, entry: &mut [u8; 32]) {
        self.xts.encrypt_sector(entry, Self::tweak(addr));
    }

    /// Decrypt the entry stored at partition-relative address `addr`.
    pub(crate) fn decrypt(&self, addr: u32, entry: &mut [u8; 32]) {
        self.xts.decrypt_sector(entry, Self::tweak(addr));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_image_round_trip_and_errors() {
        let keys = NvsKeys::new([1; 32], [2; 32]);
        let img = keys.to_partition_image();
        assert_eq!(NvsKeys::from_partition(&img), Ok(keys.clone()));
        assert_eq!(NvsKeys::from_partition(&img[..68]), Ok(keys));
        assert_eq!(NvsKeys::from_partition(&img[..67]), Err(KeysError::TooShort));
        assert_eq!(NvsKeys::from_partition(&[0xFF; 4096]), Err(KeysError::NotInitialized));
        let mut bad = img;
        bad[10] ^= 0x40;
        assert_eq!(NvsKeys::from_partition(&bad), Err(KeysError::CrcMismatch));
    }

    #[test]
    fn debug_does_not_leak() {
        let s = alloc::format!("{:?}", NvsKeys::new([0xAB; 32], [0xCD; 32]));
        assert!(!s.contains("171") && !s.contains("ab") && !s.contains("AB"), "{s}");
    }

    /// RFC 4231 test case 2 pins our HMAC-SHA256 wiring; the seed derivation itself is
    /// checked against the generator's output in the golden tests.
    #[test]
    fn hmac_derivation_uses_the_seeds() {
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        let out = mac.finalize().into_bytes();
        assert_eq!(out[..4], [0x5b, 0xdc, 0xc1, 0x46]);
        let k = NvsKeys::from_hmac_key(&[0x11; 32]);
        assert_ne!(k.encryption_key(), k.tweak_key());
        let mut seed = [0u8; 32];
        for c in seed.chunks_exact_mut(4) {
            c.copy_from_slice(&EKEY_SEED_WORD);
        }
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&[0x11; 32]).unwrap();
        mac.update(&seed);
        assert_eq!(&mac.finalize().into_bytes()[..], &k.encryption_key()[..]);
    }

    #[test]
    fn xts_round_trip_depends_on_address() {
        let c = EntryCipher::new(&NvsKeys::new([3; 32], [4; 32]));
        let plain = [0x5Au8; 32];
        let mut a = plain;
        c.encrypt(0x40, &mut a);
        let mut b = plain;
        c.encrypt(0x1040, &mut b);
        assert_ne!(a, plain);
        assert_ne!(a, b);
        c.decrypt(0x40, &mut a);
        assert_eq!(a, plain);
    }
}
