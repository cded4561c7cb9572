//! Key-less content tests: erased, ciphertext-like, or structured.
//!
//! The reference's key-less rule for a partition that should hold NVS (nvs-and-flash-encryption.md
//! §4.3): *no page is all-`FF` and no page header passes CRC* → flash-encrypted or garbage. To
//! tell those two apart without the key, this module measures how uniform the byte histogram of
//! the non-erased data is (Pearson's χ² against the uniform distribution, integer arithmetic):
//! XTS output is indistinguishable from random, while structured garbage (zeros, text, a
//! different format) is far from uniform. A blank `FF` sector is neither, and is set aside.
//!
//! Everything here reads through [`ReadNorFlash`] only, in bounded 4 KiB steps.

use embedded_storage::nor_flash::ReadNorFlash;

/// The size of one flash sector (and one NVS page).
pub const SECTOR: usize = 4096;

/// A byte histogram with a χ² uniformity test.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: [u32; 256],
    total: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { counts: [0; 256], total: 0 }
    }
}

impl Histogram {
    /// Count `bytes`.
    pub fn add(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.counts[b as usize] = self.counts[b as usize].saturating_add(1);
        }
        self.total += bytes.len() as u64;
    }

    /// Bytes counted.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Pearson's χ² statistic against the uniform distribution, ×1 (rounded down). For random
    /// bytes its expectation is 255 with a standard deviation of about 22.6, whatever the size.
    pub fn chi_square(&self) -> u64 {
        if self.total == 0 {
            return 0;
        }
        // χ² = Σ (c − n/256)² / (n/256) = Σ (256c − n)² / (256 n)
        let n = self.total as u128;
        let s: u128 = self
            .counts
            .iter()
            .map(|&c| {
                let d = (256 * c as u128).abs_diff(n);
                d * d
            })
            .sum();
        (s / (256 * n)).min(u64::MAX as u128) as u64
    }

    /// Whether the bytes look like ciphertext: at least [`MIN_RANDOM_SAMPLE`] of them, and χ²
    /// below [`RANDOM_CHI2_MAX`] (≈ 11 standard deviations above the mean for random data, so
    /// a false "not random" for real ciphertext is practically impossible, while any structured
    /// data of that size lands far above it).
    pub fn looks_random(&self) -> bool {
        self.total >= MIN_RANDOM_SAMPLE && self.chi_square() < RANDOM_CHI2_MAX
    }
}

/// Fewest bytes on which [`Histogram::looks_random`] will call anything random.
pub const MIN_RANDOM_SAMPLE: u64 = 1024;
/// χ² threshold of [`Histogram::looks_random`].
pub const RANDOM_CHI2_MAX: u64 = 512;

/// What a range of flash holds, judged without any key or format knowledge.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(rename_all = "snake_case"))]
pub enum Bytes {
    /// Every byte is `FF`.
    Blank,
    /// The non-`FF` sectors are indistinguishable from random (flash-encryption ciphertext, or
    /// random data).
    RandomLike,
    /// Anything else.
    Structured,
}

/// Classify `len` bytes of `flash` at `offset` (clamped to the 32-bit address space; sector by sector: fully-`FF` sectors are set
/// aside as erased; the rest are tested for randomness).
pub fn bytes_at<F: ReadNorFlash>(flash: &mut F, offset: u32, len: u32) -> Result<Bytes, F::Error> {
    let len = len.min(u32::MAX - offset);
    let mut h = Histogram::default();
    let mut buf = [0u8; SECTOR];
    let mut pos = 0u32;
    // Bounded: len / 4096 + 1 iterations.
    while pos < len {
        let n = (len - pos).min(SECTOR as u32) as usize;
        let chunk = &mut buf[..n];
        flash.read(offset + pos, chunk)?;
        if chunk.iter().any(|&b| b != 0xFF) {
            h.add(chunk);
        }
        pos += n as u32;
    }
    Ok(if h.total() == 0 {
        Bytes::Blank
    } else if h.looks_random() {
        Bytes::RandomLike
    } else {
        Bytes::Structured
    })
}

/// Whether every byte of `flash[offset..offset + len]` is `FF`.
pub fn is_blank<F: ReadNorFlash>(flash: &mut F, offset: u32, len: u32) -> Result<bool, F::Error> {
    let len = len.min(u32::MAX - offset);
    let mut buf = [0u8; 256];
    let mut pos = 0u32;
    while pos < len {
        let n = (len - pos).min(buf.len() as u32) as usize;
        flash.read(offset + pos, &mut buf[..n])?;
        if buf[..n].iter().any(|&b| b != 0xFF) {
            return Ok(false);
        }
        pos += n as u32;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::SliceFlash;
    use crate::xts::FlashKey;
    use alloc::vec;

    #[test]
    fn ciphertext_is_random_like_and_structure_is_not() {
        let k = FlashKey::new(&[9; 32]);
        let mut ff = vec![0xFFu8; 3 * SECTOR];
        k.encrypt(0x1F000, &mut ff).unwrap();
        assert_eq!(bytes_at(&mut SliceFlash(&ff), 0, ff.len() as u32), Ok(Bytes::RandomLike));

        // A table-sized piece of ciphertext (3072 bytes) is enough.
        assert_eq!(bytes_at(&mut SliceFlash(&ff), 0, 3072), Ok(Bytes::RandomLike));

        let zeros = vec![0u8; SECTOR];
        assert_eq!(bytes_at(&mut SliceFlash(&zeros), 0, SECTOR as u32), Ok(Bytes::Structured));
        let text = b"-----BEGIN CERTIFICATE-----MIIBszCCAVmgAwIBAgIUFakeFakeFake".repeat(80);
        assert_eq!(bytes_at(&mut SliceFlash(&text), 0, text.len() as u32), Ok(Bytes::Structured));
        let counting: alloc::vec::Vec<u8> = (0..SECTOR).map(|i| i as u8).collect();
        // uniform histogram but obviously structured: χ² alone calls it random. That is why the
        // diagnosis never relies on this test alone (it also requires no valid structure).
        assert_eq!(bytes_at(&mut SliceFlash(&counting), 0, SECTOR as u32), Ok(Bytes::RandomLike));

        let blank = vec![0xFFu8; 2 * SECTOR];
        assert_eq!(bytes_at(&mut SliceFlash(&blank), 0, blank.len() as u32), Ok(Bytes::Blank));
        assert_eq!(is_blank(&mut SliceFlash(&blank), 0, 0x2000), Ok(true));
        assert_eq!(is_blank(&mut SliceFlash(&zeros), 0, 1), Ok(false));
    }

    #[test]
    fn small_samples_are_never_random() {
        let k = FlashKey::new(&[9; 32]);
        let mut ff = vec![0xFFu8; 512];
        k.encrypt(0, &mut ff).unwrap();
        assert_eq!(bytes_at(&mut SliceFlash(&ff), 0, 512), Ok(Bytes::Structured));
    }

    #[test]
    fn chi_square_of_uniform_counts_is_zero() {
        let mut h = Histogram::default();
        h.add(&(0..=255u8).collect::<alloc::vec::Vec<_>>());
        assert_eq!(h.chi_square(), 0);
        let mut z = Histogram::default();
        z.add(&[0u8; 256]);
        assert_eq!(z.chi_square(), 255 * 256);
    }
}
