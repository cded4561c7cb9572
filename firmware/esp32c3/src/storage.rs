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
//! The flash is read and written through at-esp32c3's `RoutedFlash` ([`crate::flash`]): with
//! flash encryption on, the bootloader, the primary table, apps, OTA data, `nvs_keys` and every
//! partition flagged `encrypted` (in either table) go through the chip's flash decryption (the
//! cache/MMU for reads, the ROM's encrypted program for writes); everything else is raw, as
//! ESP-AT reads it. So the primary table is the real one (no longer assumed), and a `mfg_nvs`
//! or `at_customize` that `idf.py encrypted-flash` wrote encrypted without being flagged (the
//! forum's case) still reads as ciphertext and is *diagnosed* (the seed bug's `0x010a0102` /
//! `0x010a0103`, logged here at boot and answered by AT+SYSMFG), never formatted.
//!
//! A `mfg_nvs` flagged `encrypted` reads decrypted (certificates readable); NVS updates to it
//! are refused (`RoutedError::EncryptedWriteNotAligned` / `NotErased`: NVS clears bits in
//! place, which XTS ciphertext cannot take — ESP-IDF forbids NVS on such partitions).

use alloc::boxed::Box;

use at_esp32c3::Access;
use at_esp32c3::factory::{AtUartPins, C3_MINI_1, FactoryUart};
use at_esp32c3::routed::BootTables;
use at_flash::layout;
use at_flash::table::{PartitionEntry, subtypes, types};
use at_flash::{MfgStorage, NvsKeys, PartitionView, SharedFlash};
use at_hal::kv::{Kv, MemKv};
use at_hal::storage::MfgStore;
use at_nvs::Nvs;
use esp_storage::FlashStorage;

use crate::flash::{self, Routed};

/// The chip's flash (routed: raw or through flash decryption), shared by the settings store
/// and the manufacturing store.
pub type Flash = SharedFlash<Routed>;

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

/// Open the settings and manufacturing stores on `flash`; `nvs_keys` are `mfg_nvs`'s NVS
/// encryption keys (HMAC scheme, [`crate::hmac`]), if configured.
pub fn open(flash: FlashStorage<'static>, nvs_keys: Option<NvsKeys>) -> Stores {
    let (routed, tables) = flash::routed(flash);
    let flash = SharedFlash::new(routed);
    log::info!(
        "flash: {} KiB",
        flash.with(|f| embedded_storage::nor_flash::ReadNorFlash::capacity(f)) / 1024
    );

    let settings = open_settings(&flash, &tables);

    for e in &tables.ignored_secondary {
        log::warn!(
            "secondary table: {} at 0x{:x} (+0x{:x}) lies outside at_customize: ignored for flash routing",
            e.label.as_str().unwrap_or("?"),
            e.offset,
            e.size
        );
    }
    // mfg_nvs flagged `encrypted` (read through flash decryption): mounted read-only, since NVS
    // cannot update XTS ciphertext in place and a load-time repair would erase a page.
    let mfg_decrypted = tables
        .secondary
        .table()
        .and_then(layout::find_mfg_nvs)
        .is_some_and(|e| flash.with(|f| f.regions().access_at(e.offset)) == Access::Decrypted);
    let mfg = if mfg_decrypted {
        log::warn!("mfg_nvs is flagged `encrypted`: read through flash decryption and mounted read-only");
        MfgStorage::whole_flash_read_only(flash.clone(), None, nvs_keys)
    } else {
        MfgStorage::whole_flash(flash.clone(), None, nvs_keys)
    };
    match mfg.unreadable() {
        None => log::info!("mfg_nvs: {}", mfg.detail()),
        Some(u) => {
            // The seed's case ends here: an encrypted mfg_nvs or secondary table read as plain.
            log::error!(
                "mfg_nvs unreadable ({u}; AT+SYSMFG: ERR CODE:{}): {}",
                at_core::unreadable_error(u).code,
                mfg.detail()
            );
            log::error!("AT+SYSMFG and certificates will answer ERROR with this reason (AT+SYSLOG=1)");
        }
    }
    Stores { settings, mfg }
}

/// The AT port's wiring: `factory_param`'s when it is valid for this firmware (UART1, pins
/// free on the C3: [`at_esp32c3::factory::usable_for_at_port`]), else ESP32-C3-MINI-1's;
/// logged either way.
pub fn factory_uart_pins(mfg: &mut Mfg) -> AtUartPins {
    let found = if mfg.unreadable().is_some() {
        None
    } else {
        match FactoryUart::read(mfg).map(|f| f.check().and_then(AtUartPins::for_at_port)) {
            Ok(Ok(p)) => Some(p),
            Ok(Err(e)) => {
                log::warn!("{e}; the AT port uses ESP32-C3-MINI-1's pins");
                None
            }
            Err(e) => {
                log::warn!("factory_param unreadable ({e}); the AT port uses ESP32-C3-MINI-1's pins");
                None
            }
        }
    };
    let p = found.unwrap_or(C3_MINI_1);
    log::info!("AT port: UART{} TX GPIO{} RX GPIO{} CTS {:?} RTS {:?}", p.port, p.tx, p.rx, p.cts, p.rts);
    p
}

/// Where the settings partition is: the primary table as read at boot (decrypted with flash
/// encryption on), else ESP-AT's default ESP32-C3 layout.
fn settings_partition(tables: &BootTables) -> Option<PartitionEntry> {
    let find =
        |t: &at_flash::PartitionTable| t.find(types::DATA, subtypes::DATA_NVS, Some(SETTINGS_LABEL)).copied();
    match tables.primary.table() {
        Some(t) => find(t),
        None => {
            log::warn!(
                "primary partition table at 0x8000 {}: using ESP-AT's default ESP32-C3 layout",
                tables.primary
            );
            find(&layout::esp_at_c3_default_primary())
        }
    }
}

fn open_settings(flash: &Flash, tables: &BootTables) -> Box<dyn Kv> {
    let Some(p) = settings_partition(tables) else {
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
    // The settings partition is not flagged `encrypted` in ESP-AT's table (NVS cannot live
    // under flash encryption), so a raw read-write mount is what the chip does too.
    if flash.with(|f| f.regions().access_at(p.offset)) == Access::Decrypted {
        log::warn!("`{SETTINGS_LABEL}` is flagged `encrypted`: settings updates will be refused");
    }
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
