//! An emulated NOR flash with NOR write rules, operation counters and a power-cut injector.
//!
//! [`MockFlash`] implements `embedded-storage`'s [`ReadNorFlash`], [`NorFlash`] and
//! [`MultiwriteNorFlash`] over a `Vec<u8>`, with the geometry of the ESP32-C3's SPI flash as
//! `esp-storage` exposes it: [`READ_SIZE`](MockFlash::READ_SIZE) 4,
//! [`WRITE_SIZE`](MockFlash::WRITE_SIZE) 4, [`ERASE_SIZE`](MockFlash::ERASE_SIZE) 4096.
//!
//! # NOR rules it enforces
//!
//! * **Erase** sets every byte of a sector to `0xFF`.
//! * **Write** can only clear bits. A write that would turn a `0` bit back into `1` is rejected
//!   *as a whole* with [`MockFlashError::WriteOneOverZero`] and changes nothing (real NOR would
//!   silently AND the bits; failing loudly finds the bug). Writing the same bits again, or
//!   clearing more bits of an already written word, is allowed — that is what
//!   [`MultiwriteNorFlash`] promises and what ESP-IDF NVS relies on for its page-state and
//!   entry-bitmap words.
//! * Offsets and lengths are checked against the alignment constants and the capacity:
//!   misuse is an error ([`MockFlashError::NotAligned`], [`MockFlashError::OutOfBounds`]),
//!   never a panic.
//!
//! # Power cuts
//!
//! [`MockFlash::cut_power`] arms the injector with a [`PowerCut`]:
//!
//! * [`PowerCut::AfterBytes(n)`](PowerCut::AfterBytes): `n` more bytes may be programmed or
//!   erased. A write that crosses the limit stores its first bytes up to the limit (byte
//!   granular, in address order) and fails with [`MockFlashError::PowerCut`]. An erase counts
//!   [`ERASE_SIZE`](MockFlash::ERASE_SIZE) bytes per sector; a sector whose erase crosses the
//!   limit is left *partly erased*: its first `remaining` bytes become `0xFF`, the rest keep
//!   their old contents (with `remaining == 0` the sector is untouched).
//! * [`PowerCut::AfterOps(n)`](PowerCut::AfterOps): `n` more write/erase calls complete; the
//!   next one fails without changing anything.
//!
//! Once the power is cut, *every* operation — reads included — fails with
//! [`MockFlashError::PoweredOff`] until the test calls [`MockFlash::power_on`], which models a
//! reboot: the contents survive, the injector is disarmed.
//!
//! A power-loss sweep typically runs the scenario once without a cut, reads
//! [`MockFlash::stats`] (or the [`MockFlash::ops`] log) to learn how many bytes and calls it
//! takes, then re-runs it from the same start image for every cut point:
//!
//! ```
//! use at_mock::flash::{MockFlash, PowerCut};
//! use embedded_storage::nor_flash::NorFlash;
//!
//! let scenario = |f: &mut MockFlash| -> Result<(), at_mock::flash::MockFlashError> {
//!     f.erase(0, 4096)?;
//!     f.write(0, &[0x12, 0x34, 0x56, 0x78])
//! };
//! let mut probe = MockFlash::new(8192);
//! scenario(&mut probe).unwrap();
//! let total = probe.stats().bytes_written + probe.stats().bytes_erased;
//! for cut in 0..total {
//!     let mut f = MockFlash::new(8192);
//!     f.cut_power(PowerCut::AfterBytes(cut));
//!     assert!(scenario(&mut f).is_err());
//!     f.power_on();
//!     // ... remount and check the old-or-new property here ...
//! }
//! ```
//!
//! # Counters
//!
//! [`MockFlash::stats`] counts completed and interrupted operations: reads, writes, erases
//! (sector count), bytes written and bytes erased. [`MockFlash::reset_stats`] zeroes them.
//! [`MockFlash::record_ops`] turns on a log of every write/erase call ([`FlashOp`]).

use std::vec::Vec;

use embedded_storage::nor_flash::{
    ErrorType, MultiwriteNorFlash, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

/// Read granularity in bytes (as `esp-storage`).
pub const READ_SIZE: usize = 4;
/// Write granularity in bytes (as `esp-storage` on the ESP32-C3).
pub const WRITE_SIZE: usize = 4;
/// Erase granularity in bytes: one SPI-flash sector.
pub const ERASE_SIZE: usize = 4096;

/// Errors of [`MockFlash`] operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MockFlashError {
    /// Offset or length not a multiple of the operation's granularity.
    NotAligned,
    /// The range does not lie inside the flash.
    OutOfBounds,
    /// The write would set a bit that is `0` back to `1` (needs an erase first). Nothing was
    /// written.
    WriteOneOverZero {
        /// Absolute address of the first offending byte.
        address: u32,
    },
    /// The injected power cut happened during this operation (it may have completed partly).
    PowerCut,
    /// The power is off (a cut happened earlier); call [`MockFlash::power_on`].
    PoweredOff,
}

impl NorFlashError for MockFlashError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            MockFlashError::NotAligned => NorFlashErrorKind::NotAligned,
            MockFlashError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            _ => NorFlashErrorKind::Other,
        }
    }
}

impl core::fmt::Display for MockFlashError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MockFlashError::NotAligned => f.write_str("offset or length not aligned"),
            MockFlashError::OutOfBounds => f.write_str("range outside the flash"),
            MockFlashError::WriteOneOverZero { address } => {
                write!(f, "write would set a 0 bit to 1 at {address:#x} (erase first)")
            }
            MockFlashError::PowerCut => f.write_str("power cut during this operation"),
            MockFlashError::PoweredOff => f.write_str("power is off"),
        }
    }
}

impl std::error::Error for MockFlashError {}

/// When the injected power cut happens. See the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerCut {
    /// After this many more bytes have been programmed or erased (erases count
    /// [`ERASE_SIZE`] per sector). `AfterBytes(0)` cuts at the start of the next write/erase.
    AfterBytes(u64),
    /// After this many more write/erase calls have completed. `AfterOps(0)` makes the next
    /// write or erase fail without effect.
    AfterOps(u64),
}

/// Operation counters; see [`MockFlash::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlashStats {
    /// `read` calls that succeeded.
    pub reads: u64,
    /// `write` calls that changed the flash (completed or cut partway).
    pub writes: u64,
    /// Sectors erased (completed or cut partway).
    pub erases: u64,
    /// Bytes programmed by writes.
    pub bytes_written: u64,
    /// Bytes set to `0xFF` by erases.
    pub bytes_erased: u64,
}

/// One logged write or erase call; see [`MockFlash::record_ops`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlashOp {
    /// A write of `len` bytes at `offset`.
    Write {
        /// Start address.
        offset: u32,
        /// Length in bytes.
        len: u32,
    },
    /// An erase of `[from, to)`.
    Erase {
        /// First address.
        from: u32,
        /// One past the last address.
        to: u32,
    },
}

/// The emulated NOR flash. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct MockFlash {
    data: Vec<u8>,
    cut: Option<PowerCut>,
    off: bool,
    stats: FlashStats,
    ops: Option<Vec<FlashOp>>,
}

impl MockFlash {
    /// Read granularity in bytes.
    pub const READ_SIZE: usize = READ_SIZE;
    /// Write granularity in bytes.
    pub const WRITE_SIZE: usize = WRITE_SIZE;
    /// Erase granularity in bytes.
    pub const ERASE_SIZE: usize = ERASE_SIZE;

    /// An erased (all `0xFF`) flash of `size` bytes. A `size` that is not a multiple of
    /// [`ERASE_SIZE`] is allowed; the tail beyond the last whole sector can be read and written
    /// but not erased.
    pub fn new(size: usize) -> Self {
        Self::from_image(vec![0xFF; size])
    }

    /// A flash holding `image` (its length is the capacity), e.g. a partition image produced
    /// by Espressif's tools.
    pub fn from_image(image: Vec<u8>) -> Self {
        MockFlash { data: image, cut: None, off: false, stats: FlashStats::default(), ops: None }
    }

    /// The current contents (readable even while the power is off, for assertions).
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Mutable access to the contents, bypassing every rule: for tests that plant corruption
    /// (bit flips, torn pages) directly.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }

    /// The contents, consuming the flash.
    pub fn into_inner(self) -> Vec<u8> {
        self.data
    }

    /// Arm the power-cut injector (replacing an armed one). See [`PowerCut`].
    pub fn cut_power(&mut self, cut: PowerCut) {
        self.cut = Some(cut);
    }

    /// Disarm the injector without a cut.
    pub fn disarm(&mut self) {
        self.cut = None;
    }

    /// Whether a power cut has happened and [`power_on`](Self::power_on) was not called since.
    pub fn is_powered_off(&self) -> bool {
        self.off
    }

    /// "Reboot": the power comes back, the contents are kept and the injector is disarmed.
    pub fn power_on(&mut self) {
        self.off = false;
        self.cut = None;
    }

    /// The operation counters.
    pub fn stats(&self) -> FlashStats {
        self.stats
    }

    /// Zero the operation counters.
    pub fn reset_stats(&mut self) {
        self.stats = FlashStats::default();
    }

    /// Start (or restart, clearing it) the log of write and erase calls.
    pub fn record_ops(&mut self) {
        self.ops = Some(Vec::new());
    }

    /// The logged write and erase calls since [`record_ops`](Self::record_ops) (empty if
    /// logging is off). Calls that failed a check are not logged; a call cut partway is.
    pub fn ops(&self) -> &[FlashOp] {
        self.ops.as_deref().unwrap_or(&[])
    }

    fn check_power(&self) -> Result<(), MockFlashError> {
        if self.off { Err(MockFlashError::PoweredOff) } else { Ok(()) }
    }

    fn range(
        &self,
        offset: u32,
        len: usize,
        align: usize,
    ) -> Result<core::ops::Range<usize>, MockFlashError> {
        let start = offset as usize;
        if !start.is_multiple_of(align) || !len.is_multiple_of(align) {
            return Err(MockFlashError::NotAligned);
        }
        let end = start.checked_add(len).ok_or(MockFlashError::OutOfBounds)?;
        if end > self.data.len() {
            return Err(MockFlashError::OutOfBounds);
        }
        Ok(start..end)
    }

    /// How many of `len` bytes of the next operation may complete, and whether the power is
    /// cut during it; updates the injector.
    fn budget(&mut self, len: u64) -> (u64, bool) {
        match self.cut {
            None => (len, false),
            Some(PowerCut::AfterOps(0)) => (0, true),
            Some(PowerCut::AfterOps(n)) => {
                self.cut = Some(PowerCut::AfterOps(n - 1));
                (len, false)
            }
            Some(PowerCut::AfterBytes(n)) if n >= len => {
                self.cut = Some(PowerCut::AfterBytes(n - len));
                (len, false)
            }
            Some(PowerCut::AfterBytes(n)) => (n, true),
        }
    }

    fn log(&mut self, op: FlashOp) {
        if let Some(ops) = self.ops.as_mut() {
            ops.push(op);
        }
    }
}

impl ErrorType for MockFlash {
    type Error = MockFlashError;
}

impl ReadNorFlash for MockFlash {
    const READ_SIZE: usize = READ_SIZE;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        self.check_power()?;
        let r = self.range(offset, bytes.len(), READ_SIZE)?;
        bytes.copy_from_slice(&self.data[r]);
        self.stats.reads += 1;
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.data.len()
    }
}

impl NorFlash for MockFlash {
    const WRITE_SIZE: usize = WRITE_SIZE;
    const ERASE_SIZE: usize = ERASE_SIZE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        self.check_power()?;
        if to < from {
            return Err(MockFlashError::OutOfBounds);
        }
        let r = self.range(from, (to - from) as usize, ERASE_SIZE)?;
        self.log(FlashOp::Erase { from, to });
        for sector in r.step_by(ERASE_SIZE) {
            let (allowed, cut) = self.budget(ERASE_SIZE as u64);
            let allowed = allowed as usize;
            if allowed > 0 {
                self.stats.erases += 1;
                self.stats.bytes_erased += allowed as u64;
            }
            self.data[sector..sector + allowed].fill(0xFF);
            if cut {
                self.off = true;
                return Err(MockFlashError::PowerCut);
            }
        }
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        self.check_power()?;
        let r = self.range(offset, bytes.len(), WRITE_SIZE)?;
        if let Some(i) = self.data[r.clone()].iter().zip(bytes).position(|(&old, &new)| new & !old != 0) {
            return Err(MockFlashError::WriteOneOverZero { address: offset + i as u32 });
        }
        self.log(FlashOp::Write { offset, len: bytes.len() as u32 });
        let (allowed, cut) = self.budget(bytes.len() as u64);
        let allowed = allowed as usize;
        if allowed > 0 || !cut {
            self.stats.writes += 1;
            self.stats.bytes_written += allowed as u64;
        }
        for (d, s) in self.data[r].iter_mut().zip(&bytes[..allowed]) {
            *d &= *s;
        }
        if cut {
            self.off = true;
            return Err(MockFlashError::PowerCut);
        }
        Ok(())
    }
}

impl MultiwriteNorFlash for MockFlash {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erase_sets_ff_and_write_clears_bits() {
        let mut f = MockFlash::from_image(vec![0u8; 8192]);
        f.erase(4096, 8192).unwrap();
        assert!(f.data()[4096..].iter().all(|&b| b == 0xFF));
        assert!(f.data()[..4096].iter().all(|&b| b == 0));
        f.write(4096, &[0xF0, 0x0F, 0xFF, 0x00]).unwrap();
        f.write(4096, &[0x70, 0x0F, 0xFE, 0x00]).unwrap();
        assert_eq!(&f.data()[4096..4100], &[0x70, 0x0F, 0xFE, 0x00]);
        assert_eq!(f.stats().writes, 2);
        assert_eq!(f.stats().erases, 1);
        assert_eq!(f.stats().bytes_written, 8);
        assert_eq!(f.stats().bytes_erased, 4096);
    }

    #[test]
    fn one_over_zero_is_rejected_whole() {
        let mut f = MockFlash::new(4096);
        f.write(0, &[0x00, 0xFF, 0xFF, 0xFF]).unwrap();
        assert_eq!(f.write(0, &[0x00, 0x00, 0x00, 0x01]), Ok(()));
        assert_eq!(
            f.write(0, &[0x01, 0x00, 0x00, 0x00]),
            Err(MockFlashError::WriteOneOverZero { address: 0 })
        );
        assert_eq!(
            f.write(0, &[0x00, 0x00, 0x00, 0x03]),
            Err(MockFlashError::WriteOneOverZero { address: 3 })
        );
        assert_eq!(&f.data()[..4], &[0, 0, 0, 1]);
    }

    #[test]
    fn alignment_and_bounds_are_errors() {
        let mut f = MockFlash::new(8192);
        let mut buf = [0u8; 4];
        assert_eq!(f.read(1, &mut buf), Err(MockFlashError::NotAligned));
        assert_eq!(f.read(8192, &mut buf), Err(MockFlashError::OutOfBounds));
        assert_eq!(f.read(u32::MAX - 3, &mut buf), Err(MockFlashError::OutOfBounds));
        assert_eq!(f.write(2, &[0; 4]), Err(MockFlashError::NotAligned));
        assert_eq!(f.write(0, &[0; 3]), Err(MockFlashError::NotAligned));
        assert_eq!(f.write(8192, &[0; 4]), Err(MockFlashError::OutOfBounds));
        assert_eq!(f.erase(0, 100), Err(MockFlashError::NotAligned));
        assert_eq!(f.erase(4096, 0), Err(MockFlashError::OutOfBounds));
        assert_eq!(f.erase(0, 3 * 4096), Err(MockFlashError::OutOfBounds));
        assert_eq!(f.stats(), FlashStats::default());
        assert_eq!(MockFlashError::NotAligned.kind(), NorFlashErrorKind::NotAligned);
    }

    #[test]
    fn cut_inside_a_write_is_byte_granular_and_sticky() {
        let mut f = MockFlash::new(4096);
        f.cut_power(PowerCut::AfterBytes(6));
        f.write(0, &[0; 4]).unwrap();
        assert_eq!(f.write(4, &[0x11; 8]), Err(MockFlashError::PowerCut));
        assert_eq!(&f.data()[..12], &[0, 0, 0, 0, 0x11, 0x11, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
        assert!(f.is_powered_off());
        let mut buf = [0u8; 4];
        assert_eq!(f.read(0, &mut buf), Err(MockFlashError::PoweredOff));
        assert_eq!(f.erase(0, 4096), Err(MockFlashError::PoweredOff));
        f.power_on();
        f.read(4, &mut buf).unwrap();
        assert_eq!(buf, [0x11, 0x11, 0xFF, 0xFF]);
        f.write(8, &[0x22; 4]).unwrap();
    }

    #[test]
    fn cut_inside_an_erase_leaves_a_partly_erased_sector() {
        let mut f = MockFlash::from_image(vec![0u8; 3 * 4096]);
        f.cut_power(PowerCut::AfterBytes(4096 + 100));
        assert_eq!(f.erase(0, 3 * 4096), Err(MockFlashError::PowerCut));
        assert!(f.data()[..4196].iter().all(|&b| b == 0xFF));
        assert!(f.data()[4196..].iter().all(|&b| b == 0));
        f.power_on();
        let mut g = MockFlash::from_image(vec![0u8; 4096]);
        g.cut_power(PowerCut::AfterBytes(0));
        assert_eq!(g.erase(0, 4096), Err(MockFlashError::PowerCut));
        assert!(g.data().iter().all(|&b| b == 0), "a cut at 0 bytes leaves the sector untouched");
    }

    #[test]
    fn cut_after_ops() {
        let mut f = MockFlash::new(4096);
        f.cut_power(PowerCut::AfterOps(2));
        f.write(0, &[0; 4]).unwrap();
        f.write(4, &[0; 4]).unwrap();
        assert_eq!(f.write(8, &[0; 4]), Err(MockFlashError::PowerCut));
        assert_eq!(&f.data()[8..12], &[0xFF; 4], "the cut call has no effect");
        f.power_on();
        f.write(8, &[0; 4]).unwrap();
    }

    #[test]
    fn cut_at_exact_total_lets_everything_complete() {
        let mut f = MockFlash::new(4096);
        f.cut_power(PowerCut::AfterBytes(8));
        f.write(0, &[0; 8]).unwrap();
        assert!(!f.is_powered_off());
        assert_eq!(f.write(8, &[0; 4]), Err(MockFlashError::PowerCut));
        assert_eq!(&f.data()[8..12], &[0xFF; 4]);
    }

    #[test]
    fn op_log() {
        let mut f = MockFlash::new(8192);
        f.record_ops();
        f.erase(4096, 8192).unwrap();
        f.write(16, &[1; 8]).unwrap();
        let _ = f.write(1, &[1; 4]);
        assert_eq!(
            f.ops(),
            &[FlashOp::Erase { from: 4096, to: 8192 }, FlashOp::Write { offset: 16, len: 8 }]
        );
    }
}
