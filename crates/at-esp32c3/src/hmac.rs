//! NVS encryption keys from an HMAC key that never leaves the hardware.
//!
//! ESP-IDF's `nvs_sec_provider` (HMAC scheme, ESP32-C3) derives the two XTS keys of NVS
//! encryption with the HMAC peripheral in "upstream" mode from an eFuse key block whose purpose
//! is `HMAC_UP`:
//! `eky = HMAC-SHA256(k, 5A 5A BE AE × 8)`, `tky = HMAC-SHA256(k, A5 A5 DE CE × 8)`.
//! [`derive_nvs_keys`] does exactly that over any [`HmacSha256`] implementor, so the firmware
//! plugs in the peripheral and the host tests plug in software HMAC with a known key (and check
//! the result equals `at_nvs::NvsKeys::from_hmac_key`).
//!
//! Which key block: [`KeyChoice`] (a build-time setting of the firmware) and
//! [`select_key_block`], which checks it against the six `KEY_PURPOSE_n` eFuse fields.

use at_nvs::NvsKeys;
use zeroize::Zeroize;

/// The seed HMAC'd into the NVS encryption key (`EKEY_SEED` of `nvs_sec_provider.c`:
/// `0xAEBE5A5A` little-endian, 8 times).
pub const EKEY_SEED: [u8; 32] = seed([0x5A, 0x5A, 0xBE, 0xAE]);
/// The seed HMAC'd into the NVS tweak key (`TKEY_SEED`: `0xCEDEA5A5` little-endian, 8 times).
pub const TKEY_SEED: [u8; 32] = seed([0xA5, 0xA5, 0xDE, 0xCE]);

const fn seed(word: [u8; 4]) -> [u8; 32] {
    let mut s = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        s[i] = word[i % 4];
        i += 1;
    }
    s
}

/// HMAC-SHA256 of a 32-byte message with a key the implementor holds (on the chip: an eFuse
/// key block the HMAC peripheral reads; software never sees it).
///
/// Fallible, unlike a software HMAC: the peripheral refuses a key block whose purpose is not
/// `HMAC_UP`.
pub trait HmacSha256 {
    /// Why the MAC could not be computed.
    type Error: core::fmt::Debug;

    /// `HMAC-SHA256(key, msg)`.
    fn hmac(&mut self, msg: &[u8; 32]) -> Result<[u8; 32], Self::Error>;
}

impl<H: HmacSha256 + ?Sized> HmacSha256 for &mut H {
    type Error = H::Error;
    fn hmac(&mut self, msg: &[u8; 32]) -> Result<[u8; 32], H::Error> {
        (**self).hmac(msg)
    }
}

/// The NVS keys `nvs_sec_provider`'s HMAC scheme derives with `h`'s key. The intermediate
/// copies are zeroized; the returned [`NvsKeys`] zeroize themselves when dropped.
pub fn derive_nvs_keys<H: HmacSha256>(h: &mut H) -> Result<NvsKeys, H::Error> {
    let mut eky = h.hmac(&EKEY_SEED)?;
    let mut tky = match h.hmac(&TKEY_SEED) {
        Ok(t) => t,
        Err(e) => {
            eky.zeroize();
            return Err(e);
        }
    };
    let keys = NvsKeys::new(eky, tky);
    eky.zeroize();
    tky.zeroize();
    Ok(keys)
}

/// eFuse key purpose `HMAC_UP` (ESP-IDF `ESP_EFUSE_KEY_PURPOSE_HMAC_UP`; esp-hal's
/// `HmacPurpose::ToUser`).
pub const PURPOSE_HMAC_UP: u8 = 8;

/// Number of eFuse key blocks (`BLOCK_KEY0`..`BLOCK_KEY5`).
pub const KEY_BLOCKS: u8 = 6;

/// The name ESP-IDF gives an eFuse key purpose on the ESP32-C3.
pub fn purpose_name(p: u8) -> &'static str {
    match p {
        0 => "USER",
        1 => "RESERVED",
        4 => "XTS_AES_128_KEY",
        5 => "HMAC_DOWN_ALL",
        6 => "HMAC_DOWN_JTAG",
        7 => "HMAC_DOWN_DIGITAL_SIGNATURE",
        8 => "HMAC_UP",
        9 => "SECURE_BOOT_DIGEST0",
        10 => "SECURE_BOOT_DIGEST1",
        11 => "SECURE_BOOT_DIGEST2",
        _ => "unknown",
    }
}

/// Which eFuse key block holds the NVS HMAC key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyChoice {
    /// HMAC-based NVS keys are not used.
    Off,
    /// `BLOCK_KEY<n>`, n in 0..=5.
    Block(u8),
    /// The first key block whose purpose is `HMAC_UP`.
    Auto,
}

impl KeyChoice {
    /// Parse the firmware's setting: unset or `""`/`off` → [`KeyChoice::Off`], `0`..`5` →
    /// [`KeyChoice::Block`], `auto` → [`KeyChoice::Auto`]; anything else is `None`.
    pub fn parse(s: Option<&str>) -> Option<KeyChoice> {
        match s.map(str::trim) {
            None | Some("") | Some("off") => Some(KeyChoice::Off),
            Some("auto") => Some(KeyChoice::Auto),
            Some(n) => n.parse::<u8>().ok().filter(|&n| n < KEY_BLOCKS).map(KeyChoice::Block),
        }
    }
}

/// Why no key block can be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyBlockError {
    /// The chosen block's purpose is not `HMAC_UP` (the peripheral would refuse it).
    WrongPurpose {
        /// The block.
        block: u8,
        /// Its purpose.
        purpose: u8,
    },
    /// `auto`: no block has purpose `HMAC_UP`. (ESP-IDF would generate and burn a key; this
    /// firmware never burns eFuses.)
    NoHmacUpKey,
    /// The block number is not 0..=5.
    NoSuchBlock(u8),
}

impl core::fmt::Display for KeyBlockError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            KeyBlockError::WrongPurpose { block, purpose } => write!(
                f,
                "eFuse BLOCK_KEY{block} has purpose {} ({purpose}), not HMAC_UP",
                purpose_name(purpose)
            ),
            KeyBlockError::NoHmacUpKey => f.write_str(
                "no eFuse key block has purpose HMAC_UP (burn one with espefuse burn-key ... HMAC_UP)",
            ),
            KeyBlockError::NoSuchBlock(b) => write!(f, "there is no eFuse key block {b} (0..=5)"),
        }
    }
}

/// The key block to use, given the six `KEY_PURPOSE_n` values. `Ok(None)` for
/// [`KeyChoice::Off`].
pub fn select_key_block(choice: KeyChoice, purposes: [u8; 6]) -> Result<Option<u8>, KeyBlockError> {
    match choice {
        KeyChoice::Off => Ok(None),
        KeyChoice::Block(b) => match purposes.get(usize::from(b)) {
            None => Err(KeyBlockError::NoSuchBlock(b)),
            Some(&PURPOSE_HMAC_UP) => Ok(Some(b)),
            Some(&purpose) => Err(KeyBlockError::WrongPurpose { block: b, purpose }),
        },
        KeyChoice::Auto => purposes
            .iter()
            .position(|&p| p == PURPOSE_HMAC_UP)
            .map(|i| Some(i as u8))
            .ok_or(KeyBlockError::NoHmacUpKey),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_the_sec_provider_words() {
        assert_eq!(&EKEY_SEED[..8], &[0x5A, 0x5A, 0xBE, 0xAE, 0x5A, 0x5A, 0xBE, 0xAE]);
        assert_eq!(u32::from_le_bytes(EKEY_SEED[28..].try_into().unwrap()), 0xAEBE_5A5A);
        assert_eq!(u32::from_le_bytes(TKEY_SEED[..4].try_into().unwrap()), 0xCEDE_A5A5);
    }

    #[test]
    fn choice_parsing() {
        assert_eq!(KeyChoice::parse(None), Some(KeyChoice::Off));
        assert_eq!(KeyChoice::parse(Some("")), Some(KeyChoice::Off));
        assert_eq!(KeyChoice::parse(Some("off")), Some(KeyChoice::Off));
        assert_eq!(KeyChoice::parse(Some(" auto ")), Some(KeyChoice::Auto));
        assert_eq!(KeyChoice::parse(Some("0")), Some(KeyChoice::Block(0)));
        assert_eq!(KeyChoice::parse(Some("5")), Some(KeyChoice::Block(5)));
        for bad in ["6", "-1", "BLOCK_KEY3", "256", "x"] {
            assert_eq!(KeyChoice::parse(Some(bad)), None, "{bad}");
        }
    }

    #[test]
    fn block_selection() {
        // Flash-encryption key in block 0, HMAC_UP in block 3.
        let p = [4, 0, 0, 8, 0, 0];
        assert_eq!(select_key_block(KeyChoice::Off, p), Ok(None));
        assert_eq!(select_key_block(KeyChoice::Auto, p), Ok(Some(3)));
        assert_eq!(select_key_block(KeyChoice::Block(3), p), Ok(Some(3)));
        assert_eq!(
            select_key_block(KeyChoice::Block(0), p),
            Err(KeyBlockError::WrongPurpose { block: 0, purpose: 4 })
        );
        assert_eq!(select_key_block(KeyChoice::Block(9), p), Err(KeyBlockError::NoSuchBlock(9)));
        assert_eq!(select_key_block(KeyChoice::Auto, [0; 6]), Err(KeyBlockError::NoHmacUpKey));
        assert_eq!(select_key_block(KeyChoice::Auto, [8, 0, 0, 8, 0, 0]), Ok(Some(0)));
        let msg = alloc::format!("{}", KeyBlockError::WrongPurpose { block: 0, purpose: 4 });
        assert!(msg.contains("XTS_AES_128_KEY"), "{msg}");
    }

    struct Failing(usize);
    impl HmacSha256 for Failing {
        type Error = &'static str;
        fn hmac(&mut self, _: &[u8; 32]) -> Result<[u8; 32], &'static str> {
            if self.0 == 0 {
                return Err("purpose mismatch");
            }
            self.0 -= 1;
            Ok([7; 32])
        }
    }

    #[test]
    fn errors_propagate() {
        assert_eq!(derive_nvs_keys(&mut Failing(0)).unwrap_err(), "purpose mismatch");
        assert_eq!(derive_nvs_keys(&mut Failing(1)).unwrap_err(), "purpose mismatch");
        let k = derive_nvs_keys(&mut Failing(2)).unwrap();
        assert_eq!(k.encryption_key(), &[7; 32]);
    }
}
