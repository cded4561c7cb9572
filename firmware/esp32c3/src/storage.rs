//! The chip's flash: AT settings in ESP-AT's `nvs` partition and the manufacturing store
//! (`mfg_nvs`), both ESP-IDF NVS through at-nvs, located through the partition tables with
//! at-flash, as ESP-AT does.
//!
//! The flash is esp-storage's [`FlashStorage`] used **only through `embedded_storage::NorFlash`**
//! (`read` / `write` / `erase` map to `read_nor` / `write_nor` / `erase`: program and erase,
//! nothing else). esp-storage's `embedded_storage::Storage` impl (`FlashStorage::write`) does a
//! read-erase-write of whole 4 KiB sectors with no power-loss guarantee; NVS's append-only,
//! power-cut-safe update scheme depends on never doing that, so it is not used anywhere here.
//! Geometry: read and program in 4-byte units, erase in 4 KiB sectors (what at-mock's
//! `MockFlash` emulates, so the host tests exercise the same rules).
//!
//! # Flash encryption
//!
//! Everything here reads the flash **raw**, as ESP-AT reads partitions that are not flagged
//! `encrypted`. On a chip with flash encryption on, the primary table (always stored encrypted)
//! reads as ciphertext: at-flash then takes ESP-AT's default ESP32-C3 layout, as on the host
//! without a key, and a `mfg_nvs` or `at_customize` that was written encrypted is *diagnosed*
//! (the seed bug's `0x010a0102` / `0x010a0103`), never formatted.
//!
//! Decryption is not implemented in this milestone. What esp-hal offers for it (checked in
//! esp-storage 0.10.0 `src/encrypted.rs`, esp-hal 1.2.2 `src/efuse/esp32c3/mod.rs`):
//! * `esp_storage::flash_encryption()` / `esp_hal::efuse::flash_encryption()`: whether
//!   `SPI_BOOT_CRYPT_CNT` has an odd number of bits set (encryption on).
//! * `FlashStorage::read_encrypted(offset, buf)`: maps the sector through the MMU and reads it
//!   through the cache, so the hardware decrypts it (any offset/length; plain data if encryption
//!   is off). This is the chip-side equivalent of at-flash's `DecryptedView` and needs no key in
//!   software — the next step is a `ReadNorFlash` adapter over it for partitions the chip reads
//!   decrypted (the primary table, partitions flagged `encrypted`).
//! * `FlashStorage::write_encrypted(offset, data)`: read-modify-write of whole sectors through
//!   the hardware's manual-encryption block; `NotSupported` when encryption is off. Not suitable
//!   for NVS (NVS cannot update in place under XTS; at-flash mounts such a store read-only).

use alloc::boxed::Box;

use at_flash::layout::{self, TableRead};
use at_flash::table::{PRIMARY_TABLE_OFFSET, PartitionEntry, subtypes, types};
use at_flash::{MfgStorage, PartitionView, SharedFlash};
use at_hal::kv::{Kv, MemKv};
use at_hal::storage::MfgStore;
use at_nvs::Nvs;
use esp_storage::FlashStorage;

/// The chip's flash, shared by the settings store and the manufacturing store.
pub type Flash = SharedFlash<FlashStorage<'static>>;

/// The manufacturing store: `mfg_nvs` found through ESP-AT's two tables (or its diagnosis),
/// plus AT+SYSFLASH access to ESP-AT's user partitions.
pub type Mfg = MfgStorage<'static, Flash>;

/// Label of ESP-AT's settings partition.
pub const SETTINGS_LABEL: &str = "nvs";

/// Both stores, opened from the flash.
pub struct Stores {
    /// AT settings (`AT+SYSSTORE`, `AT+UART_DEF`, ...): the `nvs` partition, or memory if it
    /// cannot be mounted (logged; nothing on flash is touched then).
    pub settings: Box<dyn Kv>,
    /// `mfg_nvs`.
    pub mfg: Mfg,
}

/// Open the settings and manufacturing stores on `flash`.
pub fn open(flash: FlashStorage<'static>) -> Stores {
    let encryption = esp_storage::flash_encryption();
    let flash = SharedFlash::new(flash);
    log::info!(
        "flash: {} KiB, flash encryption {}",
        flash.with(|f| embedded_storage::nor_flash::ReadNorFlash::capacity(f)) / 1024,
        if encryption { "ON (partitions are read raw: decryption is not implemented yet)" } else { "off" }
    );

    let settings = open_settings(&flash);

    let mfg = MfgStorage::whole_flash(flash, None, None);
    match mfg.unreadable() {
        None => log::info!("mfg_nvs: {}", mfg.detail()),
        Some(u) => {
            log::error!("mfg_nvs unreadable ({u}): {}", mfg.detail());
            log::error!("AT+SYSMFG and certificates will answer ERROR with this reason (AT+SYSLOG=1)");
        }
    }
    Stores { settings, mfg }
}

/// Where the settings partition is: the primary table at 0x8000 if it reads plain, else
/// ESP-AT's default ESP32-C3 layout (what the bootloader found, if the table is encrypted).
fn settings_partition(flash: &Flash) -> Option<PartitionEntry> {
    let find =
        |t: &at_flash::PartitionTable| t.find(types::DATA, subtypes::DATA_NVS, Some(SETTINGS_LABEL)).copied();
    match flash.with(|f| layout::read_table(f, PRIMARY_TABLE_OFFSET, None)) {
        Ok(TableRead::Plain(t)) => find(&t),
        Ok(other) => {
            let why = match other {
                TableRead::Blank => "blank",
                TableRead::Unreadable { looks_encrypted: true, .. } => "stored encrypted",
                _ => "unreadable",
            };
            log::warn!("primary partition table at 0x8000 {why}: using ESP-AT's default ESP32-C3 layout");
            find(&layout::esp_at_c3_default_primary())
        }
        Err(e) => {
            log::error!("flash read of the partition table failed: {e:?}");
            None
        }
    }
}

fn open_settings(flash: &Flash) -> Box<dyn Kv> {
    let Some(p) = settings_partition(flash) else {
        log::error!("no `{SETTINGS_LABEL}` partition: settings live in RAM (lost at reset)");
        return Box::new(MemKv::new());
    };
    let view = match PartitionView::new(flash.clone(), p.offset, p.size) {
        Ok(v) => v,
        Err(e) => {
            log::error!("`{SETTINGS_LABEL}` at 0x{:x} does not fit the flash: {e:?}", p.offset);
            return Box::new(MemKv::new());
        }
    };
    // The settings partition is never flagged `encrypted` (NVS cannot live under flash
    // encryption), so a raw read-write mount is what the chip does too.
    match Nvs::mount(view, None) {
        Ok(nvs) => {
            log::info!("settings: `{SETTINGS_LABEL}` at 0x{:x} ({} bytes) mounted", p.offset, p.size);
            Box::new(nvs)
        }
        Err(e) => {
            // Never formatted: whatever is there stays for a person to inspect (at-mfg inspect).
            log::error!(
                "settings partition `{SETTINGS_LABEL}` at 0x{:x} cannot be mounted ({e}): settings live in RAM",
                p.offset
            );
            Box::new(MemKv::new())
        }
    }
}
