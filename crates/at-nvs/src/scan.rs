//! One pass over a partition: page headers, bitmaps, item headers, data CRCs, byte histogram.
//!
//! Shared by [`crate::classify()`] and the mount. Reads each page once (one 4 KiB read),
//! trusts only the bitmap, and applies ESP-IDF's per-page validity rules
//! (`Page::mLoadEntryTable`) without writing anything: the result says what is valid and what
//! a read-write mount should mark erased.

use alloc::vec;
use alloc::vec::Vec;

use embedded_storage::nor_flash::ReadNorFlash;

use crate::crypto::EntryCipher;
use crate::format::{
    BITMAP_OFFSET, Bitmap, ENTRY_COUNT, ENTRY_SIZE, EntryState, FIRST_ENTRY_OFFSET, Item, ItemType,
    PAGE_SIZE, PageHeader, PageState, VERSION_2,
};

/// What a page is, from its header and contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PageKind {
    /// 0xFF throughout.
    Blank,
    /// Not usable as is. `header_only`: everything after the 32-byte header is 0xFF (a torn
    /// header write, or an erase cut near its start), so the page carries no data.
    Corrupt { header_only: bool },
    /// A header with a valid CRC and a known state.
    Valid { state: PageState, seq: u32, version: u8 },
}

/// A valid item found on a page.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cand {
    pub entry: u8,
    pub item: Item,
    pub ty: ItemType,
}

/// One page's scan.
#[derive(Debug, Clone)]
pub(crate) struct PageScan {
    pub kind: PageKind,
    /// The bitmap as read (all-empty for non-valid pages).
    pub bitmap: Bitmap,
    /// Valid items in entry order.
    pub items: Vec<Cand>,
    /// Entry ranges `(first, count)` a read-write mount marks ERASED: WRITTEN entries that
    /// fail the header check, torn variable-length items, data-CRC failures, and (ACTIVE pages)
    /// half-written entries whose bitmap still says EMPTY.
    pub to_erase: Vec<(u8, u8)>,
    /// First entry free for writing (ACTIVE pages; 126 otherwise).
    pub next_free: usize,
}

/// The scan of a whole partition.
#[derive(Debug, Clone)]
pub(crate) struct Scan {
    pub pages: Vec<PageScan>,
    pub blank_pages: usize,
    pub valid_headers: usize,
    /// Corrupt pages that carry data beyond the header.
    pub data_corrupt_pages: usize,
    /// A valid header with a version byte below 0xFE (newer format).
    pub newer_version: bool,
    /// WRITTEN bitmap slots examined as item headers.
    pub written_headers: usize,
    /// Of those, headers that pass the consistency check (CRC, type, span).
    pub headers_ok: usize,
    /// Byte histogram of the whole partition.
    pub hist: [u32; 256],
    /// Byte histogram of the pages that are neither blank nor header-only.
    pub data_hist: [u32; 256],
}

/// Read `buf.len()` bytes at `addr` (callers keep `addr` and the length multiples of 32,
/// which the mount checks against `READ_SIZE`).
pub(crate) fn read<F: ReadNorFlash>(flash: &mut F, addr: usize, buf: &mut [u8]) -> Result<(), ()> {
    let a = u32::try_from(addr).map_err(|_| ())?;
    flash.read(a, buf).map_err(|_| ())
}

/// Decode entry `i` of `page` (plain bytes as stored), decrypting with `cipher`.
pub(crate) fn entry_bytes(page: &[u8], sector: usize, i: usize, cipher: Option<&EntryCipher>) -> [u8; 32] {
    let off = FIRST_ENTRY_OFFSET + i * ENTRY_SIZE;
    let mut e = [0xFFu8; 32];
    if let Some(src) = page.get(off..off + ENTRY_SIZE) {
        e.copy_from_slice(src);
    }
    if let Some(c) = cipher {
        c.decrypt(entry_addr(sector, i), &mut e);
    }
    e
}

/// Partition-relative address of entry `i` of page `sector` (the XTS tweak).
pub(crate) fn entry_addr(sector: usize, i: usize) -> u32 {
    (sector * PAGE_SIZE + FIRST_ENTRY_OFFSET + i * ENTRY_SIZE) as u32
}

/// Scan every whole page of `flash`.
pub(crate) fn scan<F: ReadNorFlash>(flash: &mut F, cipher: Option<&EntryCipher>) -> Result<Scan, ()> {
    let page_count = flash.capacity() / PAGE_SIZE;
    let mut s = Scan {
        pages: Vec::with_capacity(page_count),
        blank_pages: 0,
        valid_headers: 0,
        data_corrupt_pages: 0,
        newer_version: false,
        written_headers: 0,
        headers_ok: 0,
        hist: [0; 256],
        data_hist: [0; 256],
    };
    let mut buf = vec![0u8; PAGE_SIZE];
    for sector in 0..page_count {
        read(flash, sector * PAGE_SIZE, &mut buf)?;
        for &b in buf.iter() {
            s.hist[b as usize] += 1;
        }
        let p = scan_page(&buf, sector, cipher, &mut s);
        if let PageKind::Corrupt { header_only: false } = p.kind {
            for &b in buf.iter() {
                s.data_hist[b as usize] += 1;
            }
        }
        s.pages.push(p);
    }
    Ok(s)
}

fn scan_page(buf: &[u8], sector: usize, cipher: Option<&EntryCipher>, s: &mut Scan) -> PageScan {
    let mut p = PageScan {
        kind: PageKind::Blank,
        bitmap: Bitmap::EMPTY,
        items: Vec::new(),
        to_erase: Vec::new(),
        next_free: ENTRY_COUNT,
    };
    let mut hdr = [0u8; 32];
    hdr.copy_from_slice(&buf[..32]);
    let header = PageHeader::parse(&hdr);
    let state = PageState::from_raw(header.state_raw);
    if buf.iter().all(|&b| b == 0xFF) {
        s.blank_pages += 1;
        p.next_free = 0;
        return p;
    }
    let header_only = buf[32..].iter().all(|&b| b == 0xFF);
    if state == PageState::Uninitialized || state == PageState::Corrupt || !header.crc_ok() {
        if !header_only {
            s.data_corrupt_pages += 1;
        }
        p.kind = PageKind::Corrupt { header_only };
        return p;
    }
    s.valid_headers += 1;
    if header.version < VERSION_2 {
        s.newer_version = true;
    }
    p.kind = PageKind::Valid { state, seq: header.seq, version: header.version };
    let mut bm = [0u8; 32];
    bm.copy_from_slice(&buf[BITMAP_OFFSET..BITMAP_OFFSET + 32]);
    p.bitmap = Bitmap(bm);

    // Where writing would continue on an ACTIVE page: after the last entry that is either
    // marked in the bitmap or not blank on flash (a write cut before its bitmap update).
    if state == PageState::Active {
        let raw_blank = |i: usize| {
            let off = FIRST_ENTRY_OFFSET + i * ENTRY_SIZE;
            buf[off..off + ENTRY_SIZE].iter().all(|&b| b == 0xFF)
        };
        let last_used =
            (0..ENTRY_COUNT).rev().find(|&i| p.bitmap.get(i) != EntryState::Empty || !raw_blank(i));
        p.next_free = last_used.map_or(0, |i| i + 1);
        let mut i = 0;
        while i < p.next_free {
            if p.bitmap.get(i) == EntryState::Empty {
                let start = i;
                while i < p.next_free && p.bitmap.get(i) == EntryState::Empty {
                    i += 1;
                }
                p.to_erase.push((start as u8, (i - start) as u8));
            } else {
                i += 1;
            }
        }
    }

    let mut i = 0;
    while i < ENTRY_COUNT {
        match p.bitmap.get(i) {
            EntryState::Written => {}
            EntryState::Illegal => {
                p.to_erase.push((i as u8, 1));
                i += 1;
                continue;
            }
            EntryState::Empty | EntryState::Erased => {
                i += 1;
                continue;
            }
        }
        s.written_headers += 1;
        let item = Item::parse(&entry_bytes(buf, sector, i, cipher));
        let Some(ty) = item.check(i) else {
            p.to_erase.push((i as u8, 1));
            i += 1;
            continue;
        };
        s.headers_ok += 1;
        let span = item.span as usize;
        if ty.is_variable_length() {
            let complete = (i + 1..i + span).all(|j| p.bitmap.get(j) == EntryState::Written);
            if !complete || !data_crc_ok(buf, sector, i, &item, cipher) {
                p.to_erase.push((i as u8, span as u8));
                i += span;
                continue;
            }
        }
        p.items.push(Cand { entry: i as u8, item, ty });
        i += span;
    }
    p
}

/// Check the data CRC of the variable-length item at entry `i` of a page held in `buf`.
fn data_crc_ok(buf: &[u8], sector: usize, i: usize, item: &Item, cipher: Option<&EntryCipher>) -> bool {
    let size = item.var_size();
    let mut h = crate::crc::hasher();
    let mut left = size;
    let mut j = i + 1;
    while left > 0 && j < ENTRY_COUNT {
        let e = entry_bytes(buf, sector, j, cipher);
        let n = left.min(ENTRY_SIZE);
        h.update(&e[..n]);
        left -= n;
        j += 1;
    }
    left == 0 && h.finalize() == item.var_crc()
}

/// Shannon entropy of a byte histogram, in bits per byte (0 for an empty histogram).
pub(crate) fn entropy(hist: &[u32; 256]) -> f32 {
    let total: u64 = hist.iter().map(|&c| u64::from(c)).sum();
    if total == 0 {
        return 0.0;
    }
    let t = total as f64;
    let mut h = 0.0f64;
    for &c in hist.iter() {
        if c > 0 {
            let p = f64::from(c) / t;
            h -= p * log2(p);
        }
    }
    h as f32
}

/// `log2(x)` for `x > 0` without `std` (core has no `f64::log2`): exponent from the bits,
/// mantissa through the `atanh` series of `ln`, accurate to ~1e-12 — plenty for a diagnostic.
fn log2(x: f64) -> f64 {
    if x <= 0.0 || !x.is_finite() {
        return 0.0;
    }
    let bits = x.to_bits();
    let mut exp = ((bits >> 52) & 0x7FF) as i64;
    let mut mant_bits = bits & 0x000F_FFFF_FFFF_FFFF;
    if exp == 0 {
        // subnormal: normalise
        let shift = mant_bits.leading_zeros() as i64 - 11;
        mant_bits = (mant_bits << shift) & 0x000F_FFFF_FFFF_FFFF;
        exp = 1 - shift;
    }
    let m = f64::from_bits(mant_bits | (1023u64 << 52)); // in [1, 2)
    let z = (m - 1.0) / (m + 1.0); // in [0, 1/3)
    let z2 = z * z;
    let mut term = z;
    let mut ln_m = 0.0;
    let mut k = 1.0;
    while k < 40.0 {
        ln_m += term / k;
        term *= z2;
        k += 2.0;
    }
    (exp - 1023) as f64 + 2.0 * ln_m * core::f64::consts::LOG2_E
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log2_is_accurate() {
        for (x, want) in
            [(1.0, 0.0), (2.0, 1.0), (0.5, -1.0), (1.0 / 256.0, -8.0), (3.0, 1.584_962_500_721_156)]
        {
            assert!((log2(x) - want).abs() < 1e-9, "log2({x}) = {}", log2(x));
        }
        assert!((log2(f64::MIN_POSITIVE / 4.0) - (-1024.0)).abs() < 1e-9);
    }

    #[test]
    fn entropy_extremes() {
        let mut h = [0u32; 256];
        assert_eq!(entropy(&h), 0.0);
        h[0xFF] = 4096;
        assert_eq!(entropy(&h), 0.0);
        let uniform = [16u32; 256];
        assert!((entropy(&uniform) - 8.0).abs() < 1e-5);
        h[0] = 4096;
        assert!((entropy(&h) - 1.0).abs() < 1e-6);
    }
}
