//! The simulator's manufacturing store: a whole flash dump (`--flash`), a partition image
//! (`--mfg-nvs`), or the built-in default — an in-memory `mfg_nvs` provisioned with ESP-AT's
//! `factory_param` and the public demo credentials of `at-certstore`.
//!
//! All three go through the same code the device uses: `at_flash::MfgStorage` over an
//! ESP-IDF NVS partition.

use std::path::Path;

use at_flash::{FlashKey, MfgStorage};
use at_hal::kv::{Kv, KvError, Value};
use at_mock::flash::MockFlash;
use at_nvs::NvsKeys;
use embedded_storage::nor_flash::{ErrorType, NorFlash, NorFlashError, ReadNorFlash};

use crate::flash::{FileFlash, FileFlashError};

/// Size of ESP-AT's `mfg_nvs` on the ESP32-C3 (124 KiB).
pub const MFG_NVS_SIZE: usize = 0x1F000;

/// A flash in a file or in memory.
#[derive(Debug)]
pub enum HostFlash {
    /// A file (a dump or a partition image); writes reach the file.
    File(FileFlash),
    /// Memory (the built-in default store).
    Memory(MockFlash),
}

impl ErrorType for HostFlash {
    type Error = FileFlashError;
}

fn mem_err<E: NorFlashError>(e: E) -> FileFlashError {
    FileFlashError::Nor(e.kind())
}

impl ReadNorFlash for HostFlash {
    const READ_SIZE: usize = 4;
    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), FileFlashError> {
        match self {
            HostFlash::File(f) => f.read(offset, bytes),
            HostFlash::Memory(m) => m.read(offset, bytes).map_err(mem_err),
        }
    }
    fn capacity(&self) -> usize {
        match self {
            HostFlash::File(f) => f.capacity(),
            HostFlash::Memory(m) => m.capacity(),
        }
    }
}

impl NorFlash for HostFlash {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = 4096;
    fn erase(&mut self, from: u32, to: u32) -> Result<(), FileFlashError> {
        match self {
            HostFlash::File(f) => f.erase(from, to),
            HostFlash::Memory(m) => m.erase(from, to).map_err(mem_err),
        }
    }
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), FileFlashError> {
        match self {
            HostFlash::File(f) => f.write(offset, bytes),
            HostFlash::Memory(m) => m.write(offset, bytes).map_err(mem_err),
        }
    }
}

/// The simulator's `mfg_nvs`.
pub type HostMfg = MfgStorage<'static, HostFlash>;

/// Where the manufacturing data comes from.
#[derive(Debug, Clone, Default)]
pub struct MfgSource {
    /// A whole flash dump.
    pub flash: Option<std::path::PathBuf>,
    /// An `mfg_nvs` partition image.
    pub mfg_nvs: Option<std::path::PathBuf>,
    /// The flash-encryption key file (32 bytes, as `espsecure` takes it).
    pub flash_encryption_key: Option<std::path::PathBuf>,
    /// An `nvs_keys` partition image.
    pub nvs_keys: Option<std::path::PathBuf>,
    /// A 32-byte eFuse HMAC key (NVS keys derived as ESP32-C3 does).
    pub hmac_key: Option<std::path::PathBuf>,
}

fn read(p: &Path) -> std::io::Result<Vec<u8>> {
    std::fs::read(p).map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", p.display())))
}

fn invalid(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, msg)
}

/// ESP-AT's `factory_param` for the ESP32-C3 MINI-1 (its `factory_param_data.csv` row), with
/// ESP-AT's types.
pub fn provision_factory_param<K: Kv>(kv: &mut K) -> Result<(), KvError> {
    let ns = "factory_param";
    kv.set(ns, "version", Value::I8(4))?;
    kv.set(ns, "module_name", Value::Str(b"MINI-1"))?;
    kv.set(ns, "max_tx_power", Value::I8(78))?;
    kv.set(ns, "start_channel", Value::U8(1))?;
    kv.set(ns, "channel_num", Value::U8(13))?;
    kv.set(ns, "country_code", Value::Str(b"CN"))?;
    kv.set(ns, "uart_port", Value::I8(1))?;
    kv.set(ns, "uart_baudrate", Value::I32(115_200))?;
    kv.set(ns, "uart_tx_pin", Value::I32(7))?;
    kv.set(ns, "uart_rx_pin", Value::I32(6))?;
    kv.set(ns, "uart_cts_pin", Value::I32(5))?;
    kv.set(ns, "uart_rts_pin", Value::I32(4))?;
    kv.set(ns, "sys_store", Value::U8(1))?;
    Ok(())
}

/// Open the manufacturing store described by `src`. Fails only for unusable *arguments*
/// (missing files, malformed keys); an unreadable partition is not an error here — the store
/// opens and reports its diagnosis, as the firmware will.
pub fn open(src: &MfgSource) -> std::io::Result<HostMfg> {
    let nvs_keys = match (&src.nvs_keys, &src.hmac_key) {
        (Some(_), Some(_)) => return Err(invalid("give --nvs-keys or --hmac-key, not both".into())),
        (Some(p), None) => {
            Some(NvsKeys::from_partition(&read(p)?).map_err(|e| invalid(format!("{}: {e}", p.display())))?)
        }
        (None, Some(p)) => {
            let k = read(p)?;
            if k.len() != 32 {
                return Err(invalid(format!(
                    "{}: an eFuse HMAC key has 32 bytes, not {}",
                    p.display(),
                    k.len()
                )));
            }
            Some(NvsKeys::from_hmac_key(&k))
        }
        (None, None) => None,
    };
    let key: Option<&'static FlashKey> = match &src.flash_encryption_key {
        Some(p) => Some(Box::leak(Box::new(
            FlashKey::from_slice(&read(p)?)
                .map_err(|e| invalid(format!("{}: not a flash-encryption key file: {e:?}", p.display())))?,
        ))),
        None => None,
    };
    match (&src.flash, &src.mfg_nvs) {
        (Some(_), Some(_)) => Err(invalid("give --flash or --mfg-nvs, not both".into())),
        (Some(p), None) => {
            let f = FileFlash::open_existing(p)?;
            Ok(MfgStorage::whole_flash(HostFlash::File(f), key, nvs_keys))
        }
        (None, Some(p)) => {
            if key.is_some() {
                return Err(invalid(
                    "--flash-encryption-key needs a whole flash (--flash): a partition image has no \
                     table saying how the chip reads it"
                        .into(),
                ));
            }
            let f = FileFlash::open_existing(p)?;
            Ok(MfgStorage::partition_image(HostFlash::File(f), nvs_keys))
        }
        (None, None) => {
            let mut s = MfgStorage::partition_image(HostFlash::Memory(MockFlash::new(MFG_NVS_SIZE)), None);
            provision_factory_param(&mut s).map_err(|e| invalid(format!("default store: {e}")))?;
            at_certstore::demo::provision(&mut s).map_err(|e| invalid(format!("default store: {e}")))?;
            Ok(s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use at_hal::storage::MfgStore;

    #[test]
    fn default_store_holds_factory_param_and_demo_credentials() {
        let mut s = open(&MfgSource::default()).unwrap();
        assert_eq!(s.unreadable(), None);
        let mut buf = [0u8; 16];
        assert_eq!(s.get("factory_param", "module_name", &mut buf), Ok(Value::Str(b"MINI-1")));
        let mut cert = vec![0u8; 4096];
        let n = s.get("server_cert", "server_cert", &mut cert).unwrap().len();
        assert_eq!(&cert[..n], at_certstore::demo::SERVER_CERT);
    }
}
