//! The ESP-IDF NVS on-flash format: pages, page header, entry-state bitmap, 32-byte items.
//!
//! Pure data: parsing and encoding of fixed-size byte arrays, no I/O. Every parser takes a
//! fixed-size array, so nothing here can index out of bounds on untrusted input.
//!
//! ```text
//! page (4096) = header (32) | entry-state bitmap (32) | 126 entries × 32
//! header      = state u32 | seq u32 | version u8 | 19 × 0xFF | crc32(bytes 4..28)
//! item        = ns u8 | type u8 | span u8 | chunk u8 | crc32 u32 | key [16] | data [8]
//! ```

use crate::crc::{crc32, crc32_parts};

/// Bytes per page (one flash sector).
pub const PAGE_SIZE: usize = 4096;
/// Bytes per entry.
pub const ENTRY_SIZE: usize = 32;
/// Entries per page.
pub const ENTRY_COUNT: usize = 126;
/// Offset of the entry-state bitmap in a page.
pub const BITMAP_OFFSET: usize = 32;
/// Offset of entry 0 in a page.
pub const FIRST_ENTRY_OFFSET: usize = 64;
/// Most data bytes one variable-length item (string, blob chunk) can hold: 125 entries.
pub const CHUNK_MAX_SIZE: usize = ENTRY_SIZE * (ENTRY_COUNT - 1);
/// `chunkIndex` of every item but `BLOB_DATA`.
pub const CHUNK_ANY: u8 = 0xFF;
/// Page-header version byte of format v1 (single-page blobs).
pub const VERSION_1: u8 = 0xFF;
/// Page-header version byte of format v2 (multi-page blobs); what ESP-IDF writes today.
pub const VERSION_2: u8 = 0xFE;
/// Namespace index of the namespace table.
pub const NS_INDEX: u8 = 0;
/// `chunkStart` of blob version 0.
pub const VER_0_OFFSET: u8 = 0x00;
/// `chunkStart` of blob version 1.
pub const VER_1_OFFSET: u8 = 0x80;

/// Page states as stored in the first header word. Bits are only ever cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PageState {
    /// `0xFFFFFFFF`: erased. Only a page that is 0xFF throughout counts as such.
    Uninitialized,
    /// `0xFFFFFFFE`: accepting writes.
    Active,
    /// `0xFFFFFFFC`: no more writes.
    Full,
    /// `0xFFFFFFF8`: its items are being copied out before the page is erased.
    Freeing,
    /// Anything else, a header CRC mismatch, or a non-blank "uninitialized" page (never
    /// written to flash; a classification).
    Corrupt,
}

impl PageState {
    /// The raw value written to flash for the writable states (`Corrupt` is never written).
    pub const fn raw(self) -> u32 {
        match self {
            PageState::Uninitialized => 0xFFFF_FFFF,
            PageState::Active => 0xFFFF_FFFE,
            PageState::Full => 0xFFFF_FFFC,
            PageState::Freeing => 0xFFFF_FFF8,
            PageState::Corrupt => 0xFFFF_FFF0,
        }
    }

    /// Classify a raw state word (without looking at the CRC).
    pub const fn from_raw(raw: u32) -> PageState {
        match raw {
            0xFFFF_FFFF => PageState::Uninitialized,
            0xFFFF_FFFE => PageState::Active,
            0xFFFF_FFFC => PageState::Full,
            0xFFFF_FFF8 => PageState::Freeing,
            _ => PageState::Corrupt,
        }
    }
}

/// A decoded page header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageHeader {
    /// Raw state word.
    pub state_raw: u32,
    /// Sequence number: orders the pages.
    pub seq: u32,
    /// Format version byte ([`VERSION_2`], [`VERSION_1`]; lower means newer).
    pub version: u8,
    /// Stored CRC over bytes 4..28.
    pub crc: u32,
    /// CRC computed over bytes 4..28.
    pub crc_computed: u32,
}

impl PageHeader {
    /// Decode the first 32 bytes of a page.
    pub fn parse(b: &[u8; 32]) -> PageHeader {
        let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        PageHeader {
            state_raw: word(0),
            seq: word(4),
            version: b[8],
            crc: word(28),
            crc_computed: crc32(&b[4..28]),
        }
    }

    /// Whether the stored CRC matches.
    pub fn crc_ok(&self) -> bool {
        self.crc == self.crc_computed
    }

    /// Encode a header with the given state, sequence number and version.
    pub fn encode(state: PageState, seq: u32, version: u8) -> [u8; 32] {
        let mut b = [0xFFu8; 32];
        b[0..4].copy_from_slice(&state.raw().to_le_bytes());
        b[4..8].copy_from_slice(&seq.to_le_bytes());
        b[8] = version;
        let crc = crc32(&b[4..28]);
        b[28..32].copy_from_slice(&crc.to_le_bytes());
        b
    }
}

/// The state of one entry in the page's bitmap (2 bits per entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryState {
    /// `0b11`: never written.
    Empty,
    /// `0b10`: holds (part of) an item.
    Written,
    /// `0b00`: erased; the contents must not be trusted.
    Erased,
    /// `0b01`: impossible except after a torn bitmap write.
    Illegal,
}

impl EntryState {
    const fn bits(self) -> u8 {
        match self {
            EntryState::Empty => 0b11,
            EntryState::Written => 0b10,
            EntryState::Erased => 0b00,
            EntryState::Illegal => 0b01,
        }
    }
}

/// The 32-byte entry-state bitmap: entry `i` is bits `2*(i%4)..` of byte `i/4`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bitmap(pub [u8; 32]);

impl Bitmap {
    /// An all-empty bitmap.
    pub const EMPTY: Bitmap = Bitmap([0xFF; 32]);

    /// State of entry `i` (`Empty` for `i >= ENTRY_COUNT`).
    pub fn get(&self, i: usize) -> EntryState {
        if i >= ENTRY_COUNT {
            return EntryState::Empty;
        }
        match (self.0[i / 4] >> (2 * (i % 4))) & 0b11 {
            0b11 => EntryState::Empty,
            0b10 => EntryState::Written,
            0b00 => EntryState::Erased,
            _ => EntryState::Illegal,
        }
    }

    /// Move entry `i` to `state` by clearing bits (NOR semantics: bits never come back).
    pub fn set(&mut self, i: usize, state: EntryState) {
        if i < ENTRY_COUNT {
            let shift = 2 * (i % 4);
            let mask = !(0b11u8 << shift) | (state.bits() << shift);
            self.0[i / 4] &= mask;
        }
    }

    /// Number of entries in `state`.
    pub fn count(&self, state: EntryState) -> usize {
        (0..ENTRY_COUNT).filter(|&i| self.get(i) == state).count()
    }
}

/// Item type codes (`nvs.h` / `nvs_types.hpp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ItemType {
    /// `u8` (0x01)
    U8,
    /// `i8` (0x11)
    I8,
    /// `u16` (0x02)
    U16,
    /// `i16` (0x12)
    I16,
    /// `u32` (0x04)
    U32,
    /// `i32` (0x14)
    I32,
    /// `u64` (0x08)
    U64,
    /// `i64` (0x18)
    I64,
    /// NUL-terminated string on one page (0x21).
    Sz,
    /// Legacy (format v1) single-page blob (0x41).
    Blob,
    /// A chunk of a multi-page blob (0x42).
    BlobData,
    /// The index of a multi-page blob (0x48).
    BlobIdx,
}

impl ItemType {
    /// The type code on flash.
    pub const fn code(self) -> u8 {
        match self {
            ItemType::U8 => 0x01,
            ItemType::I8 => 0x11,
            ItemType::U16 => 0x02,
            ItemType::I16 => 0x12,
            ItemType::U32 => 0x04,
            ItemType::I32 => 0x14,
            ItemType::U64 => 0x08,
            ItemType::I64 => 0x18,
            ItemType::Sz => 0x21,
            ItemType::Blob => 0x41,
            ItemType::BlobData => 0x42,
            ItemType::BlobIdx => 0x48,
        }
    }

    /// Decode a type code (`None` for unknown codes, including v6.1's float/double).
    pub const fn from_code(code: u8) -> Option<ItemType> {
        Some(match code {
            0x01 => ItemType::U8,
            0x11 => ItemType::I8,
            0x02 => ItemType::U16,
            0x12 => ItemType::I16,
            0x04 => ItemType::U32,
            0x14 => ItemType::I32,
            0x08 => ItemType::U64,
            0x18 => ItemType::I64,
            0x21 => ItemType::Sz,
            0x41 => ItemType::Blob,
            0x42 => ItemType::BlobData,
            0x48 => ItemType::BlobIdx,
            _ => return None,
        })
    }

    /// Whether the item carries data entries after its header (string, blob, blob chunk).
    pub const fn is_variable_length(self) -> bool {
        matches!(self, ItemType::Sz | ItemType::Blob | ItemType::BlobData)
    }

    /// Width in bytes of an integer type (0 for the others).
    pub const fn int_width(self) -> usize {
        match self {
            ItemType::U8 | ItemType::I8 => 1,
            ItemType::U16 | ItemType::I16 => 2,
            ItemType::U32 | ItemType::I32 => 4,
            ItemType::U64 | ItemType::I64 => 8,
            _ => 0,
        }
    }
}

/// Entries a variable-length item of `size` data bytes spans, header included.
pub const fn var_span(size: usize) -> usize {
    1 + size.div_ceil(ENTRY_SIZE)
}

/// A decoded 32-byte item header (or any entry read as one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item {
    /// Namespace index (0 = namespace table).
    pub ns: u8,
    /// Raw type code (see [`ItemType::from_code`]).
    pub type_code: u8,
    /// Entries occupied, header included.
    pub span: u8,
    /// Chunk index (`BLOB_DATA`) or [`CHUNK_ANY`].
    pub chunk: u8,
    /// Stored header CRC.
    pub crc: u32,
    /// Key, NUL-padded.
    pub key: [u8; 16],
    /// Value (integers, little-endian, 0xFF-padded) or size/CRC/index fields.
    pub data: [u8; 8],
}

impl Item {
    /// Decode an entry.
    pub fn parse(b: &[u8; 32]) -> Item {
        let mut key = [0u8; 16];
        key.copy_from_slice(&b[8..24]);
        let mut data = [0u8; 8];
        data.copy_from_slice(&b[24..32]);
        Item {
            ns: b[0],
            type_code: b[1],
            span: b[2],
            chunk: b[3],
            crc: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            key,
            data,
        }
    }

    /// Build an item with a correct CRC.
    pub fn new(ns: u8, ty: ItemType, span: u8, chunk: u8, key: [u8; 16], data: [u8; 8]) -> Item {
        let mut it = Item { ns, type_code: ty.code(), span, chunk, crc: 0, key, data };
        it.crc = it.compute_crc();
        it
    }

    /// Encode to 32 bytes (with the stored `crc` as is).
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut b = [0u8; 32];
        b[0] = self.ns;
        b[1] = self.type_code;
        b[2] = self.span;
        b[3] = self.chunk;
        b[4..8].copy_from_slice(&self.crc.to_le_bytes());
        b[8..24].copy_from_slice(&self.key);
        b[24..32].copy_from_slice(&self.data);
        b
    }

    /// The header CRC over all bytes but the CRC field.
    pub fn compute_crc(&self) -> u32 {
        crc32_parts(&[&[self.ns, self.type_code, self.span, self.chunk], &self.key, &self.data])
    }

    /// The item type, if the code is known.
    pub fn item_type(&self) -> Option<ItemType> {
        ItemType::from_code(self.type_code)
    }

    /// Data size of a variable-length item.
    pub fn var_size(&self) -> usize {
        u16::from_le_bytes([self.data[0], self.data[1]]) as usize
    }

    /// Data CRC of a variable-length item.
    pub fn var_crc(&self) -> u32 {
        u32::from_le_bytes([self.data[4], self.data[5], self.data[6], self.data[7]])
    }

    /// Total size of a `BLOB_IDX`.
    pub fn blob_size(&self) -> usize {
        u32::from_le_bytes([self.data[0], self.data[1], self.data[2], self.data[3]]) as usize
    }

    /// Chunk count of a `BLOB_IDX`.
    pub fn blob_chunk_count(&self) -> u8 {
        self.data[4]
    }

    /// First chunk index (version offset) of a `BLOB_IDX`.
    pub fn blob_chunk_start(&self) -> u8 {
        self.data[5]
    }

    /// The key bytes before the first NUL (all 16 if there is none).
    pub fn key_bytes(&self) -> &[u8] {
        let n = self.key.iter().position(|&c| c == 0).unwrap_or(16);
        &self.key[..n]
    }

    /// ESP-IDF's `Item::checkHeaderConsistency` for an item at `entry` (0..126) of its page:
    /// CRC, a known type, and span/size/chunk fields that agree and fit the page. Returns the
    /// type when consistent.
    pub fn check(&self, entry: usize) -> Option<ItemType> {
        if entry >= ENTRY_COUNT || self.crc != self.compute_crc() {
            return None;
        }
        let ty = self.item_type()?;
        let span = self.span as usize;
        match ty {
            ItemType::BlobIdx => {
                if span != 1 || self.chunk != CHUNK_ANY {
                    return None;
                }
                if self.blob_size() > 127 * (ENTRY_COUNT - 1) * ENTRY_SIZE {
                    return None;
                }
            }
            ItemType::Sz | ItemType::Blob | ItemType::BlobData => {
                if ty == ItemType::BlobData && self.chunk == CHUNK_ANY {
                    return None;
                }
                let room = ENTRY_COUNT - entry;
                if self.var_size() > (room - 1) * ENTRY_SIZE
                    || span > room
                    || span != var_span(self.var_size())
                {
                    return None;
                }
            }
            _ => {
                if span != 1 {
                    return None;
                }
            }
        }
        Some(ty)
    }
}

/// Key bytes (1..=16, no NUL) as the 16-byte NUL-padded field.
pub fn key_field(key: &[u8]) -> [u8; 16] {
    let mut k = [0u8; 16];
    let n = key.len().min(16);
    k[..n].copy_from_slice(&key[..n]);
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_matches_reference_bytes() {
        let h = PageHeader::encode(PageState::Active, 0, VERSION_2);
        assert_eq!(&h[..9], &[0xFE, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0xFE]);
        assert_eq!(&h[28..], &[0x84, 0x2D, 0xBA, 0xB9]);
        let p = PageHeader::parse(&h);
        assert!(p.crc_ok());
        assert_eq!((PageState::from_raw(p.state_raw), p.seq, p.version), (PageState::Active, 0, 0xFE));
        let mut bad = h;
        bad[5] ^= 1;
        assert!(!PageHeader::parse(&bad).crc_ok());
        bad = h;
        bad[0] = 0xFC; // the state is outside the CRC
        assert!(PageHeader::parse(&bad).crc_ok());
    }

    #[test]
    fn bitmap_layout() {
        let mut b = Bitmap::EMPTY;
        for i in 0..125 {
            b.set(i, EntryState::Written);
        }
        assert_eq!(b.0[0], 0xAA);
        assert_eq!(b.0[31], 0xFE, "reference: ...aa fe = 0..124 written, 125 empty");
        b.set(3, EntryState::Erased);
        assert_eq!(b.get(3), EntryState::Erased);
        assert_eq!(b.0[0], 0x2A);
        b.set(3, EntryState::Written); // cannot bring bits back
        assert_eq!(b.get(3), EntryState::Erased);
        assert_eq!(b.get(126), EntryState::Empty);
        assert_eq!(b.count(EntryState::Written), 124);
        let mut c = Bitmap::EMPTY;
        c.0[0] = 0b0111_1111;
        assert_eq!(c.get(3), EntryState::Illegal);
    }

    #[test]
    fn namespace_item_matches_reference() {
        let it = Item::new(
            0,
            ItemType::U8,
            1,
            CHUNK_ANY,
            key_field(b"at_certs"),
            [1, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
        );
        assert_eq!(it.crc, 0xC1AC_712C);
        let b = it.to_bytes();
        assert_eq!(&b[..8], &[0x00, 0x01, 0x01, 0xFF, 0x2C, 0x71, 0xAC, 0xC1]);
        assert_eq!(Item::parse(&b), it);
        assert_eq!(it.check(0), Some(ItemType::U8));
        assert_eq!(it.key_bytes(), b"at_certs");
    }

    #[test]
    fn consistency_checks() {
        let var = |ty, span, size: u16, chunk| {
            let mut d = [0xFF; 8];
            d[..2].copy_from_slice(&size.to_le_bytes());
            Item::new(1, ty, span, chunk, key_field(b"k"), d)
        };
        assert_eq!(var(ItemType::Sz, 2, 13, CHUNK_ANY).check(0), Some(ItemType::Sz));
        assert_eq!(var(ItemType::Sz, 3, 13, CHUNK_ANY).check(0), None, "span must match size");
        assert_eq!(var(ItemType::Sz, 2, 13, CHUNK_ANY).check(124), Some(ItemType::Sz));
        assert_eq!(var(ItemType::Sz, 2, 13, CHUNK_ANY).check(125), None, "must fit the page");
        assert_eq!(var(ItemType::Sz, 2, 13, CHUNK_ANY).check(126), None);
        assert_eq!(var(ItemType::BlobData, 2, 13, CHUNK_ANY).check(0), None, "chunk must not be ANY");
        assert_eq!(var(ItemType::BlobData, 126, 4000, 0).check(0), Some(ItemType::BlobData));
        assert_eq!(var(ItemType::BlobData, 1, 0, 0x80).check(125), Some(ItemType::BlobData));
        let prim = Item::new(1, ItemType::U32, 2, CHUNK_ANY, key_field(b"k"), [0; 8]);
        assert_eq!(prim.check(0), None);
        let mut unknown = Item::new(1, ItemType::U8, 1, CHUNK_ANY, key_field(b"k"), [0; 8]);
        unknown.type_code = 0x24;
        unknown.crc = unknown.compute_crc();
        assert_eq!(unknown.check(0), None);
        let mut idx = Item::new(1, ItemType::BlobIdx, 1, 0, key_field(b"k"), [0; 8]);
        assert_eq!(idx.check(0), None, "BLOB_IDX chunk must be ANY");
        idx.chunk = CHUNK_ANY;
        idx.crc = idx.compute_crc();
        assert_eq!(idx.check(0), Some(ItemType::BlobIdx));
    }
}
