//! The human report: what IMAGE is, the classification and the numbers behind it, each
//! problem explained with its cause and fix, and every readable entry. Paragraphs are wrapped
//! at [`WIDTH`] columns.

use std::fmt::Write as _;

use at_flash::Finding;
use at_flash::diagnose::{Diagnosis, FlashEncryption, Problem, TableStatus};
use at_flash::layout;
use at_hal::kv::Unreadable;
use at_nvs::Classification;

use crate::entries;
use crate::report::{
    Body, DumpPartition, DumpReport, EntriesSource, ImageReport, Report, SMALL_CIPHERTEXT,
    SMALL_CIPHERTEXT_DETAIL, TableImage, is_nvs,
};

/// Width of the human report's wrapped paragraphs.
const WIDTH: usize = 100;

/// Why `idf.py encrypted-flash` breaks ESP-AT, and the way out.
const FLASH_ENCRYPTED_WHY: &str = "ESP-AT registers at_customize.bin (its secondary partition table, \
    at the start of at_customize) and mfg_nvs.bin without ALWAYS_PLAINTEXT, so `idf.py encrypted-flash` \
    encrypts them too, yet the firmware reads both as plain. Flash the app with `idf.py \
    encrypted-app-flash` and write those two images in plaintext (development mode), e.g. with the \
    offsets of ESP-AT's ESP32-C3 layout:";

/// The plaintext write of ESP-AT's two customized images.
const FLASH_ENCRYPTED_COMMAND: &str =
    "esptool --chip esp32c3 write-flash 0x1e000 at_customize.bin 0x1f000 mfg_nvs.bin   (no --encrypt)";

/// The human report.
pub fn report(r: &Report) -> String {
    let mut s = String::new();
    match &r.body {
        Body::Image(i) => image(&mut s, r, i),
        Body::Table(t) => table(&mut s, r, t),
        Body::SmallCiphertext => small_ciphertext(&mut s, r),
        Body::Dump(d) => dump(&mut s, r, d),
    }
    s
}

/// The first lines of a partition image's report: what it is, its classification and why.
fn image_head(s: &mut String, r: &Report, class: &str, detail: &str) {
    let _ = writeln!(s, "{}: partition image, {} bytes ({})", r.image, r.size, r.detected_by);
    let _ = writeln!(s);
    let _ = writeln!(s, "classification: {class}");
    s.push_str(&wrap(&format!("{detail}."), "  ", "  ", WIDTH));
}

/// A problem of an image, its fix and, for ciphertext read as plain, how to flash instead.
fn image_problem(s: &mut String, u: Unreadable, how: bool) {
    let _ = writeln!(s);
    let _ = writeln!(s, "problem: {u}");
    s.push_str(&wrap(u.remedy(), "fix: ", "     ", WIDTH));
    if how {
        s.push_str(&wrap(FLASH_ENCRYPTED_WHY, "how: ", "     ", WIDTH));
        let _ = writeln!(s, "     {FLASH_ENCRYPTED_COMMAND}");
    }
}

/// A partition image judged as NVS.
fn image(s: &mut String, r: &Report, i: &ImageReport) {
    image_head(s, r, i.class.as_str(), &i.detail);
    s.push_str(&wrap(&numbers(&i.raw), "  as stored: ", "    ", WIDTH));
    if let Some(d) = &i.decrypted {
        let _ = writeln!(
            s,
            "  decrypted with the flash-encryption key at 0x{:x}: {}",
            d.offset,
            d.class.as_str()
        );
        s.push_str(&wrap(&numbers(&d.nvs), "    ", "    ", WIDTH));
    }
    for n in &i.notes {
        s.push_str(&wrap(n, "  note: ", "        ", WIDTH));
    }
    if let Some(u) = i.problem() {
        image_problem(s, u, u == Unreadable::FlashEncryptedReadAsPlain);
    }
    let _ = writeln!(s);
    match &i.entries {
        Some(list) => {
            let source = if i.decrypted.is_some() {
                " (as decrypted with the key; the device itself reads ciphertext)"
            } else {
                ""
            };
            let _ = writeln!(s, "entries: {}{source}", entries::count_line(list));
            s.push_str(&entries::human_table(list, "  "));
        }
        None => {
            let _ = writeln!(s, "entries: not readable (see above)");
        }
    }
}

/// A partition-table image.
fn table(s: &mut String, r: &Report, t: &TableImage) {
    image_head(s, r, t.class.as_str(), &t.detail);
    if let Some(u) = t.problem {
        image_problem(s, u, true);
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "partition table:");
    let _ = writeln!(s, "  {:<16}  {:<12}  {:>9}  {:>9}  flags", "name", "type/subtype", "offset", "size");
    for e in t.table.entries() {
        let _ = writeln!(
            s,
            "  {:<16}  {:<12}  {:>#9x}  {:>#9x}  {}",
            e.label.to_string(),
            e.kind().to_string(),
            e.offset,
            e.size,
            if e.flags.encrypted() { "encrypted" } else { "" }
        );
    }
}

/// An image smaller than an NVS page that looks like ciphertext.
fn small_ciphertext(s: &mut String, r: &Report) {
    image_head(s, r, SMALL_CIPHERTEXT.as_str(), SMALL_CIPHERTEXT_DETAIL);
    if let Some(u) = SMALL_CIPHERTEXT.unreadable() {
        image_problem(s, u, false);
    }
}

/// A whole-flash dump: the summary, the tables, every problem explained, the NVS entries.
fn dump(s: &mut String, r: &Report, dr: &DumpReport) {
    let d = &dr.diagnosis;
    let _ = writeln!(s, "{}: whole-flash dump, {} KiB ({})", r.image, r.size / 1024, r.detected_by);
    let _ = writeln!(s);
    s.push_str(&wrap(&dr.summary, "", "  ", WIDTH));
    let _ = writeln!(s);
    human_tables(s, d, &dr.partitions);
    if !d.problems.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(s, "Problems and fixes:");
        for (i, p) in d.problems.iter().enumerate() {
            s.push_str(&wrap(&explain(d, p), &format!("  {}. ", i + 1), "     ", WIDTH));
            s.push_str(&wrap(&format!("Fix: {}.", fix(p)), "     ", "       ", WIDTH));
        }
        if d.problems.iter().any(|p| is_encrypted_flash_mistake(d, p)) {
            s.push_str(&wrap(FLASH_ENCRYPTED_WHY, "  How: ", "       ", WIDTH));
            let _ = writeln!(s, "       {FLASH_ENCRYPTED_COMMAND}");
        }
    }
    let nvs: Vec<&DumpPartition> = dr.partitions.iter().filter(|p| is_nvs(&p.report.entry)).collect();
    if !nvs.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(s, "NVS partitions:");
        for p in nvs {
            let e = &p.report.entry;
            let _ = write!(s, "  {} @0x{:x} ({}", e.label, e.offset, p.class.as_str());
            match (&p.entries, &p.entries_note) {
                (Some((list, source)), _) => {
                    let how = if *source == EntriesSource::DecryptedWithKey {
                        ", decrypted with the key; the device itself reads ciphertext"
                    } else {
                        ""
                    };
                    let _ = writeln!(s, "{how}): {}", entries::count_line(list));
                    if !list.is_empty() {
                        s.push_str(&entries::human_table(list, "    "));
                    }
                }
                (None, Some(note)) => {
                    let _ = writeln!(s, "): entries not readable: {note}");
                }
                (None, None) => {
                    let _ = writeln!(s, "): no entries to list");
                }
            }
        }
    }
}

/// The flash/table lines and the partition table of the human dump report.
fn human_tables(s: &mut String, d: &Diagnosis, parts: &[DumpPartition]) {
    let fe = match d.flash_encryption {
        FlashEncryption::Off => "off (primary table stored plain)",
        FlashEncryption::On => "on (primary table stored encrypted)",
        FlashEncryption::Unknown => "unknown (no readable primary table)",
    };
    let key = if d.key_given { "given" } else { "not given" };
    let _ = writeln!(s, "flash encryption: {fe}; flash-encryption key: {key}");
    let _ = writeln!(s, "primary table @0x{:x}: {}", d.primary.offset, d.primary.status);
    if let Some(t) = &d.secondary {
        let _ = writeln!(s, "secondary table (at_customize) @0x{:x}: {}", t.offset, t.status);
    }
    let _ = writeln!(s);
    let w = parts.iter().map(|p| p.report.entry.label.to_string().len() + 1).max().unwrap_or(0).max(9);
    let _ = writeln!(
        s,
        "  {:<w$}  {:<12}  {:>9}  {:>9}  {:<9}  {:<28}  finding",
        "partition", "type/subtype", "offset", "size", "read", "classification"
    );
    for p in parts {
        let e = &p.report.entry;
        let label = format!("{}{}", e.label, if p.report.assumed { "*" } else { "" });
        let _ = writeln!(
            s,
            "  {:<w$}  {:<12}  {:>#9x}  {:>#9x}  {:<9}  {:<28}  {}",
            label,
            e.kind().to_string(),
            e.offset,
            e.size,
            if p.report.read_decrypted { "decrypted" } else { "plain" },
            p.class.as_str(),
            p.finding
        );
    }
    if parts.iter().any(|p| p.report.assumed) {
        let _ = writeln!(
            s,
            "  * location from ESP-AT's ESP32-C3 default table (the real table could not be read)"
        );
    }
}

/// Whether this problem is the `idf.py encrypted-flash` mistake (ciphertext read as plain).
fn is_encrypted_flash_mistake(d: &Diagnosis, p: &Problem) -> bool {
    match p.reason {
        Unreadable::FlashEncryptedReadAsPlain => true,
        Unreadable::SecondaryTableUnreadable => matches!(
            d.secondary.as_ref().map(|s| s.status),
            Some(
                TableStatus::Encrypted { .. }
                    | TableStatus::EncryptedKeyUnknown
                    | TableStatus::EncryptedKeyWrong
            )
        ),
        _ => false,
    }
}

/// How a "flash-encrypted" judgement was reached, for the explanation.
fn evidence(d: &Diagnosis, p: &Problem) -> &'static str {
    if p.reason == Unreadable::SecondaryTableUnreadable {
        return match d.secondary.as_ref().map(|s| s.status) {
            Some(TableStatus::Encrypted { .. }) => "confirmed: it decrypts with the key into a valid table",
            Some(TableStatus::EncryptedKeyWrong) => {
                "its bytes look like ciphertext, but the given key does not decrypt it"
            }
            _ => "judged without the key: its bytes have the statistics of ciphertext",
        };
    }
    let finding = d.partitions.iter().find(|r| r.entry.label == p.partition && r.entry.offset == p.offset);
    match finding.map(|r| r.finding) {
        Some(Finding::WrittenEncryptedReadPlain { confirmed_with_key: true }) => {
            "confirmed: it decrypts with the key into valid content"
        }
        _ => "judged without the key: no valid structure, and the bytes have the statistics of ciphertext",
    }
}

/// at-flash's detail for a partition past the end of the flash.
const DETAIL_OUTSIDE: &str = Finding::OutsideFlash.detail();

/// What to do about a problem (the library's remedy, except for a dump that is too short).
fn fix(p: &Problem) -> &'static str {
    if p.detail == DETAIL_OUTSIDE {
        "read the whole flash (esptool --chip esp32c3 read-flash 0 ALL flash.bin), or inspect the \
         partition's own image with --partition"
    } else {
        p.remedy
    }
}

/// One problem explained in words.
fn explain(d: &Diagnosis, p: &Problem) -> String {
    let assumed = if p.assumed_location { " (location from ESP-AT's default table)" } else { "" };
    let what = format!("{} at 0x{:x}{assumed}", p.partition, p.offset);
    match p.reason {
        Unreadable::SecondaryTableUnreadable if is_encrypted_flash_mistake(d, p) => format!(
            "{what}: ESP-AT's secondary partition table is flash-encrypted ({}), but ESP-AT reads it as \
             plain (at_customize is not flagged `encrypted`). Its magic check fails, so ESP-AT never finds \
             mfg_nvs: the boot log says `at param mode: 0`, every certificate read returns length 0 \
             (`cert_len=0`), and an SSL server accepts and closes connections until the task watchdog \
             resets the chip. Cause: `idf.py encrypted-flash` also encrypted at_customize.bin.",
            evidence(d, p)
        ),
        Unreadable::SecondaryTableUnreadable => format!(
            "{what}: ESP-AT's secondary partition table cannot be read the way ESP-AT reads it ({}), so \
             mfg_nvs is never found (`at param mode: 0`).",
            p.detail
        ),
        Unreadable::FlashEncryptedReadAsPlain if p.partition.matches(layout::MFG_NVS) => format!(
            "{what}: mfg_nvs is flash-encrypted ({}), but it is not flagged `encrypted`, so the chip does \
             not decrypt it. ESP-AT's NVS init finds no valid page, erases the first one and carries on \
             with an empty store: no certificates (`cert_len=0`), no factory_param. Cause: `idf.py \
             encrypted-flash` also encrypted mfg_nvs.bin.{}",
            evidence(d, p),
            if d.problems.iter().any(|q| q.reason == Unreadable::SecondaryTableUnreadable) {
                " ESP-AT does not even get this far while the secondary table is unreadable: fix both."
            } else {
                ""
            }
        ),
        Unreadable::FlashEncryptedReadAsPlain => {
            format!("{what}: flash-encrypted ({}), but the chip reads it as plain.", evidence(d, p))
        }
        _ if p.detail == DETAIL_OUTSIDE => format!(
            "{what}: lies beyond the end of this {} KiB dump (a truncated dump, or not a whole flash).",
            d.flash_size / 1024
        ),
        _ if p.detail.is_empty() => format!("{what}: {}.", p.reason),
        _ => format!("{what}: {} ({}).", p.reason, p.detail),
    }
}

/// The numbers behind an NVS classification, in words.
fn numbers(c: &Classification) -> String {
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
fn wrap(text: &str, first: &str, rest: &str, width: usize) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping() {
        assert_eq!(wrap("a b c", "> ", "  ", 5), "> a b\n  c\n");
        assert_eq!(wrap("averyveryverylongword x", "", "", 4), "averyveryverylongword\nx\n");
        assert_eq!(wrap("", "- ", "", 10), "-\n");
    }
}
