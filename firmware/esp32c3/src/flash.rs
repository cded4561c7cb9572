//! The chip's flash driver under at-esp32c3's routing: [`ChipFlash`] implements
//! [`ChipFlashOps`] with esp-storage 0.10, and [`routed`] boots the policy (which ranges are
//! read through flash decryption) from the partition tables.
//!
//! # Reading and writing flash-encrypted ranges on the ESP32-C3 (esp-storage 0.10.0)
//!
//! With flash encryption on (eFuse `SPI_BOOT_CRYPT_CNT` has an odd number of bits set;
//! `esp_hal::efuse::flash_encryption()`), an SPI read (`esp_rom_spiflash_read`, what
//! `FlashStorage`'s `NorFlash::read` does) returns the **ciphertext**. Plaintext comes only
//! through the cache: the flash MMU maps a 64 KiB flash page into the data bus (DROM,
//! 0x3C00_0000..) and the cache decrypts transparently what it loads from an encrypted chip.
//!
//! * **Reads** — `FlashStorage::read_encrypted(offset, buf)` (esp-storage `src/encrypted.rs`
//!   and `src/mmu.rs`): for each page it finds the MMU entry already mapping it (the running
//!   app's own pages) or takes a free entry of the C3's MMU table (the last one is left to the
//!   bootloader) and points it at the page — on the C3 every cache access to flash is decrypted
//!   once flash encryption is on, no per-entry bit is involved — invalidates the cache
//!   for that virtual range (ROM `Cache_Invalidate_Addr`), copies the bytes out and unmaps —
//!   inside esp-storage's critical section. Any offset and length; plaintext bytes when
//!   encryption is off. No ROM `Cache_*` mapping call or esp-hal MMU API is needed from us.
//! * **Writes** — the ROM's `esp_rom_spiflash_write_encrypted(addr, data, len)` encrypts with
//!   the eFuse key through the manual-encryption block and programs the ciphertext. It needs
//!   a 32-byte aligned address and length, a word-aligned buffer and **erased** flash (XTS
//!   ciphertext cannot be bit-cleared into other ciphertext). esp-storage exposes it as
//!   `esp_storage::ll::spiflash_write_encrypted` (unsafe, checks nothing; it takes esp-storage's
//!   critical section and invalidates the cache for the range afterwards) and, safe but
//!   unsuitable here, as `FlashStorage::write_encrypted` — a read-erase-write of whole 4 KiB
//!   sectors with no power-loss guarantee. [`ChipFlash::program_encrypted`] uses the `ll`
//!   function; at-esp32c3's `RoutedFlash` has already enforced the 32-byte units and checked
//!   that the target reads raw `FF`.
//! * **Erase** is the same with or without encryption.
//!
//! Not done: the ROM's `esp_rom_spiflash_write_encrypted` is used exactly as esp-storage's own
//! `write_encrypted` uses it (and esp-storage's hardware tests exercise that), but this
//! firmware has **not been run on a flash-encrypted board**; treat encrypted writes as
//! untested on hardware.

use at_esp32c3::RoutedFlash;
use at_esp32c3::routed::{self, BootTables, ChipFlashOps, ENCRYPTED_WRITE_UNIT};
use embedded_storage::nor_flash::{NorFlash, ReadNorFlash};
use esp_storage::{FlashStorage, FlashStorageError};

/// esp-storage's flash, as at-esp32c3's [`ChipFlashOps`].
pub struct ChipFlash {
    storage: FlashStorage<'static>,
    /// Whether the ROM's flash unlock ran (before the first encrypted program; esp-storage
    /// tracks its own unlock for its own writes privately).
    unlocked: bool,
}

/// An error of the encrypted-program path (the ROM's return code) or of esp-storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChipFlashError {
    /// esp-storage's error.
    Storage(FlashStorageError),
    /// `esp_rom_spiflash_unlock` failed with this code.
    Unlock(i32),
    /// `esp_rom_spiflash_write_encrypted` failed with this code.
    WriteEncrypted(i32),
    /// An encrypted program was asked for with flash encryption off: the ROM would still
    /// encrypt (with whatever key the eFuse holds) and the data would read back as garbage.
    EncryptionOff,
}

impl ChipFlash {
    /// Wrap esp-storage's flash.
    pub fn new(storage: FlashStorage<'static>) -> ChipFlash {
        ChipFlash { storage, unlocked: false }
    }
}

impl ChipFlashOps for ChipFlash {
    type Error = ChipFlashError;

    fn capacity(&self) -> usize {
        ReadNorFlash::capacity(&self.storage)
    }

    fn read_raw(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), ChipFlashError> {
        ReadNorFlash::read(&mut self.storage, offset, buf).map_err(ChipFlashError::Storage)
    }

    fn read_decrypted(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), ChipFlashError> {
        self.storage.read_encrypted(offset, buf).map_err(ChipFlashError::Storage)
    }

    fn program_raw(&mut self, offset: u32, data: &[u8]) -> Result<(), ChipFlashError> {
        NorFlash::write(&mut self.storage, offset, data).map_err(ChipFlashError::Storage)
    }

    #[allow(unsafe_code)]
    fn program_encrypted(&mut self, offset: u32, data: &[u8]) -> Result<(), ChipFlashError> {
        if !esp_storage::flash_encryption() {
            return Err(ChipFlashError::EncryptionOff);
        }
        if !(offset as usize).is_multiple_of(ENCRYPTED_WRITE_UNIT)
            || !data.len().is_multiple_of(ENCRYPTED_WRITE_UNIT)
        {
            return Err(ChipFlashError::Storage(FlashStorageError::NotAligned));
        }
        if u64::from(offset) + data.len() as u64 > self.capacity() as u64 {
            return Err(ChipFlashError::Storage(FlashStorageError::OutOfBounds));
        }
        if !self.unlocked {
            // SAFETY: `esp_rom_spiflash_unlock` clears the flash chip's write-protect bits; it
            // takes no pointers and esp-storage runs it in its critical section. It is the call
            // `FlashStorage` makes before its own first write.
            unsafe { esp_storage::ll::spiflash_unlock() }.map_err(ChipFlashError::Unlock)?;
            self.unlocked = true;
        }
        // The ROM reads the data as 32-bit words: copy each unit into a word-aligned buffer.
        let mut block = [0u32; ENCRYPTED_WRITE_UNIT / 4];
        for (i, chunk) in data.chunks_exact(ENCRYPTED_WRITE_UNIT).enumerate() {
            for (w, b) in block.iter_mut().zip(chunk.chunks_exact(4)) {
                *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
            let at = offset + (i * ENCRYPTED_WRITE_UNIT) as u32;
            // SAFETY: `ll::spiflash_write_encrypted`'s contract: `at` and the length (32) are
            // 32-byte aligned (checked above: `offset` and `data.len()` are multiples of 32),
            // `at + 32` is inside the flash (bounds checked above), `block` is a word-aligned
            // `[u32; 8]` that lives across the call (the ROM only reads it; the `*mut` is the
            // ROM's signature), and the target is erased (RoutedFlash checked it reads raw FF
            // before calling this). esp-storage takes its critical section around the ROM call
            // and invalidates the cache for the range after it.
            unsafe {
                esp_storage::ll::spiflash_write_encrypted(at, block.as_mut_ptr(), ENCRYPTED_WRITE_UNIT as u32)
            }
            .map_err(ChipFlashError::WriteEncrypted)?;
        }
        Ok(())
    }

    fn erase(&mut self, from: u32, to: u32) -> Result<(), ChipFlashError> {
        NorFlash::erase(&mut self.storage, from, to).map_err(ChipFlashError::Storage)
    }
}

/// The flash with its access policy.
pub type Routed = RoutedFlash<ChipFlash>;

/// Read the flash-encryption state from eFuse, log it, read the partition tables as the chip's
/// software does and return the routed flash.
pub fn routed(storage: FlashStorage<'static>) -> (Routed, BootTables) {
    let encryption = esp_storage::flash_encryption();
    let crypt_cnt = esp_hal::efuse::read_field_le::<u8>(esp_hal::efuse::SPI_BOOT_CRYPT_CNT);
    log::info!(
        "flash encryption {} (eFuse SPI_BOOT_CRYPT_CNT = 0b{:03b})",
        if encryption { "ON" } else { "off" },
        crypt_cnt
    );
    let (flash, tables) = routed::boot(ChipFlash::new(storage), encryption);
    log::info!("primary partition table at 0x8000: {}", tables.primary);
    log::info!("ESP-AT secondary table (at_customize): {}", tables.secondary);
    log::info!("read through flash decryption: {}", flash.regions());
    (flash, tables)
}
