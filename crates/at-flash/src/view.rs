//! Windows onto one partition of a larger flash, raw or decrypted as the chip reads it.
//!
//! * [`PartitionView`]: the bytes of `[base, base + size)` as addresses `0..size`, bounds
//!   enforced; reads and writes go to the flash unchanged. What ESP-IDF's `esp_partition_read`
//!   returns for a partition that is **not** read decrypted.
//! * [`DecryptedView`]: the same window read through ESP32-C3 flash encryption with a known key
//!   — what the chip returns for the primary table and for partitions flagged `encrypted` when
//!   flash encryption is on. Writes are encrypted in 16/32-byte pieces at their absolute address,
//!   as the hardware's manual-encryption block does (`SOC_FLASH_ENCRYPTED_XTS_AES_BLOCK_MAX` = 32),
//!   so they must be 16-byte aligned.
//! * [`MountView`]: one of the two, what [`crate::locate_mfg_nvs`] hands to an NVS mount. Its
//!   decrypted variant **refuses writes and erases**: NVS updates by clearing bits in place, which
//!   cannot work under XTS (ESP-IDF docs: "NVS … is not directly compatible with flash
//!   encryption"), so a store found that way is read-only.

use crate::table::PartitionEntry;
use crate::xts::{BLOCK_LEN, FlashKey};
use core::fmt;
use embedded_storage::nor_flash::{
    ErrorType, MultiwriteNorFlash, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

/// Errors of the views.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ViewError<E> {
    /// The underlying flash failed.
    Flash(E),
    /// The access (or the window itself) leaves the partition or the flash.
    OutOfBounds,
    /// The access is not aligned as the view requires (16 bytes for encrypted writes).
    NotAligned,
    /// A write or erase through a decrypted NVS view: refused, see [`MountView`].
    EncryptedReadOnly,
    /// The chip would decrypt this partition, and no flash-encryption key was given.
    KeyRequired,
}

impl<E: fmt::Debug> fmt::Display for ViewError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ViewError::Flash(e) => write!(f, "flash error: {e:?}"),
            ViewError::OutOfBounds => f.write_str("access outside the partition"),
            ViewError::NotAligned => {
                f.write_str("access not aligned (encrypted writes need 16-byte alignment)")
            }
            ViewError::EncryptedReadOnly => f.write_str(
                "partition is read through flash encryption: NVS cannot be updated in place under XTS",
            ),
            ViewError::KeyRequired => {
                f.write_str("partition is read decrypted and no flash-encryption key was given")
            }
        }
    }
}

impl<E: fmt::Debug> core::error::Error for ViewError<E> {}

impl<E: NorFlashError> NorFlashError for ViewError<E> {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            ViewError::Flash(e) => e.kind(),
            ViewError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            ViewError::NotAligned => NorFlashErrorKind::NotAligned,
            ViewError::EncryptedReadOnly | ViewError::KeyRequired => NorFlashErrorKind::Other,
        }
    }
}

/// The window fits the flash, and every address in it (and one past it) fits a `u32`.
fn window_ok(base: u32, size: u32, capacity: usize) -> bool {
    let end = base as u64 + size as u64;
    end <= capacity as u64 && end <= u32::MAX as u64
}

fn range_ok(offset: u32, len: usize, size: u32) -> bool {
    offset as u64 + len as u64 <= size as u64
}

/// A raw window `[base, base + size)` of `F`, addressed from 0.
#[derive(Debug)]
pub struct PartitionView<F> {
    flash: F,
    base: u32,
    size: u32,
}

impl<F: ReadNorFlash> PartitionView<F> {
    /// A window over `flash`; `OutOfBounds` if it does not fit the flash.
    pub fn new(flash: F, base: u32, size: u32) -> Result<Self, ViewError<F::Error>> {
        if !window_ok(base, size, flash.capacity()) {
            return Err(ViewError::OutOfBounds);
        }
        Ok(PartitionView { flash, base, size })
    }
}

impl<F> PartitionView<F> {
    /// Absolute flash address of offset 0.
    pub fn base(&self) -> u32 {
        self.base
    }

    /// Size of the window in bytes.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// The flash behind the view.
    pub fn into_inner(self) -> F {
        self.flash
    }
}

impl<F: ErrorType> ErrorType for PartitionView<F> {
    type Error = ViewError<F::Error>;
}

impl<F: ReadNorFlash> ReadNorFlash for PartitionView<F> {
    const READ_SIZE: usize = F::READ_SIZE;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        if !range_ok(offset, bytes.len(), self.size) {
            return Err(ViewError::OutOfBounds);
        }
        self.flash.read(self.base + offset, bytes).map_err(ViewError::Flash)
    }

    fn capacity(&self) -> usize {
        self.size as usize
    }
}

impl<F: NorFlash> NorFlash for PartitionView<F> {
    const WRITE_SIZE: usize = F::WRITE_SIZE;
    const ERASE_SIZE: usize = F::ERASE_SIZE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        if from > to || to > self.size {
            return Err(ViewError::OutOfBounds);
        }
        self.flash.erase(self.base + from, self.base + to).map_err(ViewError::Flash)
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        if !range_ok(offset, bytes.len(), self.size) {
            return Err(ViewError::OutOfBounds);
        }
        self.flash.write(self.base + offset, bytes).map_err(ViewError::Flash)
    }
}

impl<F: MultiwriteNorFlash> MultiwriteNorFlash for PartitionView<F> {}

/// A window of `F` read (and written) through ESP32-C3 flash encryption with `key`.
#[derive(Debug)]
pub struct DecryptedView<'k, F> {
    raw: PartitionView<F>,
    key: &'k FlashKey,
}

/// Bytes read from the flash per step (a multiple of the 128-byte unit).
const CHUNK: usize = 256;

impl<'k, F: ReadNorFlash> DecryptedView<'k, F> {
    /// A decrypting window; `base` must be 16-byte aligned (partitions are 4 KiB aligned), and
    /// `F::READ_SIZE` and `F::WRITE_SIZE` must divide 16 (every real NOR flash: 1 or 4).
    pub fn new(flash: F, base: u32, size: u32, key: &'k FlashKey) -> Result<Self, ViewError<F::Error>> {
        if !(base as usize).is_multiple_of(BLOCK_LEN) || !BLOCK_LEN.is_multiple_of(F::READ_SIZE) {
            return Err(ViewError::NotAligned);
        }
        Ok(DecryptedView { raw: PartitionView::new(flash, base, size)?, key })
    }
}

impl<'k, F> DecryptedView<'k, F> {
    /// Absolute flash address of offset 0.
    pub fn base(&self) -> u32 {
        self.raw.base
    }

    /// Size of the window in bytes.
    pub fn size(&self) -> u32 {
        self.raw.size
    }

    /// The flash behind the view.
    pub fn into_inner(self) -> F {
        self.raw.flash
    }
}

impl<F: ErrorType> ErrorType for DecryptedView<'_, F> {
    type Error = ViewError<F::Error>;
}

impl<F: ReadNorFlash> ReadNorFlash for DecryptedView<'_, F> {
    /// Any offset and length: whole 16-byte blocks are read and decrypted internally.
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        if !range_ok(offset, bytes.len(), self.raw.size) {
            return Err(ViewError::OutOfBounds);
        }
        let mut done = 0usize;
        let mut buf = [0u8; CHUNK];
        // Each step covers at least one requested byte: at most len iterations, normally len/256.
        while done < bytes.len() {
            let abs = self.raw.base as u64 + offset as u64 + done as u64;
            let block_start = abs & !(BLOCK_LEN as u64 - 1);
            let skip = (abs - block_start) as usize;
            let want = (bytes.len() - done).min(CHUNK - skip);
            let span = (skip + want).next_multiple_of(BLOCK_LEN);
            // The block-aligned span may run past the window (never past the flash: windows are
            // 16-aligned at the base, and the flash capacity is a multiple of 16 in practice).
            if block_start + span as u64 > self.raw.flash.capacity() as u64 {
                return Err(ViewError::OutOfBounds);
            }
            let chunk = &mut buf[..span];
            self.raw.flash.read(block_start as u32, chunk).map_err(ViewError::Flash)?;
            // Alignment and length were checked, so this cannot fail.
            self.key.decrypt(block_start as u32, chunk).map_err(|_| ViewError::NotAligned)?;
            bytes[done..done + want].copy_from_slice(&chunk[skip..skip + want]);
            done += want;
        }
        buf.fill(0);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.raw.size as usize
    }
}

impl<F: NorFlash> NorFlash for DecryptedView<'_, F> {
    const WRITE_SIZE: usize = BLOCK_LEN;
    const ERASE_SIZE: usize = F::ERASE_SIZE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        self.raw.erase(from, to)
    }

    /// Encrypts and writes in pieces of at most 32 bytes, each at its own absolute address,
    /// like the C3's manual-encryption block. `offset` and `bytes.len()` must be multiples of 16.
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        if !(offset as usize).is_multiple_of(BLOCK_LEN)
            || !bytes.len().is_multiple_of(BLOCK_LEN)
            || !BLOCK_LEN.is_multiple_of(F::WRITE_SIZE)
        {
            return Err(ViewError::NotAligned);
        }
        if !range_ok(offset, bytes.len(), self.raw.size) {
            return Err(ViewError::OutOfBounds);
        }
        for (i, piece) in bytes.chunks(2 * BLOCK_LEN).enumerate() {
            let abs = self.raw.base + offset + (i * 2 * BLOCK_LEN) as u32;
            let mut p = [0u8; 2 * BLOCK_LEN];
            let p = &mut p[..piece.len()];
            p.copy_from_slice(piece);
            self.key.encrypt(abs, p).map_err(|_| ViewError::NotAligned)?;
            self.raw.flash.write(abs, p).map_err(ViewError::Flash)?;
        }
        Ok(())
    }
}

/// What an NVS mount gets: a raw window, or a read-only decrypting one.
#[derive(Debug)]
pub enum MountView<'k, F> {
    /// Read as stored (the partition is not read decrypted).
    Plain(PartitionView<F>),
    /// Read through flash encryption; writes and erases are refused with
    /// [`ViewError::EncryptedReadOnly`].
    Decrypted(DecryptedView<'k, F>),
}

impl<'k, F: ReadNorFlash> MountView<'k, F> {
    /// The partition `entry` of the whole flash `flash`, read as the chip reads it: decrypted
    /// if [`PartitionEntry::read_decrypted`] says so (flash encryption on and the partition an
    /// app, OTA data, `nvs_keys` or flagged `encrypted`), raw otherwise.
    /// [`ViewError::KeyRequired`] if it must be decrypted and `key` is `None`.
    pub fn for_partition(
        flash: F,
        entry: &PartitionEntry,
        flash_encryption: bool,
        key: Option<&'k FlashKey>,
    ) -> Result<Self, ViewError<F::Error>> {
        match (entry.read_decrypted(flash_encryption), key) {
            (false, _) => Ok(MountView::Plain(PartitionView::new(flash, entry.offset, entry.size)?)),
            (true, Some(k)) => {
                Ok(MountView::Decrypted(DecryptedView::new(flash, entry.offset, entry.size, k)?))
            }
            (true, None) => Err(ViewError::KeyRequired),
        }
    }
}

impl<'k, F> MountView<'k, F> {
    /// Absolute flash address of offset 0.
    pub fn base(&self) -> u32 {
        match self {
            MountView::Plain(v) => v.base(),
            MountView::Decrypted(v) => v.base(),
        }
    }

    /// Size of the window in bytes.
    pub fn size(&self) -> u32 {
        match self {
            MountView::Plain(v) => v.size(),
            MountView::Decrypted(v) => v.size(),
        }
    }

    /// Whether reads are decrypted.
    pub fn is_decrypted(&self) -> bool {
        matches!(self, MountView::Decrypted(_))
    }

    /// The flash behind the view.
    pub fn into_inner(self) -> F {
        match self {
            MountView::Plain(v) => v.into_inner(),
            MountView::Decrypted(v) => v.into_inner(),
        }
    }
}

impl<F: ErrorType> ErrorType for MountView<'_, F> {
    type Error = ViewError<F::Error>;
}

impl<F: ReadNorFlash> ReadNorFlash for MountView<'_, F> {
    const READ_SIZE: usize = F::READ_SIZE;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        match self {
            MountView::Plain(v) => v.read(offset, bytes),
            MountView::Decrypted(v) => v.read(offset, bytes),
        }
    }

    fn capacity(&self) -> usize {
        self.size() as usize
    }
}

impl<F: NorFlash> NorFlash for MountView<'_, F> {
    const WRITE_SIZE: usize = F::WRITE_SIZE;
    const ERASE_SIZE: usize = F::ERASE_SIZE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        match self {
            MountView::Plain(v) => v.erase(from, to),
            MountView::Decrypted(_) => Err(ViewError::EncryptedReadOnly),
        }
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        match self {
            MountView::Plain(v) => v.write(offset, bytes),
            MountView::Decrypted(_) => Err(ViewError::EncryptedReadOnly),
        }
    }
}

/// Writes through the decrypted variant are always refused, so the multi-write promise holds.
impl<F: MultiwriteNorFlash> MultiwriteNorFlash for MountView<'_, F> {}

/// A read-only flash over a byte slice (a dump file in memory): what the diagnosis and the
/// `at-mfg` CLI read. It has no `NorFlash` impl, so nothing can write through it.
#[derive(Clone, Copy, Debug)]
pub struct SliceFlash<'a>(pub &'a [u8]);

/// The only error of [`SliceFlash`]: a read past its end.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SliceOutOfBounds;

impl NorFlashError for SliceOutOfBounds {
    fn kind(&self) -> NorFlashErrorKind {
        NorFlashErrorKind::OutOfBounds
    }
}

impl ErrorType for SliceFlash<'_> {
    type Error = SliceOutOfBounds;
}

impl ReadNorFlash for SliceFlash<'_> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        let start = offset as usize;
        let src =
            start.checked_add(bytes.len()).and_then(|end| self.0.get(start..end)).ok_or(SliceOutOfBounds)?;
        bytes.copy_from_slice(src);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    /// A RAM NOR flash: writes AND into the cells (NOR rule), erase sets 4 KiB to FF.
    struct Ram(Vec<u8>);
    #[derive(Debug, PartialEq)]
    struct RamErr;
    impl NorFlashError for RamErr {
        fn kind(&self) -> NorFlashErrorKind {
            NorFlashErrorKind::OutOfBounds
        }
    }
    impl ErrorType for Ram {
        type Error = RamErr;
    }
    impl ReadNorFlash for Ram {
        const READ_SIZE: usize = 1;
        fn read(&mut self, o: u32, b: &mut [u8]) -> Result<(), RamErr> {
            b.copy_from_slice(self.0.get(o as usize..o as usize + b.len()).ok_or(RamErr)?);
            Ok(())
        }
        fn capacity(&self) -> usize {
            self.0.len()
        }
    }
    impl NorFlash for Ram {
        const WRITE_SIZE: usize = 4;
        const ERASE_SIZE: usize = 4096;
        fn erase(&mut self, from: u32, to: u32) -> Result<(), RamErr> {
            self.0.get_mut(from as usize..to as usize).ok_or(RamErr)?.fill(0xFF);
            Ok(())
        }
        fn write(&mut self, o: u32, b: &[u8]) -> Result<(), RamErr> {
            let dst = self.0.get_mut(o as usize..o as usize + b.len()).ok_or(RamErr)?;
            dst.iter_mut().zip(b).for_each(|(d, s)| *d &= s);
            Ok(())
        }
    }

    fn key() -> FlashKey {
        FlashKey::new(&[0x5A; 32])
    }

    #[test]
    fn plain_view_bounds_and_offsets() {
        let mut flash = Ram((0..0x4000u32).map(|i| i as u8).collect());
        let mut v = PartitionView::new(&mut flash, 0x1000, 0x2000).unwrap();
        let mut b = [0u8; 4];
        v.read(0x10, &mut b).unwrap();
        assert_eq!(b, [0x10, 0x11, 0x12, 0x13]);
        assert_eq!(v.read(0x1FFE, &mut b), Err(ViewError::OutOfBounds));
        assert_eq!(v.write(0x2000, &[0; 4]), Err(ViewError::OutOfBounds));
        assert_eq!(v.erase(0, 0x3000), Err(ViewError::OutOfBounds));
        v.erase(0x1000, 0x2000).unwrap();
        // view 0x1000..0x2000 is flash 0x2000..0x3000
        assert_eq!(
            (flash.0[0x1FFE], flash.0[0x2000], flash.0[0x2FFF], flash.0[0x3000]),
            (0xFE, 0xFF, 0xFF, 0x00)
        );
        assert!(PartitionView::new(&mut flash, 0x3000, 0x1001).is_err());
    }

    #[test]
    fn decrypted_view_reads_any_range_and_writes_like_the_chip() {
        let k = key();
        let plain: Vec<u8> = (0..0x2000u32).map(|i| (i * 13) as u8).collect();
        let mut img = vec![0xFFu8; 0x4000];
        let mut enc = plain.clone();
        k.encrypt(0x1000, &mut enc).unwrap();
        img[0x1000..0x3000].copy_from_slice(&enc);
        let mut flash = Ram(img);
        let mut v = DecryptedView::new(&mut flash, 0x1000, 0x2000, &k).unwrap();
        for &(off, len) in &[(0usize, 1usize), (3, 300), (0x7F, 2), (0x1FF0, 16), (0x1234, 0x567)] {
            let mut b = vec![0u8; len];
            v.read(off as u32, &mut b).unwrap();
            assert_eq!(b, &plain[off..off + len], "read at {off:#x}+{len}");
        }
        assert_eq!(v.read(0x1FFF, &mut [0; 2]), Err(ViewError::OutOfBounds));
        // write a fresh sector through the view: the raw flash holds the ciphertext espsecure
        // would produce for the same bytes at that address.
        v.erase(0x1000, 0x2000).unwrap();
        let data: Vec<u8> = (0..96u8).collect();
        assert_eq!(v.write(0x1008, &data), Err(ViewError::NotAligned));
        v.write(0x1010, &data).unwrap();
        let mut back = vec![0u8; 96];
        v.read(0x1010, &mut back).unwrap();
        assert_eq!(back, data);
        let mut expect = data.clone();
        k.encrypt(0x2010, &mut expect).unwrap();
        assert_eq!(&flash.0[0x2010..0x2070], &expect[..]);
    }

    #[test]
    fn mount_view_refuses_writes_when_decrypted() {
        let k = key();
        let mut flash = Ram(vec![0xFF; 0x2000]);
        let before = flash.0.clone();
        let mut m = MountView::Decrypted(DecryptedView::new(&mut flash, 0x1000, 0x1000, &k).unwrap());
        assert_eq!(m.write(0, &[0; 16]), Err(ViewError::EncryptedReadOnly));
        assert_eq!(m.erase(0, 0x1000), Err(ViewError::EncryptedReadOnly));
        assert!(m.is_decrypted());
        assert_eq!(flash.0, before);
        let mut p = MountView::Plain(PartitionView::new(&mut flash, 0x1000, 0x1000).unwrap());
        p.write(4, &[0, 0, 0, 0]).unwrap();
        assert_eq!(flash.0[0x1004], 0);
    }

    #[test]
    fn for_partition_follows_the_chip() {
        use crate::table::{Flags, Label};
        let k = key();
        let mut img = vec![0xFFu8; 0x3000];
        let mut enc = [0x42u8; 32];
        k.encrypt(0x1000, &mut enc).unwrap();
        img[0x1000..0x1020].copy_from_slice(&enc);
        let mut flash = Ram(img);
        let mut e = PartitionEntry {
            ty: 1,
            subtype: 2,
            offset: 0x1000,
            size: 0x1000,
            label: Label::new("mfg_nvs").unwrap(),
            flags: Flags(Flags::ENCRYPTED),
        };
        let mut b = [0u8; 32];
        let mut v = MountView::for_partition(&mut flash, &e, true, Some(&k)).unwrap();
        v.read(0, &mut b).unwrap();
        assert_eq!(b, [0x42; 32]);
        assert!(matches!(MountView::for_partition(&mut flash, &e, true, None), Err(ViewError::KeyRequired)));
        // flash encryption off, or the flag clear: raw
        let mut v = MountView::for_partition(&mut flash, &e, false, None).unwrap();
        v.read(0, &mut b).unwrap();
        assert_eq!(b, enc);
        e.flags = Flags(0);
        assert!(!MountView::for_partition(&mut flash, &e, true, Some(&k)).unwrap().is_decrypted());
        e.offset = 0x2800;
        assert!(matches!(
            MountView::for_partition(&mut flash, &e, true, Some(&k)),
            Err(ViewError::OutOfBounds)
        ));
    }

    #[test]
    fn slice_flash_bounds() {
        let data = [1u8, 2, 3];
        let mut f = SliceFlash(&data);
        let mut b = [0u8; 2];
        f.read(1, &mut b).unwrap();
        assert_eq!(b, [2, 3]);
        assert_eq!(f.read(2, &mut b), Err(SliceOutOfBounds));
        assert_eq!(f.read(u32::MAX, &mut b), Err(SliceOutOfBounds));
    }
}
