//! NVS keys from the HMAC peripheral (ESP-IDF's `nvs_sec_provider` HMAC scheme).
//!
//! **Choosing it** (build time): set `ESP_AT_NVS_HMAC_KEY` when building the firmware:
//!
//! | value | meaning |
//! |---|---|
//! | unset, `""`, `off` | no HMAC scheme: `mfg_nvs` is mounted without NVS keys (plain) |
//! | `0` … `5` | eFuse `BLOCK_KEY<n>`, whose purpose must be `HMAC_UP` |
//! | `auto` | the first key block with purpose `HMAC_UP` |
//!
//! e.g. `ESP_AT_NVS_HMAC_KEY=3 ./ci.sh`. The key is burned beforehand with
//! `espefuse burn-key BLOCK_KEY3 hmac_key.bin HMAC_UP` (and `mfg_nvs` generated with
//! `nvs_partition_gen.py encrypt ... --key_protect_hmac --kp_hmac_inputkey hmac_key.bin`).
//! Unlike ESP-IDF, the firmware never generates or burns a key.
//!
//! The peripheral runs in "upstream" mode (purpose `ToUser`): software gives the message and
//! reads the MAC; the eFuse key never leaves the peripheral (read-protect the block with
//! espefuse). at-esp32c3's `derive_nvs_keys` HMACs its two seeds; the MACs are zeroized once
//! copied into `NvsKeys`, which zeroizes itself when dropped (the manufacturing store keeps
//! them for its re-mounts after AT+SYSFLASH writes).

use core::convert::Infallible;

use at_esp32c3::hmac::{KeyChoice, select_key_block};
use at_esp32c3::{HmacSha256, derive_nvs_keys};
use at_nvs::NvsKeys;
use esp_hal::efuse;
use esp_hal::hmac::{Hmac, HmacPurpose, KeyId};
use esp_hal::peripherals::HMAC;

/// The build-time choice of the HMAC key block (see the module docs).
const SETTING: Option<&str> = option_env!("ESP_AT_NVS_HMAC_KEY");

/// The HMAC peripheral with one eFuse key block (purpose `HMAC_UP`).
pub struct EfuseHmac<'d> {
    hmac: Hmac<'d>,
    key: KeyId,
}

/// Why the peripheral refused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PurposeMismatch;

impl HmacSha256 for EfuseHmac<'_> {
    type Error = PurposeMismatch;

    fn hmac(&mut self, msg: &[u8; 32]) -> Result<[u8; 32], PurposeMismatch> {
        self.hmac.init();
        match self.hmac.configure(HmacPurpose::ToUser, self.key) {
            Ok(()) => {}
            Err(nb::Error::WouldBlock) | Err(nb::Error::Other(_)) => return Err(PurposeMismatch),
        }
        let mut rest: &[u8] = msg;
        while !rest.is_empty() {
            rest = block(|| self.hmac.update(rest));
        }
        let mut out = [0u8; 32];
        block(|| self.hmac.finalize(&mut out));
        Ok(out)
    }
}

/// Call an infallible `nb` operation until it is no longer busy.
fn block<T>(mut op: impl FnMut() -> nb::Result<T, Infallible>) -> T {
    loop {
        match op() {
            Ok(v) => return v,
            // `update`/`finalize` answer WouldBlock only while the peripheral is busy.
            Err(nb::Error::WouldBlock) => {}
            Err(nb::Error::Other(never)) => match never {},
        }
    }
}

fn key_id(block: u8) -> Option<KeyId> {
    Some(match block {
        0 => KeyId::Key0,
        1 => KeyId::Key1,
        2 => KeyId::Key2,
        3 => KeyId::Key3,
        4 => KeyId::Key4,
        5 => KeyId::Key5,
        _ => return None,
    })
}

/// The six eFuse key purposes.
fn key_purposes() -> [u8; 6] {
    [
        efuse::read_field_le::<u8>(efuse::KEY_PURPOSE_0),
        efuse::read_field_le::<u8>(efuse::KEY_PURPOSE_1),
        efuse::read_field_le::<u8>(efuse::KEY_PURPOSE_2),
        efuse::read_field_le::<u8>(efuse::KEY_PURPOSE_3),
        efuse::read_field_le::<u8>(efuse::KEY_PURPOSE_4),
        efuse::read_field_le::<u8>(efuse::KEY_PURPOSE_5),
    ]
}

/// The NVS keys for `mfg_nvs`, if the build chose the HMAC scheme and the eFuse key is there
/// (every outcome is logged on UART0).
pub fn nvs_keys(peripheral: HMAC<'static>) -> Option<NvsKeys> {
    let Some(choice) = KeyChoice::parse(SETTING) else {
        log::error!("ESP_AT_NVS_HMAC_KEY={SETTING:?} is not off, auto or 0..5: NVS keys not derived");
        return None;
    };
    let block = match select_key_block(choice, key_purposes()) {
        Ok(None) => {
            log::info!("NVS encryption keys: HMAC scheme not configured (ESP_AT_NVS_HMAC_KEY)");
            return None;
        }
        Ok(Some(b)) => b,
        Err(e) => {
            log::error!("NVS encryption keys not derived: {e}");
            return None;
        }
    };
    let key = key_id(block)?;
    let mut h = EfuseHmac { hmac: Hmac::new(peripheral), key };
    match derive_nvs_keys(&mut h) {
        Ok(k) => {
            log::info!("NVS encryption keys derived with the HMAC peripheral from eFuse BLOCK_KEY{block}");
            Some(k)
        }
        Err(PurposeMismatch) => {
            log::error!("the HMAC peripheral refused eFuse BLOCK_KEY{block} (purpose is not HMAC_UP)");
            None
        }
    }
}
