//! An NVS partition image built in memory exactly as Espressif's generator builds it.
//!
//! [`ImageBuilder`] is a port of the page logic of `esp-idf-nvs-partition-gen` 0.3.0
//! (`nvs_partition_gen.py`, Apache-2.0), so that the same sequence of namespaces and values
//! gives the same bytes — plain, or NVS-encrypted with the same keys. `at_nvs::csv` (feature `std`) drives it
//! from the tool's CSV format. The generator's layout rules, which differ from the ESP-IDF
//! runtime's in places:
//!
//! * pages are filled in order with sequence numbers 0, 1, 2…; a page that is left is marked
//!   FULL, the last data page stays ACTIVE, the remaining pages (and one reserved page) stay
//!   blank;
//! * a string (or a format-v1 blob) must leave at least one entry free on its page
//!   (`entry + span >= 126` moves it to the next page; the runtime allows an exact fit);
//! * a format-v2 blob is always `BLOB_DATA` chunks + `BLOB_IDX`, split at whatever room is left
//!   on the page — even none: at the last entry of a page it writes a zero-length chunk (the
//!   runtime moves the whole blob to a fresh page when fewer than 400 bytes are left);
//! * entries after a *re-opened* namespace go to the newest namespace, not the re-opened one
//!   (the tool tracks only a namespace *count*); reproduced here;
//! * partitions below 0x3000 are "read-only NVS": no reserved page, and the image is only as
//!   long as the pages written.
//!
//! Where this builder rejects input that the tool would turn into a broken image it says so
//! in [`ImageError`]: entries before any namespace (the tool writes them to namespace 0, the
//! namespace table), keys longer than 15 bytes of UTF-8, more than 254 namespaces.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use at_hal::kv::Value;

use crate::crc::crc32;
use crate::crypto::{EntryCipher, NvsKeys};
use crate::format::{
    BITMAP_OFFSET, CHUNK_ANY, ENTRY_COUNT, ENTRY_SIZE, FIRST_ENTRY_OFFSET, ItemType, PAGE_SIZE, PageHeader,
    PageState, VERSION_1, VERSION_2,
};

/// The generator's `--version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FormatVersion {
    /// Version 1: blobs as single-page `BLOB` items (max 1984 bytes), page version byte 0xFF.
    V1,
    /// Version 2 (the default): multi-page blobs, page version byte 0xFE.
    #[default]
    V2,
}

/// Why an image cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageError {
    /// The partition size is not a multiple of 4096.
    SizeNotMultiple,
    /// The partition size is below 4096.
    SizeTooSmall,
    /// The values do not fit the partition ("Size parameter is less than the size of data in
    /// csv").
    InsufficientSize,
    /// A key or namespace name is longer than 15 bytes.
    KeyTooLong(String),
    /// A string or (format v1) blob is longer than a page item can be.
    ValueTooLong {
        /// The key.
        key: String,
        /// Its length in bytes (strings: with the NUL).
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A string too long to leave one entry free on an empty page (the tool crashes on it).
    DoesNotFitPage(String),
    /// A value before any namespace (the tool would write it into the namespace table).
    NoNamespace(String),
    /// More than 254 namespaces.
    TooManyNamespaces,
    /// An integer out of range for its type.
    IntOutOfRange(String),
    /// A blob needing more chunks than a chunk index can number.
    TooManyChunks(String),
}

impl core::fmt::Display for ImageError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ImageError::SizeNotMultiple => f.write_str("size of partition must be a multiple of 4096"),
            ImageError::SizeTooSmall => {
                f.write_str("minimum partition size is 0x1000 (read-only) / 0x3000 bytes")
            }
            ImageError::InsufficientSize => f.write_str("partition size is less than the size of the data"),
            ImageError::KeyTooLong(k) => write!(f, "key `{k}` longer than 15 bytes"),
            ImageError::ValueTooLong { key, len, max } => {
                write!(f, "size ({len}) exceeds max allowed length {max} bytes for key `{key}`")
            }
            ImageError::DoesNotFitPage(k) => write!(f, "value of `{k}` does not fit an NVS page"),
            ImageError::NoNamespace(k) => write!(f, "entry `{k}` comes before any namespace"),
            ImageError::TooManyNamespaces => f.write_str("more than 254 namespaces"),
            ImageError::IntOutOfRange(k) => write!(f, "integer out of range for `{k}`"),
            ImageError::TooManyChunks(k) => write!(f, "blob `{k}` needs more than 255 chunks"),
        }
    }
}

impl core::error::Error for ImageError {}

struct GenPage {
    buf: Vec<u8>,
    entry_num: usize,
    bitmap: [u8; 32],
}

impl GenPage {
    fn blank() -> GenPage {
        GenPage { buf: vec![0xFF; PAGE_SIZE], entry_num: 0, bitmap: [0xFF; 32] }
    }

    fn active(seq: u32, version: u8) -> GenPage {
        let mut p = GenPage::blank();
        p.buf[..32].copy_from_slice(&PageHeader::encode(PageState::Active, seq, version));
        p
    }
}

/// Builds an image as `nvs_partition_gen.py` does. See the [module docs](self).
pub struct ImageBuilder {
    version: u8,
    cipher: Option<EntryCipher>,
    /// Bytes of data pages still available; `None` once the reserved page is being added.
    size_left: Option<usize>,
    read_only: bool,
    pages: Vec<GenPage>,
    namespace_count: usize,
    written_namespaces: BTreeMap<Vec<u8>, usize>,
}

/// Data of a variable-length value as the generator sees it.
enum Var<'a> {
    Str(&'a [u8]),
    Bin(&'a [u8]),
}

impl ImageBuilder {
    /// Start an image for a partition of `size` bytes (the tool's `size` argument), in the
    /// given format version, NVS-encrypted if `keys` are given.
    pub fn new(
        size: usize,
        version: FormatVersion,
        keys: Option<&NvsKeys>,
    ) -> Result<ImageBuilder, ImageError> {
        if !size.is_multiple_of(PAGE_SIZE) {
            return Err(ImageError::SizeNotMultiple);
        }
        if size < PAGE_SIZE {
            return Err(ImageError::SizeTooSmall);
        }
        // One page is reserved (left blank) unless that leaves fewer than two: then the
        // partition is "read-only NVS" and all of it is usable.
        let (usable, read_only) =
            if size - PAGE_SIZE < 2 * PAGE_SIZE { (size, true) } else { (size - PAGE_SIZE, false) };
        let mut b = ImageBuilder {
            version: if version == FormatVersion::V1 { VERSION_1 } else { VERSION_2 },
            cipher: keys.map(EntryCipher::new),
            size_left: Some(usable),
            read_only,
            pages: Vec::new(),
            namespace_count: 0,
            written_namespaces: BTreeMap::new(),
        };
        b.new_page(false, false)?;
        Ok(b)
    }

    /// `NVS.create_new_page`.
    fn new_page(&mut self, reserved: bool, empty: bool) -> Result<(), ImageError> {
        if !empty
            && let Some(cur) = self.pages.last_mut()
            && cur.buf[..4] == PageState::Active.raw().to_le_bytes()
        {
            cur.buf[..4].copy_from_slice(&PageState::Full.raw().to_le_bytes());
        }
        if self.size_left == Some(0) {
            return Err(ImageError::InsufficientSize);
        }
        if !reserved && let Some(left) = self.size_left.as_mut() {
            *left -= PAGE_SIZE;
        }
        let num = self.pages.len() as u32;
        self.pages.push(if empty || reserved {
            GenPage::blank()
        } else {
            GenPage::active(num, self.version)
        });
        Ok(())
    }

    fn cur(&mut self) -> &mut GenPage {
        // `new` always creates a page, so this never creates one in practice.
        if self.pages.is_empty() {
            self.pages.push(GenPage::blank());
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    /// `Page.write_entry_to_buf`: `data` (at most `count` entries) at the current entry,
    /// encrypted per entry if keys are set, then `count` bitmap slots marked WRITTEN.
    fn put(&mut self, data: &[u8], count: usize) {
        let page_num = self.pages.len().saturating_sub(1);
        let cipher = self.cipher.take();
        let p = self.cur();
        let start = FIRST_ENTRY_OFFSET + ENTRY_SIZE * p.entry_num;
        if let Some(c) = &cipher {
            for j in 0..count {
                let mut e = [0xFFu8; 32];
                if let Some(src) = data.get(j * ENTRY_SIZE..) {
                    let n = src.len().min(ENTRY_SIZE);
                    e[..n].copy_from_slice(&src[..n]);
                }
                c.encrypt((page_num * PAGE_SIZE + start + j * ENTRY_SIZE) as u32, &mut e);
                if let Some(dst) = p.buf.get_mut(start + j * ENTRY_SIZE..start + (j + 1) * ENTRY_SIZE) {
                    dst.copy_from_slice(&e);
                }
            }
        } else if let Some(dst) = p.buf.get_mut(start..start + data.len()) {
            dst.copy_from_slice(data);
        }
        for _ in 0..count {
            let bit = p.entry_num * 2;
            if let Some(b) = p.bitmap.get_mut(bit / 8) {
                *b &= !(1u8 << (bit % 8));
            }
            p.entry_num += 1;
        }
        p.buf[BITMAP_OFFSET..BITMAP_OFFSET + 32].copy_from_slice(&p.bitmap);
        self.cipher = cipher;
    }

    fn header(ns: u8, ty: ItemType, span: u8, chunk: u8, key: &[u8; 16], data: [u8; 8]) -> [u8; 32] {
        crate::format::Item::new(ns, ty, span, chunk, *key, data).to_bytes()
    }

    fn key_field(key: &str) -> Result<[u8; 16], ImageError> {
        let b = key.as_bytes();
        if b.len() > 15 {
            return Err(ImageError::KeyTooLong(key.into()));
        }
        Ok(crate::format::key_field(b))
    }

    /// `Page.write_primitive_data` with the tool's page-full retry.
    fn write_primitive(
        &mut self,
        ns: u8,
        key: &[u8; 16],
        ty: ItemType,
        data: [u8; 8],
    ) -> Result<(), ImageError> {
        if self.cur().entry_num >= ENTRY_COUNT {
            self.new_page(false, false)?;
        }
        let e = Self::header(ns, ty, 1, CHUNK_ANY, key, data);
        self.put(&e, 1);
        Ok(())
    }

    /// A namespace row: registers `name` (index = count + 1) unless it was written before.
    /// Entries that follow go to the **newest** namespace (the tool's behaviour).
    pub fn namespace(&mut self, name: &str) -> Result<(), ImageError> {
        let key = Self::key_field(name)?;
        if self.written_namespaces.contains_key(name.as_bytes()) {
            return Ok(());
        }
        if self.namespace_count >= 254 {
            return Err(ImageError::TooManyNamespaces);
        }
        self.namespace_count += 1;
        let idx = self.namespace_count as u8;
        let mut d = [0xFFu8; 8];
        d[0] = idx;
        self.write_primitive(0, &key, ItemType::U8, d)?;
        self.written_namespaces.insert(name.as_bytes().to_vec(), self.namespace_count);
        Ok(())
    }

    fn entry_ns(&self, key: &str) -> Result<u8, ImageError> {
        match self.namespace_count {
            0 => Err(ImageError::NoNamespace(key.into())),
            n => Ok(n as u8),
        }
    }

    /// An entry in the current namespace: an integer, a string (the NUL is added) or a blob.
    pub fn entry(&mut self, key: &str, value: Value<'_>) -> Result<(), ImageError> {
        let k = Self::key_field(key)?;
        let ns = self.entry_ns(key)?;
        let int = |ty: ItemType, bytes: &[u8]| {
            let mut d = [0xFFu8; 8];
            d[..bytes.len()].copy_from_slice(bytes);
            (ty, d)
        };
        let (ty, d) = match value {
            Value::U8(v) => int(ItemType::U8, &v.to_le_bytes()),
            Value::I8(v) => int(ItemType::I8, &v.to_le_bytes()),
            Value::U16(v) => int(ItemType::U16, &v.to_le_bytes()),
            Value::I16(v) => int(ItemType::I16, &v.to_le_bytes()),
            Value::U32(v) => int(ItemType::U32, &v.to_le_bytes()),
            Value::I32(v) => int(ItemType::I32, &v.to_le_bytes()),
            Value::U64(v) => int(ItemType::U64, &v.to_le_bytes()),
            Value::I64(v) => int(ItemType::I64, &v.to_le_bytes()),
            Value::Str(s) => return self.write_varlen(ns, key, &k, Var::Str(s)),
            Value::Blob(b) => return self.write_varlen(ns, key, &k, Var::Bin(b)),
        };
        self.write_primitive(ns, &k, ty, d)
    }

    /// `Page.write_varlen_data` with the tool's page-full retry.
    fn write_varlen(&mut self, ns: u8, key: &str, k: &[u8; 16], data: Var<'_>) -> Result<(), ImageError> {
        let owned: Vec<u8>;
        let (bytes, is_str) = match data {
            Var::Str(s) => {
                owned = [s, &[0]].concat();
                (&owned[..], true)
            }
            Var::Bin(b) => (b, false),
        };
        let len = bytes.len();
        let max = if self.version == VERSION_1 { 1984 } else { 4000 };
        if (self.version == VERSION_1 || is_str) && len > max {
            return Err(ImageError::ValueTooLong { key: key.into(), len, max });
        }
        let data_entries = len.div_ceil(ENTRY_SIZE);
        let total = data_entries + 1;
        let multipage = self.version == VERSION_2 && !is_str;
        for attempt in 0..2 {
            let entry_num = self.cur().entry_num;
            let full = entry_num >= ENTRY_COUNT || (entry_num + total >= ENTRY_COUNT && !multipage);
            if !full {
                return if multipage {
                    self.write_multipage(ns, key, k, bytes)
                } else {
                    let ty = if is_str { ItemType::Sz } else { ItemType::Blob };
                    self.write_single(ns, k, ty, bytes, data_entries);
                    Ok(())
                };
            }
            if attempt == 0 {
                self.new_page(false, false)?;
            }
        }
        Err(ImageError::DoesNotFitPage(key.into()))
    }

    fn var_field(data: &[u8]) -> [u8; 8] {
        let mut d = [0xFFu8; 8];
        d[..2].copy_from_slice(&(data.len() as u16).to_le_bytes());
        d[4..].copy_from_slice(&crc32(data).to_le_bytes());
        d
    }

    /// `Page.write_single_page_entry`.
    fn write_single(&mut self, ns: u8, k: &[u8; 16], ty: ItemType, data: &[u8], data_entries: usize) {
        let e = Self::header(ns, ty, (data_entries + 1) as u8, CHUNK_ANY, k, Self::var_field(data));
        self.put(&e, 1);
        self.put(data, data_entries);
    }

    /// `Page.write_varlen_binary_data`: chunks split at the room left, then the index.
    fn write_multipage(&mut self, ns: u8, key: &str, k: &[u8; 16], data: &[u8]) -> Result<(), ImageError> {
        let mut chunk_count: usize = 0;
        let mut offset = 0;
        let mut remaining = data.len();
        // Each round writes a chunk; a page holds at least one, so this is bounded.
        for _ in 0..=data.len() / ENTRY_SIZE + 2 * self.pages.len() + 2 {
            let entry_num = self.cur().entry_num;
            let tailroom = ENTRY_COUNT.saturating_sub(entry_num + 1) * ENTRY_SIZE;
            let chunk_size = tailroom.min(remaining);
            remaining -= chunk_size;
            let entries = chunk_size.div_ceil(ENTRY_SIZE);
            if chunk_count > 255 {
                return Err(ImageError::TooManyChunks(key.into()));
            }
            let chunk = &data[offset..offset + chunk_size];
            let e = Self::header(
                ns,
                ItemType::BlobData,
                (entries + 1) as u8,
                chunk_count as u8,
                k,
                Self::var_field(chunk),
            );
            self.put(&e, 1);
            self.put(chunk, entries);
            chunk_count += 1;
            if remaining > 0 || tailroom - chunk_size < ENTRY_SIZE {
                self.new_page(false, false)?;
            }
            offset += chunk_size;
            if remaining == 0 {
                let mut d = [0xFFu8; 8];
                d[..4].copy_from_slice(&(data.len() as u32).to_le_bytes());
                d[4] = chunk_count as u8;
                d[5] = 0;
                let e = Self::header(ns, ItemType::BlobIdx, 1, CHUNK_ANY, k, d);
                self.put(&e, 1);
                return Ok(());
            }
        }
        Err(ImageError::InsufficientSize)
    }

    /// Finish: blank pages up to the size, plus the reserved page (not for read-only NVS).
    pub fn finish(mut self) -> Result<Vec<u8>, ImageError> {
        if !self.read_only {
            while self.size_left.is_some_and(|l| l > 0) {
                self.new_page(false, true)?;
            }
            self.size_left = None;
            self.new_page(true, true)?;
        }
        let mut out = Vec::with_capacity(self.pages.len() * PAGE_SIZE);
        for p in &self.pages {
            out.extend_from_slice(&p.buf);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(
            ImageBuilder::new(0x1001, FormatVersion::V2, None).err(),
            Some(ImageError::SizeNotMultiple)
        );
        assert_eq!(ImageBuilder::new(0, FormatVersion::V2, None).err(), Some(ImageError::SizeTooSmall));
        let img = ImageBuilder::new(0x6000, FormatVersion::V2, None).unwrap().finish().unwrap();
        assert_eq!(img.len(), 0x6000);
        assert_eq!(&img[..4], &[0xFE, 0xFF, 0xFF, 0xFF], "first page ACTIVE even when empty");
        assert!(img[0x1000..].iter().all(|&b| b == 0xFF));
        // Read-only NVS (< 0x3000): only the pages written.
        let img = ImageBuilder::new(0x2000, FormatVersion::V2, None).unwrap().finish().unwrap();
        assert_eq!(img.len(), 0x1000);
    }

    #[test]
    fn entries_need_a_namespace_and_short_keys() {
        let mut b = ImageBuilder::new(0x3000, FormatVersion::V2, None).unwrap();
        assert_eq!(b.entry("k", Value::U8(1)), Err(ImageError::NoNamespace("k".into())));
        assert_eq!(b.namespace("sixteen_chars_xx"), Err(ImageError::KeyTooLong("sixteen_chars_xx".into())));
        b.namespace("ns").unwrap();
        b.entry("k", Value::U8(1)).unwrap();
        assert_eq!(
            b.entry("s", Value::Str(&[b'x'; 4000])),
            Err(ImageError::ValueTooLong { key: "s".into(), len: 4001, max: 4000 })
        );
        assert_eq!(b.entry("s", Value::Str(&[b'x'; 3990])), Err(ImageError::DoesNotFitPage("s".into())));
        b.entry("s", Value::Str(&[b'x'; 3967])).unwrap();
    }

    #[test]
    fn insufficient_size() {
        let mut b = ImageBuilder::new(0x3000, FormatVersion::V2, None).unwrap();
        b.namespace("ns").unwrap();
        assert_eq!(b.entry("big", Value::Blob(&[0; 9000])), Err(ImageError::InsufficientSize));
    }
}
