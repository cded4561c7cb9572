//! ESP-IDF binary partition tables: parse, check, emit.
//!
//! A table is [`TABLE_LEN`] (3072) bytes of 32-byte slots. Each partition is one slot
//! (`components/bootloader_support/include/esp_flash_partitions.h`, `esp_partition_info_t`):
//!
//! ```text
//!  0..2   magic      AA 50           (ESP_PARTITION_MAGIC, 0x50AA little-endian)
//!  2      type       0 app, 1 data, 2 bootloader, 3 partition_table, 0x40..=0xFE custom
//!  3      subtype
//!  4..8   offset     u32 LE, absolute flash address
//!  8..12  size       u32 LE
//! 12..28  label      NUL-padded
//! 28..32  flags      u32 LE: bit 0 encrypted, bit 1 readonly
//! ```
//!
//! After the partitions `gen_esp32part.py` writes an MD5 slot (`EB EB`, 14 × `FF`, then the MD5
//! of all partition slots before it) and pads the rest with `FF`. The bootloader
//! (`esp_partition_table_verify`) accepts at most one MD5 slot and stops at the first slot whose
//! magic is `FF FF` with type and subtype `FF`; any other magic is an error. [`PartitionTable::parse`]
//! follows the bootloader, and additionally rejects entries that overlap or leave the flash, as
//! `gen_esp32part.py` does.
//!
//! Panic contract: parsing never panics and does work bounded by [`MAX_SLOTS`], whatever the bytes.

use alloc::vec::Vec;
use core::fmt;
use md5::{Digest, Md5};

/// Length of a partition table on flash (`ESP_PARTITION_TABLE_MAX_LEN`, 0xC00).
pub const TABLE_LEN: usize = 0xC00;
/// Length of one table slot.
pub const ENTRY_LEN: usize = 32;
/// Number of 32-byte slots in a table (partitions, the MD5 slot and the end marker share them).
pub const MAX_SLOTS: usize = TABLE_LEN / ENTRY_LEN;
/// Where the bootloader reads the primary table (`CONFIG_PARTITION_TABLE_OFFSET` default).
pub const PRIMARY_TABLE_OFFSET: u32 = 0x8000;
/// Magic of a partition slot, as stored.
pub const ENTRY_MAGIC: [u8; 2] = [0xAA, 0x50];
/// Magic of the MD5 slot, as stored.
pub const MD5_MAGIC: [u8; 2] = [0xEB, 0xEB];

/// Partition type codes (`esp_partition_type_t`).
pub mod types {
    /// Application image.
    pub const APP: u8 = 0x00;
    /// Data partition.
    pub const DATA: u8 = 0x01;
    /// Bootloader (ESP-IDF v5.3+ tables).
    pub const BOOTLOADER: u8 = 0x02;
    /// The partition table itself (ESP-IDF v5.3+ tables).
    pub const PARTITION_TABLE: u8 = 0x03;
    /// First custom type; ESP-AT's `at_customize` uses 0x40.
    pub const CUSTOM_MIN: u8 = 0x40;
    /// ESP-AT's `at_customize` partition type.
    pub const AT_CUSTOMIZE: u8 = 0x40;
}

/// Partition subtype codes (`esp_partition_subtype_t`) used by this crate.
pub mod subtypes {
    /// app: factory image.
    pub const APP_FACTORY: u8 = 0x00;
    /// app: first OTA slot (`ota_N` = 0x10 + N).
    pub const APP_OTA_0: u8 = 0x10;
    /// app: test image.
    pub const APP_TEST: u8 = 0x20;
    /// data: OTA selection data.
    pub const DATA_OTA: u8 = 0x00;
    /// data: PHY init data.
    pub const DATA_PHY: u8 = 0x01;
    /// data: NVS.
    pub const DATA_NVS: u8 = 0x02;
    /// data: core dump.
    pub const DATA_COREDUMP: u8 = 0x03;
    /// data: NVS encryption keys.
    pub const DATA_NVS_KEYS: u8 = 0x04;
    /// data: emulated eFuse.
    pub const DATA_EFUSE: u8 = 0x05;
    /// data: undefined (the CSV default for an empty data subtype).
    pub const DATA_UNDEFINED: u8 = 0x06;
    /// data: ESPHTTPD.
    pub const DATA_ESPHTTPD: u8 = 0x80;
    /// data: FAT.
    pub const DATA_FAT: u8 = 0x81;
    /// data: SPIFFS.
    pub const DATA_SPIFFS: u8 = 0x82;
    /// data: LittleFS.
    pub const DATA_LITTLEFS: u8 = 0x83;
    /// at_customize (type 0x40): ESP-AT's secondary-table container.
    pub const AT_CUSTOMIZE: u8 = 0x00;
}

/// A 16-byte, NUL-padded partition label.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Label(pub [u8; 16]);

impl Label {
    /// A label from a name of at most 16 bytes (`None` if longer or containing NUL).
    pub fn new(name: &str) -> Option<Label> {
        let b = name.as_bytes();
        if b.len() > 16 || b.contains(&0) {
            return None;
        }
        let mut l = [0u8; 16];
        l[..b.len()].copy_from_slice(b);
        Some(Label(l))
    }

    /// The bytes before the first NUL.
    pub fn as_bytes(&self) -> &[u8] {
        let n = self.0.iter().position(|&c| c == 0).unwrap_or(16);
        &self.0[..n]
    }

    /// The label as text, if it is UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        core::str::from_utf8(self.as_bytes()).ok()
    }

    /// Whether the label equals `name` (compared like ESP-IDF's `strncmp(label, name, 16)`).
    pub fn matches(&self, name: &str) -> bool {
        self.as_bytes() == name.as_bytes()
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &c in self.as_bytes() {
            if c.is_ascii_graphic() || c == b' ' {
                fmt::Write::write_char(f, c as char)?;
            } else {
                write!(f, "\\x{c:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Label {
    /// As text (non-printable bytes escaped as `\xNN`).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Partition flags (the last u32 of an entry).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Flags(pub u32);

impl Flags {
    /// Bit 0: the chip decrypts this partition on read when flash encryption is on.
    pub const ENCRYPTED: u32 = 1 << 0;
    /// Bit 1: ESP-IDF refuses writes through the partition API.
    pub const READONLY: u32 = 1 << 1;

    /// Whether the `encrypted` flag is set.
    pub const fn encrypted(self) -> bool {
        self.0 & Self::ENCRYPTED != 0
    }

    /// Whether the `readonly` flag is set.
    pub const fn readonly(self) -> bool {
        self.0 & Self::READONLY != 0
    }
}

/// One partition of a table.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PartitionEntry {
    /// Type code, see [`types`].
    pub ty: u8,
    /// Subtype code, see [`subtypes`].
    pub subtype: u8,
    /// Absolute flash address of the first byte.
    pub offset: u32,
    /// Size in bytes.
    pub size: u32,
    /// Label.
    pub label: Label,
    /// Flags.
    pub flags: Flags,
}

impl PartitionEntry {
    /// Decode a slot that carries [`ENTRY_MAGIC`] (the magic itself is not checked here).
    pub fn from_slot(slot: &[u8; ENTRY_LEN]) -> PartitionEntry {
        let u32_at = |i: usize| u32::from_le_bytes([slot[i], slot[i + 1], slot[i + 2], slot[i + 3]]);
        let mut label = [0u8; 16];
        label.copy_from_slice(&slot[12..28]);
        PartitionEntry {
            ty: slot[2],
            subtype: slot[3],
            offset: u32_at(4),
            size: u32_at(8),
            label: Label(label),
            flags: Flags(u32_at(28)),
        }
    }

    /// Encode as a 32-byte slot with [`ENTRY_MAGIC`].
    pub fn to_slot(&self) -> [u8; ENTRY_LEN] {
        let mut s = [0u8; ENTRY_LEN];
        s[0..2].copy_from_slice(&ENTRY_MAGIC);
        s[2] = self.ty;
        s[3] = self.subtype;
        s[4..8].copy_from_slice(&self.offset.to_le_bytes());
        s[8..12].copy_from_slice(&self.size.to_le_bytes());
        s[12..28].copy_from_slice(&self.label.0);
        s[28..32].copy_from_slice(&self.flags.0.to_le_bytes());
        s
    }

    /// One past the last byte, widened so that it cannot overflow.
    pub const fn end(&self) -> u64 {
        self.offset as u64 + self.size as u64
    }

    /// Whether `self` and `other` share at least one byte.
    pub const fn overlaps(&self, other: &PartitionEntry) -> bool {
        (self.offset as u64) < other.end() && (other.offset as u64) < self.end()
    }

    /// Whether the chip decrypts reads of this partition, given whether flash encryption is on.
    ///
    /// ESP-IDF `esp_partition` (`load_partitions`): a partition is read decrypted if it is flagged
    /// `encrypted`, and — with flash encryption on — always if it is an app, OTA data or
    /// `nvs_keys`. (The bootloader and partition-table types of v5.3+ tables are encrypted too.)
    pub const fn read_decrypted(&self, flash_encryption_on: bool) -> bool {
        if !flash_encryption_on {
            return false;
        }
        self.flags.encrypted()
            || self.ty == types::APP
            || self.ty == types::BOOTLOADER
            || self.ty == types::PARTITION_TABLE
            || (self.ty == types::DATA
                && (self.subtype == subtypes::DATA_OTA || self.subtype == subtypes::DATA_NVS_KEYS))
    }

    /// `type/subtype` in the CSV spelling where one exists (`data/nvs`, `app/ota_0`, `0x40/0x00`).
    pub fn kind(&self) -> Kind {
        Kind { ty: self.ty, subtype: self.subtype }
    }
}

/// Displays a type/subtype pair the way a CSV would spell it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Kind {
    /// Type code.
    pub ty: u8,
    /// Subtype code.
    pub subtype: u8,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ty = match self.ty {
            types::APP => Some("app"),
            types::DATA => Some("data"),
            types::BOOTLOADER => Some("bootloader"),
            types::PARTITION_TABLE => Some("partition_table"),
            _ => None,
        };
        match ty {
            Some(t) => f.write_str(t)?,
            None => write!(f, "0x{:02x}", self.ty)?,
        }
        f.write_str("/")?;
        match crate::csv::subtype_name(self.ty, self.subtype) {
            Some(s) => f.write_str(s),
            None if self.ty == types::APP && (0x10..0x20).contains(&self.subtype) => {
                write!(f, "ota_{}", self.subtype - 0x10)
            }
            None => write!(f, "0x{:02x}", self.subtype),
        }
    }
}

/// Whether a table carried an MD5 slot.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Md5Status {
    /// An MD5 slot was present and matched.
    Verified,
    /// No MD5 slot (tables made with `--disable-md5sum`; the bootloader accepts them).
    Absent,
}

/// Why bytes are not a valid partition table.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(rename_all = "snake_case"))]
pub enum TableError {
    /// Fewer bytes than one slot.
    TooShort {
        /// Bytes given.
        len: usize,
    },
    /// Slot `entry` has a magic that is neither a partition, an MD5 slot nor the end marker.
    /// For slot 0 of a table written with flash encryption and read plain, this is random.
    BadMagic {
        /// Slot index (0-based).
        entry: usize,
        /// The two magic bytes as stored.
        magic: [u8; 2],
    },
    /// The MD5 slot at `entry` does not match the slots before it.
    Md5Mismatch {
        /// Slot index of the MD5 slot.
        entry: usize,
    },
    /// A second MD5 slot (the bootloader allows one).
    DuplicateMd5 {
        /// Slot index of the second MD5 slot.
        entry: usize,
    },
    /// No end marker within the table.
    NoEndMarker,
    /// Partition `entry` extends past the end of the flash.
    OutOfFlash {
        /// Slot index.
        entry: usize,
        /// Its offset.
        offset: u32,
        /// Its size.
        size: u32,
        /// Flash size it was checked against.
        flash_size: u32,
    },
    /// Partitions `first` and `second` overlap.
    Overlap {
        /// Slot index of the earlier partition.
        first: usize,
        /// Slot index of the later partition.
        second: usize,
    },
    /// Too many partitions to fit one table (emit only).
    TooManyEntries {
        /// Partitions given.
        count: usize,
    },
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TableError::TooShort { len } => write!(f, "partition table too short ({len} bytes)"),
            TableError::BadMagic { entry, magic } => write!(
                f,
                "entry {entry}: bad magic {:02x} {:02x} (expected aa 50, eb eb or ff ff)",
                magic[0], magic[1]
            ),
            TableError::Md5Mismatch { entry } => write!(f, "entry {entry}: MD5 checksum does not match"),
            TableError::DuplicateMd5 { entry } => write!(f, "entry {entry}: second MD5 entry"),
            TableError::NoEndMarker => f.write_str("no end-of-table marker"),
            TableError::OutOfFlash { entry, offset, size, flash_size } => write!(
                f,
                "entry {entry}: offset 0x{offset:x} size 0x{size:x} exceeds flash size 0x{flash_size:x}"
            ),
            TableError::Overlap { first, second } => write!(f, "entries {first} and {second} overlap"),
            TableError::TooManyEntries { count } => {
                write!(f, "{count} partitions do not fit one table")
            }
        }
    }
}

impl core::error::Error for TableError {}

/// A parsed, checked partition table.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PartitionTable {
    entries: Vec<PartitionEntry>,
    md5: Md5Status,
}

impl PartitionTable {
    /// A table of `entries`, checked for count and overlaps (its MD5 status is `Absent` until
    /// it is emitted and parsed again).
    pub fn new(entries: Vec<PartitionEntry>) -> Result<PartitionTable, TableError> {
        // One slot must stay for the end marker.
        if entries.len() > MAX_SLOTS - 1 {
            return Err(TableError::TooManyEntries { count: entries.len() });
        }
        check_overlaps(&entries)?;
        Ok(PartitionTable { entries, md5: Md5Status::Absent })
    }

    /// A table of entries the crate itself defines (known not to overlap).
    pub(crate) fn from_trusted(entries: Vec<PartitionEntry>) -> PartitionTable {
        PartitionTable { entries, md5: Md5Status::Absent }
    }

    /// Parse a binary table (normally [`TABLE_LEN`] bytes; a shorter slice is read up to its
    /// last whole slot). With `flash_size`, every partition must lie inside the flash.
    ///
    /// All-`FF` input parses as an empty table: that is an erased table, which a caller
    /// looking for a partition will report as "not found".
    pub fn parse(bytes: &[u8], flash_size: Option<u32>) -> Result<PartitionTable, TableError> {
        if bytes.len() < ENTRY_LEN {
            return Err(TableError::TooShort { len: bytes.len() });
        }
        let mut entries = Vec::new();
        let mut md5 = Md5::new();
        let mut md5_status = Md5Status::Absent;
        let mut ended = false;
        for (i, chunk) in bytes.chunks_exact(ENTRY_LEN).take(MAX_SLOTS).enumerate() {
            let mut slot = [0u8; ENTRY_LEN];
            slot.copy_from_slice(chunk);
            match [slot[0], slot[1]] {
                ENTRY_MAGIC => {
                    let e = PartitionEntry::from_slot(&slot);
                    if let Some(fs) = flash_size
                        && e.end() > fs as u64
                    {
                        return Err(TableError::OutOfFlash {
                            entry: i,
                            offset: e.offset,
                            size: e.size,
                            flash_size: fs,
                        });
                    }
                    md5.update(slot);
                    entries.push(e);
                }
                MD5_MAGIC => {
                    if md5_status == Md5Status::Verified {
                        return Err(TableError::DuplicateMd5 { entry: i });
                    }
                    let digest: [u8; 16] = md5.clone().finalize().into();
                    if slot[16..] != digest {
                        return Err(TableError::Md5Mismatch { entry: i });
                    }
                    md5_status = Md5Status::Verified;
                }
                [0xFF, 0xFF] if slot[2] == 0xFF && slot[3] == 0xFF => {
                    ended = true;
                    break;
                }
                magic => return Err(TableError::BadMagic { entry: i, magic }),
            }
        }
        if !ended {
            return Err(TableError::NoEndMarker);
        }
        check_overlaps(&entries)?;
        Ok(PartitionTable { entries, md5: md5_status })
    }

    /// Emit the [`TABLE_LEN`]-byte binary, exactly as `gen_esp32part.py` does: entries, then
    /// (if `with_md5`) the MD5 slot, then `FF` padding.
    pub fn to_bytes(&self, with_md5: bool) -> Result<[u8; TABLE_LEN], TableError> {
        let slots = self.entries.len() + usize::from(with_md5);
        // gen_esp32part requires len(result) < MAX_PARTITION_LENGTH: one slot stays FF.
        if slots >= MAX_SLOTS {
            return Err(TableError::TooManyEntries { count: self.entries.len() });
        }
        let mut out = [0xFFu8; TABLE_LEN];
        let mut md5 = Md5::new();
        for (i, e) in self.entries.iter().enumerate() {
            let s = e.to_slot();
            md5.update(s);
            out[i * ENTRY_LEN..(i + 1) * ENTRY_LEN].copy_from_slice(&s);
        }
        if with_md5 {
            let at = self.entries.len() * ENTRY_LEN;
            out[at..at + 2].copy_from_slice(&MD5_MAGIC);
            let digest: [u8; 16] = md5.finalize().into();
            out[at + 16..at + 32].copy_from_slice(&digest);
        }
        Ok(out)
    }

    /// The partitions, in table order.
    pub fn entries(&self) -> &[PartitionEntry] {
        &self.entries
    }

    /// Whether an MD5 slot was checked.
    pub fn md5(&self) -> Md5Status {
        self.md5
    }

    /// The first partition of `ty`/`subtype` whose label is `label` (any label if `None`),
    /// like `esp_partition_find_first(type, subtype, label)`.
    pub fn find(&self, ty: u8, subtype: u8, label: Option<&str>) -> Option<&PartitionEntry> {
        self.entries
            .iter()
            .find(|e| e.ty == ty && e.subtype == subtype && label.is_none_or(|l| e.label.matches(l)))
    }

    /// The first partition labelled `label`.
    pub fn find_by_label(&self, label: &str) -> Option<&PartitionEntry> {
        self.entries.iter().find(|e| e.label.matches(label))
    }
}

fn check_overlaps(entries: &[PartitionEntry]) -> Result<(), TableError> {
    for (i, a) in entries.iter().enumerate() {
        for (j, b) in entries.iter().enumerate().skip(i + 1) {
            if a.overlaps(b) {
                return Err(TableError::Overlap { first: i, second: j });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(label: &str, ty: u8, st: u8, off: u32, size: u32) -> PartitionEntry {
        PartitionEntry {
            ty,
            subtype: st,
            offset: off,
            size,
            label: Label::new(label).unwrap(),
            flags: Flags(0),
        }
    }

    #[test]
    fn emit_parse_round_trip_with_and_without_md5() {
        let t = PartitionTable::new(alloc::vec![
            entry("nvs", 1, 2, 0x9000, 0x6000),
            entry("factory", 0, 0, 0x10000, 0x100000),
        ])
        .unwrap();
        for md5 in [true, false] {
            let b = t.to_bytes(md5).unwrap();
            let p = PartitionTable::parse(&b, Some(0x40_0000)).unwrap();
            assert_eq!(p.entries(), t.entries());
            assert_eq!(p.md5(), if md5 { Md5Status::Verified } else { Md5Status::Absent });
        }
    }

    #[test]
    fn precise_errors() {
        let t = PartitionTable::new(alloc::vec![
            entry("a", 1, 2, 0x9000, 0x1000),
            entry("b", 1, 2, 0xA000, 0x1000)
        ])
        .unwrap();
        let good = t.to_bytes(true).unwrap();

        let mut b = good;
        b[32] = 0x12;
        assert_eq!(
            PartitionTable::parse(&b, None),
            Err(TableError::BadMagic { entry: 1, magic: [0x12, 0x50] })
        );

        let mut b = good;
        b[4] ^= 1; // change entry 0's offset: MD5 no longer matches
        assert_eq!(PartitionTable::parse(&b, None), Err(TableError::Md5Mismatch { entry: 2 }));

        let mut b = good;
        b.copy_within(64..96, 96); // a second MD5 slot
        assert_eq!(PartitionTable::parse(&b, None), Err(TableError::DuplicateMd5 { entry: 3 }));

        assert!(matches!(
            PartitionTable::parse(&good, Some(0xA800)),
            Err(TableError::OutOfFlash { entry: 1, offset: 0xA000, size: 0x1000, flash_size: 0xA800 })
        ));

        let ov = [entry("a", 1, 2, 0x9000, 0x2000).to_slot(), entry("b", 1, 2, 0xA000, 0x1000).to_slot()];
        let mut b = [0xFFu8; TABLE_LEN];
        b[..32].copy_from_slice(&ov[0]);
        b[32..64].copy_from_slice(&ov[1]);
        assert_eq!(PartitionTable::parse(&b, None), Err(TableError::Overlap { first: 0, second: 1 }));

        let full = [0xAAu8, 0x50].repeat(TABLE_LEN / 2);
        // every slot is a partition at offset 0x50aa50aa with size 0x50aa50aa: they overlap, but
        // the missing end marker is found first.
        assert_eq!(PartitionTable::parse(&full, None), Err(TableError::NoEndMarker));
        assert_eq!(PartitionTable::parse(&[0xAA; 31], None), Err(TableError::TooShort { len: 31 }));
    }

    #[test]
    fn erased_table_is_empty() {
        let t = PartitionTable::parse(&[0xFF; TABLE_LEN], None).unwrap();
        assert!(t.entries().is_empty());
        assert_eq!(t.md5(), Md5Status::Absent);
    }

    #[test]
    fn too_many_entries_refused() {
        let es =
            |n: u32| -> Vec<_> { (0..n).map(|i| entry("p", 1, 2, 0x10000 + i * 0x1000, 0x1000)).collect() };
        let t = PartitionTable::new(es(95)).unwrap();
        let b = t.to_bytes(false).unwrap();
        assert_eq!(PartitionTable::parse(&b, None).unwrap().entries().len(), 95);
        assert_eq!(t.to_bytes(true), Err(TableError::TooManyEntries { count: 95 }));
        assert!(PartitionTable::new(es(94)).unwrap().to_bytes(true).is_ok());
        assert_eq!(PartitionTable::new(es(96)), Err(TableError::TooManyEntries { count: 96 }));
    }

    #[test]
    fn read_decrypted_rule() {
        let nvs = entry("mfg_nvs", 1, 2, 0x1F000, 0x1F000);
        assert!(!nvs.read_decrypted(true));
        let mut flagged = nvs;
        flagged.flags = Flags(Flags::ENCRYPTED);
        assert!(flagged.read_decrypted(true));
        assert!(!flagged.read_decrypted(false));
        assert!(entry("ota_0", 0, 0x10, 0x60000, 0x1000).read_decrypted(true));
        assert!(entry("otadata", 1, 0, 0xd000, 0x2000).read_decrypted(true));
        assert!(!entry("at_customize", 0x40, 0, 0x1E000, 0x42000).read_decrypted(true));
    }

    #[test]
    fn kind_and_label_display() {
        assert_eq!(alloc::format!("{}", entry("x", 1, 2, 0, 0).kind()), "data/nvs");
        assert_eq!(alloc::format!("{}", entry("x", 0, 0x13, 0, 0).kind()), "app/ota_3");
        assert_eq!(alloc::format!("{}", entry("x", 0x40, 0, 0, 0).kind()), "0x40/0x00");
        assert_eq!(alloc::format!("{}", Label(*b"ab\x01\0\0\0\0\0\0\0\0\0\0\0\0\0")), "ab\\x01");
        assert!(Label::new("seventeen_chars__").is_none());
        assert!(Label::new("sixteen_chars___").unwrap().matches("sixteen_chars___"));
    }
}
