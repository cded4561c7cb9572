//! The vocabulary of the reports: classification strings (stable, documented in the README),
//! and the JSON forms of `at_nvs`'s numbers and `at_hal`'s `Unreadable` causes.

use at_flash::diagnose::{Finding, NvsKeysStatus};
use at_hal::kv::Unreadable;
use at_nvs::{Classification, Verdict};
use serde_json::{Value as Json, json};

/// What a partition (image) holds, as one of the documented classification strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// All `0xFF`.
    Blank,
    /// Plain NVS: entries check out as stored.
    Plain,
    /// NVS-encrypted, and the given NVS keys decrypt it.
    NvsEncrypted,
    /// NVS-encrypted, no NVS keys given.
    NvsKeysMissing,
    /// NVS-encrypted, the given NVS keys do not decrypt it.
    NvsKeysWrong,
    /// NVS pages of a newer format version.
    NvsNewerVersion,
    /// Flash-encryption ciphertext where the reader reads plain (key-less rule, or confirmed by
    /// decrypting with the key).
    FlashEncrypted,
    /// Ciphertext-like, and decrypting with the given key (at the given offset) gives nothing
    /// sensible: wrong key or wrong offset.
    FlashEncryptedKeyMismatch,
    /// Neither blank, NVS, nor ciphertext.
    Garbage,
    /// (dump) Not examined: app images.
    NotInspected,
    /// (dump) A non-NVS data partition with content.
    Data,
    /// (dump) The chip decrypts this partition and it holds ciphertext, as it should.
    EncryptedAsExpected,
    /// (dump) Plaintext in a partition the chip decrypts (the opposite mistake).
    PlainReadDecrypted,
    /// (dump) The partition extends past the end of the dump.
    OutsideFlash,
    /// (dump, `at_customize`) ESP-AT's secondary table reads fine.
    SecondaryTable,
    /// (dump, `at_customize`) ESP-AT's secondary table is erased.
    SecondaryTableBlank,
    /// (dump, `at_customize`) ESP-AT's secondary table cannot be read as ESP-AT reads it.
    SecondaryTableUnreadable,
    /// (image) A partition table (stored plain, or flash-encrypted and decrypted with the key).
    PartitionTable,
}

impl Class {
    /// Every classification, in the README's order.
    #[cfg(test)]
    pub const ALL: [Class; 18] = [
        Class::Blank,
        Class::Plain,
        Class::NvsEncrypted,
        Class::NvsKeysMissing,
        Class::NvsKeysWrong,
        Class::NvsNewerVersion,
        Class::FlashEncrypted,
        Class::FlashEncryptedKeyMismatch,
        Class::Garbage,
        Class::NotInspected,
        Class::Data,
        Class::EncryptedAsExpected,
        Class::PlainReadDecrypted,
        Class::OutsideFlash,
        Class::SecondaryTable,
        Class::SecondaryTableBlank,
        Class::SecondaryTableUnreadable,
        Class::PartitionTable,
    ];

    /// The classification string (JSON `classification`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Class::Blank => "blank",
            Class::Plain => "plain",
            Class::NvsEncrypted => "nvs-encrypted",
            Class::NvsKeysMissing => "nvs-encrypted (keys missing)",
            Class::NvsKeysWrong => "nvs-encrypted (wrong keys)",
            Class::NvsNewerVersion => "nvs-newer-version",
            Class::FlashEncrypted => "flash-encrypted",
            Class::FlashEncryptedKeyMismatch => "flash-encrypted (key or offset wrong)",
            Class::Garbage => "garbage",
            Class::NotInspected => "not-inspected",
            Class::Data => "data",
            Class::EncryptedAsExpected => "encrypted-as-expected",
            Class::PlainReadDecrypted => "plain-but-read-decrypted",
            Class::OutsideFlash => "outside-flash",
            Class::SecondaryTable => "secondary-table",
            Class::SecondaryTableBlank => "secondary-table-blank",
            Class::SecondaryTableUnreadable => "secondary-table-unreadable",
            Class::PartitionTable => "partition-table",
        }
    }

    /// From `at_nvs::classify`'s verdict on a partition image.
    pub const fn from_verdict(v: Verdict) -> Class {
        match v {
            Verdict::Blank => Class::Blank,
            Verdict::PlainNvs => Class::Plain,
            Verdict::NvsEncrypted { keys_ok: None } => Class::NvsKeysMissing,
            Verdict::NvsEncrypted { keys_ok: Some(false) } => Class::NvsKeysWrong,
            Verdict::NvsEncrypted { keys_ok: Some(true) } => Class::NvsEncrypted,
            Verdict::NvsNewerVersion => Class::NvsNewerVersion,
            Verdict::LooksFlashEncrypted => Class::FlashEncrypted,
            Verdict::Garbage => Class::Garbage,
        }
    }

    /// From `at_flash::diagnose`'s finding on one partition of a dump.
    pub const fn from_finding(f: Finding) -> Class {
        match f {
            Finding::NotInspected => Class::NotInspected,
            Finding::Blank => Class::Blank,
            Finding::Nvs { .. } => Class::Plain,
            Finding::NvsEncrypted { keys: NvsKeysStatus::Missing } => Class::NvsKeysMissing,
            Finding::NvsEncrypted { keys: NvsKeysStatus::Wrong } => Class::NvsKeysWrong,
            Finding::NvsEncrypted { keys: NvsKeysStatus::Ok { .. } } => Class::NvsEncrypted,
            Finding::NvsNewerVersion => Class::NvsNewerVersion,
            Finding::Data => Class::Data,
            Finding::EncryptedAsExpected { .. } => Class::EncryptedAsExpected,
            Finding::WrittenEncryptedReadPlain { .. } => Class::FlashEncrypted,
            Finding::WrittenPlainReadDecrypted => Class::PlainReadDecrypted,
            Finding::OutsideFlash => Class::OutsideFlash,
            Finding::Garbage => Class::Garbage,
        }
    }
}

/// The numbers behind an NVS classification, as JSON.
pub fn numbers_json(c: &Classification) -> Json {
    json!({
        "pages": c.pages,
        "blank_pages": c.blank_pages,
        "valid_headers": c.valid_headers,
        "written_entries": c.written_entries,
        "crc_ok_entries": c.crc_ok_entries,
        "crc_ok_decrypted": c.crc_ok_decrypted,
        // Two decimals: enough to compare with the 7.0 bits/byte ciphertext threshold.
        "entropy": (f64::from(c.entropy) * 100.0).round() / 100.0,
    })
}

/// The numbers behind an NVS classification, in words.
pub fn numbers_human(c: &Classification) -> String {
    let mut s = format!(
        "{} pages: {} blank, {} with a valid NVS page header; {} written entries, {} pass their CRC as stored",
        c.pages, c.blank_pages, c.valid_headers, c.written_entries, c.crc_ok_entries
    );
    if let Some(d) = c.crc_ok_decrypted {
        s.push_str(&format!(", {d} after NVS decryption"));
    }
    s.push_str(&format!("; entropy {:.2} bits/byte", c.entropy));
    s
}

/// `text` word-wrapped to `width` columns: the first line starts with `first`, the others with
/// `rest`. Words longer than a line are kept whole.
pub fn wrap(text: &str, first: &str, rest: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::from(first);
    let mut empty = true;
    for word in text.split_whitespace() {
        if !empty && line.chars().count() + 1 + word.chars().count() > width {
            out.push_str(line.trim_end());
            out.push('\n');
            line = String::from(rest);
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(line.trim_end());
    out.push('\n');
    out
}

/// The `Unreadable` cause as JSON: its name, its message and its remedy.
pub fn unreadable_json(u: Unreadable) -> Json {
    json!({ "kind": format!("{u:?}"), "message": u.to_string(), "remedy": u.remedy() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping() {
        assert_eq!(wrap("a b c", "> ", "  ", 5), "> a b\n  c\n");
        assert_eq!(wrap("averyveryverylongword x", "", "", 4), "averyveryverylongword\nx\n");
        assert_eq!(wrap("", "- ", "", 10), "-\n");
    }

    #[test]
    fn classification_strings_are_distinct_and_documented() {
        let readme = include_str!("../README.md");
        let mut seen = std::collections::BTreeSet::new();
        for c in Class::ALL {
            assert!(seen.insert(c.as_str()), "duplicate {}", c.as_str());
            assert!(readme.contains(&format!("`{}`", c.as_str())), "README lacks `{}`", c.as_str());
        }
    }
}
