//! The CSV form of a partition table, read the way ESP-IDF's `gen_esp32part.py` reads it.
//!
//! ```text
//! # Name, Type, SubType, Offset, Size, Flags
//! nvs,      data, nvs,     0x9000,  0x6000,
//! factory,  app,  factory, ,        1M,
//! mfg_nvs,  data, nvs,     0x1f000, 124K, encrypted:readonly
//! ```
//!
//! * Blank lines and lines starting with `#` are skipped; fields are comma-separated and trimmed.
//! * Type: `app`, `data`, `bootloader`, `partition_table` or a number (`0x40`).
//! * Subtype: a keyword of the type (`nvs`, `ota_0`, ...) or a number; empty means `undefined`
//!   (0x06) for non-app types and is an error for apps.
//! * Numbers: `int(x, 0)` syntax (`0x..`, `0o..`, `0b..`, decimal) with an optional `K`/`M`
//!   suffix (×1024, ×1024²).
//! * An empty offset is placed after the previous partition (initially after the table at
//!   `table_offset + 0x1000`), aligned to 0x10000 for apps and 0x1000 otherwise.
//! * Flags: `encrypted`, `readonly`, separated by `:`.
//!
//! Not supported (rarely seen in ESP-AT tables): `$ENV` expansion, negative sizes, and the
//! `--secure` alignment rules.

use crate::table::{Flags, Label, PartitionEntry, PartitionTable, subtypes, types};
use alloc::vec::Vec;
use core::fmt;

/// What is wrong with a CSV table.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CsvErrorKind {
    /// Fewer than the five required fields (name, type, subtype, offset, size).
    MissingFields,
    /// A name is empty or longer than 16 bytes.
    BadName,
    /// The type is neither a keyword nor a number in 0..=0xFF.
    BadType,
    /// The subtype is not a keyword of this type, nor a number in 0..=0xFF.
    BadSubtype,
    /// An offset or size is not a number, or overflows 32 bits.
    BadNumber,
    /// The size field is empty.
    MissingSize,
    /// A flag other than `encrypted` / `readonly`.
    UnknownFlag,
    /// The offset is before the end of the previous partition (or the table).
    Overlap,
    /// The offset is not aligned (0x10000 for apps, 0x1000 otherwise).
    Misaligned,
    /// Two partitions share a name.
    DuplicateName,
    /// More partitions than one table holds.
    TooMany,
}

/// A CSV error with the 1-based line it was found on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CsvError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub kind: CsvErrorKind,
}

impl fmt::Display for CsvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            CsvErrorKind::MissingFields => "expected name, type, subtype, offset, size[, flags]",
            CsvErrorKind::BadName => "partition name must be 1..=16 bytes",
            CsvErrorKind::BadType => "unknown partition type",
            CsvErrorKind::BadSubtype => "unknown partition subtype",
            CsvErrorKind::BadNumber => "invalid number",
            CsvErrorKind::MissingSize => "size field can't be empty",
            CsvErrorKind::UnknownFlag => "unknown flag (expected encrypted, readonly)",
            CsvErrorKind::Overlap => "partition overlaps the previous partition or the table",
            CsvErrorKind::Misaligned => "offset not aligned (0x10000 for app, 0x1000 otherwise)",
            CsvErrorKind::DuplicateName => "duplicate partition name",
            CsvErrorKind::TooMany => "too many partitions for one table",
        };
        write!(f, "partition CSV line {}: {what}", self.line)
    }
}

impl core::error::Error for CsvError {}

const TYPE_NAMES: &[(&str, u8)] = &[
    ("app", types::APP),
    ("data", types::DATA),
    ("bootloader", types::BOOTLOADER),
    ("partition_table", types::PARTITION_TABLE),
];

const APP_SUBTYPES: &[(&str, u8)] = &[
    ("factory", subtypes::APP_FACTORY),
    ("test", subtypes::APP_TEST),
    ("ota_0", 0x10),
    ("ota_1", 0x11),
    ("ota_2", 0x12),
    ("ota_3", 0x13),
    ("ota_4", 0x14),
    ("ota_5", 0x15),
    ("ota_6", 0x16),
    ("ota_7", 0x17),
    ("ota_8", 0x18),
    ("ota_9", 0x19),
    ("ota_10", 0x1a),
    ("ota_11", 0x1b),
    ("ota_12", 0x1c),
    ("ota_13", 0x1d),
    ("ota_14", 0x1e),
    ("ota_15", 0x1f),
];

const DATA_SUBTYPES: &[(&str, u8)] = &[
    ("ota", subtypes::DATA_OTA),
    ("phy", subtypes::DATA_PHY),
    ("nvs", subtypes::DATA_NVS),
    ("coredump", subtypes::DATA_COREDUMP),
    ("nvs_keys", subtypes::DATA_NVS_KEYS),
    ("efuse", subtypes::DATA_EFUSE),
    ("undefined", subtypes::DATA_UNDEFINED),
    ("esphttpd", subtypes::DATA_ESPHTTPD),
    ("fat", subtypes::DATA_FAT),
    ("spiffs", subtypes::DATA_SPIFFS),
    ("littlefs", subtypes::DATA_LITTLEFS),
];

const BOOTLOADER_SUBTYPES: &[(&str, u8)] = &[("primary", 0), ("ota", 1), ("recovery", 2)];
const TABLE_SUBTYPES: &[(&str, u8)] = &[("primary", 0), ("ota", 1)];

fn subtype_keywords(ty: u8) -> &'static [(&'static str, u8)] {
    match ty {
        types::APP => APP_SUBTYPES,
        types::DATA => DATA_SUBTYPES,
        types::BOOTLOADER => BOOTLOADER_SUBTYPES,
        types::PARTITION_TABLE => TABLE_SUBTYPES,
        _ => &[],
    }
}

/// The CSV keyword of a subtype, if it has one (`data`/2 → `nvs`).
pub fn subtype_name(ty: u8, subtype: u8) -> Option<&'static str> {
    subtype_keywords(ty).iter().find(|(_, v)| *v == subtype).map(|(n, _)| *n)
}

/// Python's `int(s, 0)` for non-negative values, plus `gen_esp32part`'s `K`/`M` suffixes.
pub fn parse_number(s: &str) -> Option<u32> {
    let s = s.trim();
    let lower_last = s.as_bytes().last().map(u8::to_ascii_lowercase);
    let (body, mul) = match lower_last {
        Some(b'k') => (&s[..s.len() - 1], 1024u64),
        Some(b'm') => (&s[..s.len() - 1], 1024 * 1024),
        _ => (s, 1),
    };
    let body = body.trim();
    let (digits, radix) = match body.get(..2).map(|p| p.to_ascii_lowercase()) {
        Some(ref p) if p == "0x" => (&body[2..], 16),
        Some(ref p) if p == "0o" => (&body[2..], 8),
        Some(ref p) if p == "0b" => (&body[2..], 2),
        _ => (body, 10),
    };
    // Python allows '_' between digits; leading zeros in decimal are an error in int(x, 0)
    // except for "0" itself.
    if digits.is_empty() || digits.starts_with('_') || digits.ends_with('_') {
        return None;
    }
    if radix == 10 && digits.len() > 1 && digits.starts_with('0') && digits.bytes().any(|c| c != b'0') {
        return None;
    }
    let mut v: u64 = 0;
    for c in digits.bytes().filter(|&c| c != b'_') {
        let d = (c as char).to_digit(radix)? as u64;
        v = v.checked_mul(radix as u64)?.checked_add(d)?;
        if v > u32::MAX as u64 {
            return None;
        }
    }
    u32::try_from(v.checked_mul(mul)?).ok()
}

fn parse_code(s: &str, keywords: &[(&str, u8)]) -> Option<u8> {
    if let Some(v) = parse_number(s) {
        return u8::try_from(v).ok();
    }
    keywords.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)).map(|(_, v)| *v)
}

fn alignment(ty: u8) -> u32 {
    if ty == types::APP { 0x10000 } else { 0x1000 }
}

/// Parse a CSV table. `table_offset` is where the table itself lives (0x8000 for the primary
/// table): auto-placed partitions start after `table_offset + 0x1000`.
pub fn parse_csv(text: &str, table_offset: u32) -> Result<PartitionTable, CsvError> {
    let mut entries: Vec<PartitionEntry> = Vec::new();
    let mut last_end: u64 = table_offset as u64 + 0x1000;
    for (idx, raw) in text.lines().enumerate() {
        let line = idx + 1;
        let err = |kind| CsvError { line, kind };
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = l.split(',').map(str::trim).collect();
        if fields.len() < 5 {
            return Err(err(CsvErrorKind::MissingFields));
        }
        let label =
            Label::new(fields[0]).filter(|_| !fields[0].is_empty()).ok_or(err(CsvErrorKind::BadName))?;
        let ty = parse_code(fields[1], TYPE_NAMES).ok_or(err(CsvErrorKind::BadType))?;
        let subtype = if fields[2].is_empty() {
            if ty == types::APP {
                return Err(err(CsvErrorKind::BadSubtype));
            }
            subtypes::DATA_UNDEFINED
        } else {
            parse_code(fields[2], subtype_keywords(ty)).ok_or(err(CsvErrorKind::BadSubtype))?
        };
        let offset = if fields[3].is_empty() {
            None
        } else {
            Some(parse_number(fields[3]).ok_or(err(CsvErrorKind::BadNumber))?)
        };
        if fields[4].is_empty() {
            return Err(err(CsvErrorKind::MissingSize));
        }
        let size = parse_number(fields[4]).ok_or(err(CsvErrorKind::BadNumber))?;
        let mut flags = 0u32;
        for f in fields.get(5..).unwrap_or(&[]).iter().flat_map(|f| f.split(':')).map(str::trim) {
            flags |= match f {
                "" => 0,
                "encrypted" => Flags::ENCRYPTED,
                "readonly" => Flags::READONLY,
                _ => return Err(err(CsvErrorKind::UnknownFlag)),
            };
        }
        let offset = match offset {
            Some(o) if (o as u64) < last_end => return Err(err(CsvErrorKind::Overlap)),
            Some(o) => o,
            None => {
                let a = alignment(ty) as u64;
                let placed = last_end.div_ceil(a) * a;
                u32::try_from(placed).map_err(|_| err(CsvErrorKind::BadNumber))?
            }
        };
        if !offset.is_multiple_of(alignment(ty)) {
            return Err(err(CsvErrorKind::Misaligned));
        }
        if entries.iter().any(|e| e.label == label) {
            return Err(err(CsvErrorKind::DuplicateName));
        }
        let e = PartitionEntry { ty, subtype, offset, size, label, flags: Flags(flags) };
        last_end = e.end();
        entries.push(e);
    }
    // Offsets only grow (checked above), so the only way `new` can fail is the entry count.
    let lines = text.lines().count();
    PartitionTable::new(entries).map_err(|_| CsvError { line: lines, kind: CsvErrorKind::TooMany })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_like_python_int0_with_suffixes() {
        assert_eq!(parse_number("0x1f000"), Some(0x1f000));
        assert_eq!(parse_number("124K"), Some(124 * 1024));
        assert_eq!(parse_number("1M"), Some(0x100000));
        assert_eq!(parse_number("0x10k"), Some(0x4000));
        assert_eq!(parse_number("4096"), Some(4096));
        assert_eq!(parse_number("0"), Some(0));
        assert_eq!(parse_number("0b101"), Some(5));
        assert_eq!(parse_number("1_000"), Some(1000));
        assert_eq!(parse_number("010"), None);
        assert_eq!(parse_number("0x"), None);
        assert_eq!(parse_number("8M"), Some(8 << 20));
        assert_eq!(parse_number("4096M"), None);
        assert_eq!(parse_number("0x100000000"), None);
        assert_eq!(parse_number("nvs"), None);
        assert_eq!(parse_number("K"), None);
    }

    #[test]
    fn auto_placement_and_keywords() {
        let t = parse_csv(
            "# Name, Type, SubType, Offset, Size, Flags\n\
             nvs,      data, nvs,     ,  0x6000,\n\
             phy_init, data, phy,     ,  0x1000,\n\
             factory,  app,  factory, ,  1M,\n\
             keys,     data, nvs_keys,,  4K, encrypted\n\
             custom,   0x40, 0,       ,  8K, encrypted:readonly\n\
             blank,    data, ,        ,  4K\n",
            0x8000,
        )
        .unwrap();
        let e = t.entries();
        assert_eq!((e[0].offset, e[0].size, e[0].subtype), (0x9000, 0x6000, 2));
        assert_eq!(e[1].offset, 0xF000);
        assert_eq!(e[2].offset, 0x10000);
        assert_eq!(e[3].offset, 0x110000);
        assert!(e[3].flags.encrypted() && !e[3].flags.readonly());
        assert_eq!((e[4].ty, e[4].flags.0), (0x40, 3));
        assert_eq!(e[5].subtype, subtypes::DATA_UNDEFINED);
    }

    #[test]
    fn errors_name_the_line() {
        let bad = |s: &str| parse_csv(s, 0x8000).unwrap_err();
        assert_eq!(
            bad("\nnvs, data, nvs, 0x9000\n"),
            CsvError { line: 2, kind: CsvErrorKind::MissingFields }
        );
        assert_eq!(bad("x, blob, nvs, 0x9000, 4K").kind, CsvErrorKind::BadType);
        assert_eq!(bad("x, data, nope, 0x9000, 4K").kind, CsvErrorKind::BadSubtype);
        assert_eq!(bad("x, app, , 0x10000, 4K").kind, CsvErrorKind::BadSubtype);
        assert_eq!(bad("x, data, nvs, 0x9000, ").kind, CsvErrorKind::MissingSize);
        assert_eq!(bad("x, data, nvs, 0x9000, 4Q").kind, CsvErrorKind::BadNumber);
        assert_eq!(bad("x, data, nvs, 0x9000, 4K, secret").kind, CsvErrorKind::UnknownFlag);
        assert_eq!(bad("x, data, nvs, 0x8000, 4K").kind, CsvErrorKind::Overlap);
        assert_eq!(bad("x, data, nvs, 0x9800, 4K").kind, CsvErrorKind::Misaligned);
        assert_eq!(bad("x, app, factory, 0x11000, 4K").kind, CsvErrorKind::Misaligned);
        assert_eq!(bad("x, data, nvs, , 4K\nx, data, nvs, , 4K").kind, CsvErrorKind::DuplicateName);
        assert_eq!(bad("seventeen_chars__, data, nvs, , 4K").kind, CsvErrorKind::BadName);
        assert_eq!(bad(", data, nvs, , 4K").kind, CsvErrorKind::BadName);
    }
}
