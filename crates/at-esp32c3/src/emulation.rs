//! The host model of the ESP32-C3's flash (feature `emulation`): raw bytes plus, when flash
//! encryption is on, the key the chip holds in eFuse.
//!
//! [`EmulatedFlash`] implements [`ChipFlashOps`] as the chip behaves:
//! * raw reads and programs follow esp-storage without `bytewise-read` (4-byte units) and NOR
//!   rules (a program can only clear bits);
//! * a decrypted read is at-flash's XTS-AES-128 model (byte-identical to `espsecure`) applied
//!   at the absolute address — what the cache/MMU returns. Without a key (flash encryption
//!   off) it returns the stored bytes, as esp-storage's `read_encrypted` does;
//! * an encrypted program encrypts 32-byte blocks with the key and programs the ciphertext;
//!   without a key it is refused, as esp-storage refuses `write_encrypted` with encryption off.
//!
//! Counters ([`EmulatedFlash::stats`]) let tests check which path each access took.

use alloc::vec::Vec;

use at_flash::xts::FlashKey;

use crate::routed::{ChipFlashOps, ENCRYPTED_WRITE_UNIT, SECTOR, WORD};

/// Why the emulated driver refused an operation (the checks esp-storage and the ROM make).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmuError {
    /// Offset or length not aligned to the operation's unit.
    NotAligned,
    /// Past the end.
    OutOfBounds,
    /// Encrypted write with flash encryption off.
    NotSupported,
}

/// How many operations of each kind reached the emulated driver.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Raw reads.
    pub raw_reads: usize,
    /// Decrypted reads.
    pub decrypted_reads: usize,
    /// Raw programs.
    pub raw_programs: usize,
    /// Encrypted programs.
    pub encrypted_programs: usize,
    /// Erases.
    pub erases: usize,
}

/// A flash image and (if flash encryption is on) its key.
pub struct EmulatedFlash {
    data: Vec<u8>,
    key: Option<FlashKey>,
    stats: Stats,
}

impl core::fmt::Debug for EmulatedFlash {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EmulatedFlash")
            .field("len", &self.data.len())
            .field("flash_encryption", &self.key.is_some())
            .field("stats", &self.stats)
            .finish()
    }
}

impl EmulatedFlash {
    /// A flash holding `data` (raw, as `esptool read-flash` returns it); `key` = flash
    /// encryption on with this key.
    pub fn new(data: Vec<u8>, key: Option<FlashKey>) -> EmulatedFlash {
        EmulatedFlash { data, key, stats: Stats::default() }
    }

    /// Whether flash encryption is on (what the firmware reads from eFuse).
    pub fn flash_encryption(&self) -> bool {
        self.key.is_some()
    }

    /// The raw bytes.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Operation counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    fn range(&self, offset: u32, len: usize, unit: usize) -> Result<core::ops::Range<usize>, EmuError> {
        let start = offset as usize;
        if !start.is_multiple_of(unit) || !len.is_multiple_of(unit) {
            return Err(EmuError::NotAligned);
        }
        let end = start.checked_add(len).filter(|&e| e <= self.data.len()).ok_or(EmuError::OutOfBounds)?;
        Ok(start..end)
    }

    fn program(&mut self, start: usize, bytes: &[u8]) {
        for (d, s) in self.data[start..start + bytes.len()].iter_mut().zip(bytes) {
            *d &= *s;
        }
    }
}

impl ChipFlashOps for EmulatedFlash {
    type Error = EmuError;

    fn capacity(&self) -> usize {
        self.data.len()
    }

    fn read_raw(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), EmuError> {
        let r = self.range(offset, buf.len(), WORD)?;
        buf.copy_from_slice(&self.data[r]);
        self.stats.raw_reads += 1;
        Ok(())
    }

    fn read_decrypted(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), EmuError> {
        self.range(offset, buf.len(), 1)?;
        self.stats.decrypted_reads += 1;
        let Some(key) = &self.key else {
            let s = offset as usize;
            buf.copy_from_slice(&self.data[s..s + buf.len()]);
            return Ok(());
        };
        // Decrypt the 16-byte blocks that hold the range, then copy the part asked for.
        let start = offset as usize & !15;
        let end = (offset as usize + buf.len()).next_multiple_of(16).min(self.data.len());
        let mut blocks = self.data[start..end].to_vec();
        key.decrypt(start as u32, &mut blocks).map_err(|_| EmuError::NotAligned)?;
        let skip = offset as usize - start;
        buf.copy_from_slice(&blocks[skip..skip + buf.len()]);
        Ok(())
    }

    fn program_raw(&mut self, offset: u32, data: &[u8]) -> Result<(), EmuError> {
        let r = self.range(offset, data.len(), WORD)?;
        self.program(r.start, data);
        self.stats.raw_programs += 1;
        Ok(())
    }

    fn program_encrypted(&mut self, offset: u32, data: &[u8]) -> Result<(), EmuError> {
        let r = self.range(offset, data.len(), ENCRYPTED_WRITE_UNIT)?;
        let Some(key) = &self.key else { return Err(EmuError::NotSupported) };
        let mut cipher = data.to_vec();
        key.encrypt(offset, &mut cipher).map_err(|_| EmuError::NotAligned)?;
        self.program(r.start, &cipher);
        self.stats.encrypted_programs += 1;
        Ok(())
    }

    fn erase(&mut self, from: u32, to: u32) -> Result<(), EmuError> {
        let len = (to as usize).checked_sub(from as usize).ok_or(EmuError::OutOfBounds)?;
        let r = self.range(from, len, SECTOR)?;
        self.data[r].fill(0xFF);
        self.stats.erases += 1;
        Ok(())
    }
}
