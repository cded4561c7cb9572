//! ESP32-C3 flash encryption, as the chip applies it.
//!
//! The C3 encrypts flash with **XTS-AES-128 under a 256-bit key** (ESP-IDF
//! `flash-encryption.rst`; `SOC_FLASH_ENCRYPTION_XTS_AES_128`). The model, checked byte for byte
//! against `espsecure encrypt-flash-data --aes-xts` (esptool 5.6.0) by this crate's tests:
//!
//! * the key file holds `key1 ‖ key2` (16 + 16 bytes): key1 encrypts data, key2 the tweak
//!   (IEEE 1619 order; the eFuse stores the same 32 bytes reversed, which `espefuse burn-key`
//!   handles — this crate takes the *file*);
//! * flash is cut into 128-byte **data units** aligned to the absolute flash address;
//! * the **tweak** of a unit is its absolute address `addr & !0x7F` as a little-endian u32 followed
//!   by 12 zero bytes. Unlike NVS encryption (partition-relative), the same bytes encrypt
//!   differently at different flash addresses;
//! * each unit is **byte-reversed** before standard XTS and the result reversed again.
//!
//! XTS encrypts every 16-byte block with its own tweak multiple, so each 16-byte block at a
//! 16-aligned address can be encrypted or decrypted on its own — which is how the hardware's
//! 16/32-byte manual-encryption writes work, and what [`FlashKey::encrypt`] allows.
//!
//! The XTS core is the `xts-mode` crate on RustCrypto's `aes`; this module only adds the unit
//! layout, tweak and reversal.

use aes::Aes128;
use aes::cipher::KeyInit;
use core::fmt;
use xts_mode::{Array, Xts128};

/// Size of one flash-encryption data unit.
pub const UNIT_LEN: usize = 128;
/// Alignment (and length granularity) of anything encrypted or decrypted: one AES block.
pub const BLOCK_LEN: usize = 16;
/// Length of a key file (`espsecure generate-flash-encryption-key --keylen 256`).
pub const KEY_LEN: usize = 32;

/// An ESP32-C3 flash-encryption key (the 32-byte key file). The expanded AES keys are zeroized
/// when dropped (`aes`'s `zeroize` feature).
pub struct FlashKey {
    xts: Xts128<Aes128>,
}

impl fmt::Debug for FlashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FlashKey(..)")
    }
}

/// Why an encrypt/decrypt call was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CryptError {
    /// The key file is not [`KEY_LEN`] bytes.
    KeyLength {
        /// Bytes given.
        len: usize,
    },
    /// The address is not a multiple of 16 (`espsecure`: "Starting address must be a multiple of 16").
    Misaligned {
        /// The address given.
        address: u32,
    },
    /// The length is not a multiple of 16.
    Length {
        /// The length given.
        len: usize,
    },
    /// `address + len` passes 4 GiB.
    Overflow,
}

impl fmt::Display for CryptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CryptError::KeyLength { len } => {
                write!(f, "flash-encryption key must be {KEY_LEN} bytes (XTS-AES-128), got {len}")
            }
            CryptError::Misaligned { address } => {
                write!(f, "flash-encryption address 0x{address:x} is not a multiple of 16")
            }
            CryptError::Length { len } => write!(f, "flash-encryption length {len} is not a multiple of 16"),
            CryptError::Overflow => f.write_str("flash-encryption range passes the 32-bit address space"),
        }
    }
}

impl core::error::Error for CryptError {}

#[derive(Clone, Copy)]
enum Dir {
    Encrypt,
    Decrypt,
}

impl FlashKey {
    /// A key from the 32 bytes of a key file.
    pub fn new(key: &[u8; KEY_LEN]) -> FlashKey {
        let mut k1 = Array::<u8, aes::cipher::consts::U16>::default();
        let mut k2 = Array::<u8, aes::cipher::consts::U16>::default();
        k1.copy_from_slice(&key[..16]);
        k2.copy_from_slice(&key[16..]);
        let xts = Xts128::new(Aes128::new(&k1), Aes128::new(&k2));
        k1.fill(0);
        k2.fill(0);
        FlashKey { xts }
    }

    /// A key from a key file's contents (must be exactly [`KEY_LEN`] bytes: 16-byte keys are
    /// ESP32-C2's SHA-256-expanded scheme and 64-byte keys are XTS-AES-256, neither of which
    /// the C3 uses).
    pub fn from_slice(key: &[u8]) -> Result<FlashKey, CryptError> {
        let k: &[u8; KEY_LEN] = key.try_into().map_err(|_| CryptError::KeyLength { len: key.len() })?;
        Ok(FlashKey::new(k))
    }

    /// Encrypt `data` in place as the chip would store it at flash address `address`.
    /// `address` and `data.len()` must be multiples of 16.
    pub fn encrypt(&self, address: u32, data: &mut [u8]) -> Result<(), CryptError> {
        self.apply(address, data, Dir::Encrypt)
    }

    /// Decrypt `data` read raw from flash address `address`, in place (what the chip's
    /// transparent decryption returns). `address` and `data.len()` must be multiples of 16.
    pub fn decrypt(&self, address: u32, data: &mut [u8]) -> Result<(), CryptError> {
        self.apply(address, data, Dir::Decrypt)
    }

    fn apply(&self, address: u32, data: &mut [u8], dir: Dir) -> Result<(), CryptError> {
        if !(address as usize).is_multiple_of(BLOCK_LEN) {
            return Err(CryptError::Misaligned { address });
        }
        if !data.len().is_multiple_of(BLOCK_LEN) {
            return Err(CryptError::Length { len: data.len() });
        }
        if address as u64 + data.len() as u64 > 1u64 << 32 {
            return Err(CryptError::Overflow);
        }
        let mut pos = 0usize;
        // Each iteration consumes the rest of one 128-byte unit: bounded by len/16 iterations.
        while pos < data.len() {
            let abs = address as u64 + pos as u64;
            let unit_base = abs & !(UNIT_LEN as u64 - 1);
            let in_unit = (abs - unit_base) as usize;
            let n = (UNIT_LEN - in_unit).min(data.len() - pos);
            let mut unit = [0u8; UNIT_LEN];
            unit[in_unit..in_unit + n].copy_from_slice(&data[pos..pos + n]);
            self.unit(unit_base as u32, &mut unit, dir);
            data[pos..pos + n].copy_from_slice(&unit[in_unit..in_unit + n]);
            unit.fill(0);
            pos += n;
        }
        Ok(())
    }

    /// One whole unit. Blocks the caller did not supply are zeros and are discarded: XTS blocks
    /// are independent, so they do not affect the others.
    fn unit(&self, unit_base: u32, unit: &mut [u8; UNIT_LEN], dir: Dir) {
        let mut tweak = Array::<u8, aes::cipher::consts::U16>::default();
        tweak[..4].copy_from_slice(&unit_base.to_le_bytes());
        unit.reverse();
        match dir {
            Dir::Encrypt => self.xts.encrypt_sector(unit, tweak),
            Dir::Decrypt => self.xts.decrypt_sector(unit, tweak),
        }
        unit.reverse();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> FlashKey {
        let mut k = [0u8; 32];
        for (i, b) in k.iter_mut().enumerate() {
            *b = i as u8;
        }
        FlashKey::new(&k)
    }

    #[test]
    fn round_trip_and_address_dependence() {
        let k = key();
        let plain = [0xFFu8; 256];
        let mut a = plain;
        k.encrypt(0x21000, &mut a).unwrap();
        let mut b = plain;
        k.encrypt(0x22000, &mut b).unwrap();
        assert_ne!(a, plain);
        assert_ne!(a, b, "absolute-address tweak: same bytes encrypt differently elsewhere");
        assert_ne!(a[..128], a[128..], "each unit has its own tweak");
        k.decrypt(0x21000, &mut a).unwrap();
        assert_eq!(a, plain);
    }

    #[test]
    fn pieces_encrypt_like_the_whole() {
        let k = key();
        let mut whole = [0u8; 384];
        for (i, b) in whole.iter_mut().enumerate() {
            *b = (i * 7 + 3) as u8;
        }
        let plain = whole;
        k.encrypt(0x1F040, &mut whole).unwrap();
        // 16- and 32-byte pieces at any 16-aligned address, as the hardware writes them.
        let mut pos = 0;
        let mut step = 16;
        while pos < plain.len() {
            let n = step.min(plain.len() - pos);
            let mut piece = plain[pos..pos + n].to_vec();
            k.encrypt(0x1F040 + pos as u32, &mut piece).unwrap();
            assert_eq!(piece, &whole[pos..pos + n], "piece at +{pos}");
            pos += n;
            step = if step == 16 { 32 } else { 16 };
        }
    }

    #[test]
    fn refuses_misaligned_input() {
        let k = key();
        assert_eq!(k.encrypt(0x1001, &mut [0; 16]), Err(CryptError::Misaligned { address: 0x1001 }));
        assert_eq!(k.decrypt(0x1000, &mut [0; 15]), Err(CryptError::Length { len: 15 }));
        assert_eq!(k.encrypt(0xFFFF_FFF0, &mut [0; 32]), Err(CryptError::Overflow));
        assert!(k.encrypt(0xFFFF_FFF0, &mut [0; 16]).is_ok());
        assert_eq!(FlashKey::from_slice(&[0; 64]).unwrap_err(), CryptError::KeyLength { len: 64 });
    }
}
