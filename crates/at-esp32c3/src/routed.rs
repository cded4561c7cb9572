//! [`RoutedFlash`]: the chip's flash as one `NorFlash`, each access sent to the raw or the
//! flash-encryption path by [`FlashRegions`].
//!
//! The chip side is the small [`ChipFlashOps`] trait: raw SPI read/program/erase, a read through
//! the cache/MMU (transparent decryption) and an encrypted program (the ROM's
//! `esp_rom_spiflash_write_encrypted`). The firmware implements it with esp-storage 0.10
//! (`FlashStorage::read_encrypted`, `esp_storage::ll::spiflash_write_encrypted`); the host
//! tests with `emulation::EmulatedFlash` (feature `emulation`).
//!
//! Rules on the encrypted path, enforced here so that no chip implementation has to:
//! * a program into a decrypted region must cover whole 32-byte blocks
//!   ([`ENCRYPTED_WRITE_UNIT`]: the ROM encrypts 32-byte pieces, and XTS ciphertext cannot be
//!   bit-cleared into something else) — else [`RoutedError::EncryptedWriteNotAligned`];
//! * the target must be erased (raw `FF`), checked by reading it first — else
//!   [`RoutedError::NotErased`]. (NVS's in-place bit-clearing updates are impossible under
//!   flash encryption: ESP-IDF refuses NVS on a partition flagged `encrypted`; such a
//!   partition reads fine and refuses those updates here.)
//!
//! [`boot`] builds the policy the way the chip's software finds its partitions: the primary
//! table at 0x8000 (read decrypted when flash encryption is on, as the bootloader does), then
//! ESP-AT's secondary table at the start of `at_customize` (read raw unless `at_customize` is
//! flagged `encrypted`, as ESP-AT does).

use alloc::vec::Vec;
use embedded_storage::nor_flash::{ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash};

use at_flash::layout::{self, TableRead};
use at_flash::table::{PRIMARY_TABLE_OFFSET, PartitionEntry};

use crate::regions::{Access, FlashRegions};

/// The unit of an encrypted program (bytes, and the alignment of its offset).
pub const ENCRYPTED_WRITE_UNIT: usize = 32;

/// Word size of raw reads and programs (esp-storage's `READ_SIZE`/`WRITE_SIZE`).
pub const WORD: usize = 4;

/// Sector size (erase unit).
pub const SECTOR: usize = 4096;

/// What the chip's flash driver provides. Offsets are absolute flash addresses; callers
/// ([`RoutedFlash`]) have checked bounds and the alignment each method states.
pub trait ChipFlashOps {
    /// The driver's error.
    type Error: core::fmt::Debug;

    /// Flash size in bytes.
    fn capacity(&self) -> usize;

    /// Read as stored (ciphertext where the flash is encrypted). `offset` and `buf.len()` are
    /// multiples of [`WORD`].
    fn read_raw(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), Self::Error>;

    /// Read through flash decryption (the cache/MMU path). Any offset and length.
    fn read_decrypted(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), Self::Error>;

    /// Program as given. `offset` and `data.len()` are multiples of [`WORD`].
    fn program_raw(&mut self, offset: u32, data: &[u8]) -> Result<(), Self::Error>;

    /// Program encrypted. `offset` and `data.len()` are multiples of [`ENCRYPTED_WRITE_UNIT`]
    /// and the target reads raw `FF` (erased).
    fn program_encrypted(&mut self, offset: u32, data: &[u8]) -> Result<(), Self::Error>;

    /// Erase `from..to`, both multiples of [`SECTOR`].
    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error>;
}

/// Why a [`RoutedFlash`] operation was refused or failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutedError<E> {
    /// The driver failed.
    Flash(E),
    /// Offset or length not a multiple of the operation's unit (4 bytes; 4 KiB for erase).
    NotAligned,
    /// Past the end of the flash.
    OutOfBounds,
    /// A write into a range read through flash decryption that does not cover whole 32-byte
    /// blocks.
    EncryptedWriteNotAligned {
        /// Where the offending part starts.
        offset: u32,
    },
    /// A write into a range read through flash decryption whose target is not erased:
    /// ciphertext cannot be programmed over (XTS), erase the sector first.
    NotErased {
        /// The first 32-byte block that is not erased.
        offset: u32,
    },
}

impl<E: core::fmt::Debug> core::fmt::Display for RoutedError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RoutedError::Flash(e) => write!(f, "flash driver error: {e:?}"),
            RoutedError::NotAligned => f.write_str("flash access not aligned"),
            RoutedError::OutOfBounds => f.write_str("flash access past the end of the flash"),
            RoutedError::EncryptedWriteNotAligned { offset } => write!(
                f,
                "write at 0x{offset:x} into a flash-encrypted range must cover whole 32-byte blocks"
            ),
            RoutedError::NotErased { offset } => write!(
                f,
                "write at 0x{offset:x} into a flash-encrypted range over data that is not erased \
                 (flash encryption cannot update in place: erase the sector first)"
            ),
        }
    }
}

impl<E: core::fmt::Debug> core::error::Error for RoutedError<E> {}

impl<E: core::fmt::Debug> NorFlashError for RoutedError<E> {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            RoutedError::NotAligned | RoutedError::EncryptedWriteNotAligned { .. } => {
                NorFlashErrorKind::NotAligned
            }
            RoutedError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            RoutedError::Flash(_) | RoutedError::NotErased { .. } => NorFlashErrorKind::Other,
        }
    }
}

/// The whole flash, routed by a [`FlashRegions`] policy.
#[derive(Debug)]
pub struct RoutedFlash<O> {
    ops: O,
    regions: FlashRegions,
}

impl<O: ChipFlashOps> RoutedFlash<O> {
    /// Route `ops` by `regions`.
    pub fn new(ops: O, regions: FlashRegions) -> Self {
        RoutedFlash { ops, regions }
    }

    /// The policy.
    pub fn regions(&self) -> &FlashRegions {
        &self.regions
    }

    /// The driver.
    pub fn ops(&mut self) -> &mut O {
        &mut self.ops
    }

    /// The driver, giving up the routing.
    pub fn into_inner(self) -> O {
        self.ops
    }

    fn check(&self, offset: u32, len: usize, unit: usize) -> Result<(), RoutedError<O::Error>> {
        if !(offset as usize).is_multiple_of(unit) || !len.is_multiple_of(unit) {
            return Err(RoutedError::NotAligned);
        }
        if u64::from(offset) + len as u64 > self.ops.capacity() as u64 {
            return Err(RoutedError::OutOfBounds);
        }
        Ok(())
    }

    /// Whether `offset..offset + len` reads raw `FF`.
    fn raw_erased(&mut self, offset: u32, len: usize) -> Result<bool, RoutedError<O::Error>> {
        let mut buf = [0u8; 64];
        let mut done = 0;
        while done < len {
            let n = (len - done).min(buf.len());
            let at = offset + done as u32;
            self.ops.read_raw(at, &mut buf[..n]).map_err(RoutedError::Flash)?;
            if buf[..n].iter().any(|&b| b != 0xFF) {
                return Ok(false);
            }
            done += n;
        }
        Ok(true)
    }

    /// Whether `len` bytes at `offset` may be programmed encrypted: whole 32-byte blocks, every
    /// one erased.
    fn check_encrypted(&mut self, offset: u32, len: usize) -> Result<(), RoutedError<O::Error>> {
        if !(offset as usize).is_multiple_of(ENCRYPTED_WRITE_UNIT)
            || !len.is_multiple_of(ENCRYPTED_WRITE_UNIT)
        {
            return Err(RoutedError::EncryptedWriteNotAligned { offset });
        }
        for i in 0..len / ENCRYPTED_WRITE_UNIT {
            let at = offset + (i * ENCRYPTED_WRITE_UNIT) as u32;
            if !self.raw_erased(at, ENCRYPTED_WRITE_UNIT)? {
                return Err(RoutedError::NotErased { offset: at });
            }
        }
        Ok(())
    }
}

impl<O: ChipFlashOps> ErrorType for RoutedFlash<O> {
    type Error = RoutedError<O::Error>;
}

impl<O: ChipFlashOps> ReadNorFlash for RoutedFlash<O> {
    const READ_SIZE: usize = WORD;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        self.check(offset, bytes.len(), WORD)?;
        let mut done = 0;
        while done < bytes.len() {
            let at = offset + done as u32;
            let (access, n) = self.regions.segment(at, bytes.len() - done);
            let part = &mut bytes[done..done + n];
            match access {
                Access::Decrypted => self.ops.read_decrypted(at, part),
                Access::Raw if (at as usize).is_multiple_of(WORD) && n.is_multiple_of(WORD) => {
                    self.ops.read_raw(at, part)
                }
                Access::Raw => return Err(RoutedError::NotAligned),
            }
            .map_err(RoutedError::Flash)?;
            done += n;
        }
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.ops.capacity()
    }
}

impl<O: ChipFlashOps> NorFlash for RoutedFlash<O> {
    const WRITE_SIZE: usize = WORD;
    const ERASE_SIZE: usize = SECTOR;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        if to < from {
            return Err(RoutedError::OutOfBounds);
        }
        self.check(from, (to - from) as usize, SECTOR)?;
        if from == to {
            return Ok(());
        }
        // Erasing is the same operation whether the range is encrypted or not.
        self.ops.erase(from, to).map_err(RoutedError::Flash)
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        self.check(offset, bytes.len(), WORD)?;
        // Refuse a write that touches a decrypted range badly before programming anything.
        let mut done = 0;
        while done < bytes.len() {
            let at = offset + done as u32;
            let (access, n) = self.regions.segment(at, bytes.len() - done);
            if access == Access::Decrypted {
                self.check_encrypted(at, n)?;
            }
            done += n;
        }
        let mut done = 0;
        while done < bytes.len() {
            let at = offset + done as u32;
            let (access, n) = self.regions.segment(at, bytes.len() - done);
            let part = &bytes[done..done + n];
            match access {
                Access::Raw => self.ops.program_raw(at, part).map_err(RoutedError::Flash)?,
                // Checked above: whole 32-byte blocks, all erased.
                Access::Decrypted => self.ops.program_encrypted(at, part).map_err(RoutedError::Flash)?,
            }
            done += n;
        }
        Ok(())
    }
}

/// How one partition table turned out at boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableState {
    /// Read (as the chip reads it) and judged; see [`TableRead`].
    Read(TableRead),
    /// The flash driver failed.
    FlashError,
    /// Not read: there is no primary table to find `at_customize` in, or it has none.
    Absent,
}

impl TableState {
    /// The parsed table, if it parsed.
    pub fn table(&self) -> Option<&at_flash::PartitionTable> {
        match self {
            TableState::Read(TableRead::Plain(t)) => Some(t),
            _ => None,
        }
    }
}

impl core::fmt::Display for TableState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TableState::Read(TableRead::Plain(t)) => write!(f, "{} partitions", t.entries().len()),
            TableState::Read(TableRead::Encrypted(t)) => {
                write!(f, "{} partitions (decrypted)", t.entries().len())
            }
            TableState::Read(TableRead::Blank) => f.write_str("blank (never flashed)"),
            TableState::Read(TableRead::Unreadable { looks_encrypted: true, .. }) => {
                f.write_str("unreadable: looks flash-encrypted but is read raw")
            }
            TableState::Read(TableRead::Unreadable { error, .. }) => write!(f, "unreadable: {error}"),
            TableState::FlashError => f.write_str("flash read failed"),
            TableState::Absent => f.write_str("not present"),
        }
    }
}

/// What [`boot`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootTables {
    /// The primary table at 0x8000.
    pub primary: TableState,
    /// ESP-AT's secondary table at the start of `at_customize`.
    pub secondary: TableState,
    /// Secondary-table entries that reach outside `at_customize`: left out of the policy (the
    /// secondary table is read raw from an unencrypted partition, so it may not re-route the
    /// bootloader, the primary table or any other partition). The firmware logs them.
    pub ignored_secondary: Vec<PartitionEntry>,
}

/// Build the flash policy as the chip's software finds its partitions, and return the routed
/// flash with it.
///
/// The primary table is read through [`FlashRegions::new`]'s policy (decrypted with flash
/// encryption on), its partitions are added, then the secondary table is read from
/// `at_customize` through that policy and those of its partitions that lie inside
/// `at_customize` are added (others: [`BootTables::ignored_secondary`]). A table that does not
/// parse adds nothing: whoever reads it next (at-flash's `MfgStorage`) reports why.
pub fn boot<O: ChipFlashOps>(ops: O, flash_encryption: bool) -> (RoutedFlash<O>, BootTables) {
    let mut flash = RoutedFlash::new(ops, FlashRegions::new(flash_encryption));
    let primary = match layout::read_table(&mut flash, PRIMARY_TABLE_OFFSET, None) {
        Ok(r) => TableState::Read(r),
        Err(_) => TableState::FlashError,
    };
    let mut secondary = TableState::Absent;
    let mut scope = None;
    if let Some(t) = primary.table() {
        flash.regions.add_table(t);
        if let Some(atc) = layout::find_at_customize(t) {
            scope = Some((u64::from(atc.offset), u64::from(atc.offset) + u64::from(atc.size)));
            secondary = match layout::read_table(&mut flash, atc.offset, None) {
                Ok(r) => TableState::Read(r),
                Err(_) => TableState::FlashError,
            };
        }
    }
    let mut ignored_secondary = Vec::new();
    if let (Some(t), Some((lo, hi))) = (secondary.table(), scope) {
        for e in t.entries() {
            let (start, end) = (u64::from(e.offset), u64::from(e.offset) + u64::from(e.size));
            if start >= lo && end <= hi {
                flash.regions.add_partition(e);
            } else {
                ignored_secondary.push(*e);
            }
        }
    }
    (flash, BootTables { primary, secondary, ignored_secondary })
}
