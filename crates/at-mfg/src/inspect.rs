//! `at-mfg inspect`: what a partition image or a whole-flash dump holds, whether the device can
//! read it, why not, and what to do.
//!
//! **Dump or partition image?** `--dump` / `--partition` decide. Otherwise IMAGE is a dump if
//! a partition table sits at 0x8000 (parsing as stored, or after decryption with
//! `--flash-encryption-key`), or if it is at least 1 MiB (an encrypted table cannot be
//! recognised without the key; no NVS partition of ESP-AT comes near 1 MiB); else it is a
//! partition image.
//!
//! IMAGE is read once into memory through a read-only file handle and never written.

use std::fmt::Write as _;

use at_flash::classify::{self, Bytes};
use at_flash::diagnose::{Diagnosis, Finding, FlashEncryption, PartitionReport, Problem, TableStatus};
use at_flash::layout::{self, TableRead};
use at_flash::table::{ENTRY_MAGIC, PRIMARY_TABLE_OFFSET, PartitionTable, TABLE_LEN, subtypes, types};
use at_flash::view::{DecryptedView, MountView};
use at_flash::{DiagnoseOptions, FlashKey, SliceFlash, diagnose};
use at_hal::kv::Unreadable;
use at_nvs::{Classification, NvsKeys, Verdict};
use serde_json::{Map, Value as Json, json};

use crate::InspectArgs;
use crate::entries::{self, Entry, NvsRead, read_nvs};
use crate::input;
use crate::report::{Class, numbers_human, numbers_json, unreadable_json, wrap};

/// Images at least this large are taken for whole-flash dumps.
pub const DUMP_MIN_SIZE: usize = 1 << 20;

/// NVS page size.
const PAGE: usize = 4096;

/// What `inspect` prints and whether it found a problem (exit status 1).
#[derive(Debug)]
pub struct Outcome {
    /// Everything for stdout (the human report, or exactly one JSON document).
    pub stdout: String,
    /// The device cannot read (part of) what it needs.
    pub problem: bool,
}

/// How IMAGE is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A whole flash from address 0.
    Dump,
    /// One partition.
    Partition,
}

/// The detection rule of the module docs, with the reason in words.
pub fn detect(
    data: &[u8],
    key: Option<&FlashKey>,
    force_dump: bool,
    force_partition: bool,
) -> (Mode, String) {
    if force_dump {
        return (Mode::Dump, "--dump".into());
    }
    if force_partition {
        return (Mode::Partition, "--partition".into());
    }
    match layout::read_table(&mut SliceFlash(data), PRIMARY_TABLE_OFFSET, key) {
        Ok(TableRead::Plain(_)) => return (Mode::Dump, "a partition table at 0x8000".into()),
        Ok(TableRead::Encrypted(_)) => {
            return (Mode::Dump, "a partition table at 0x8000, decrypted with the key".into());
        }
        _ => {}
    }
    if data.len() >= DUMP_MIN_SIZE {
        return (Mode::Dump, "at least 1 MiB".into());
    }
    (Mode::Partition, "smaller than 1 MiB, no partition table at 0x8000".into())
}

/// Run `inspect`.
pub fn run(args: &InspectArgs) -> Result<Outcome, String> {
    let data = input::image(&args.image)?;
    let nvs_keys = input::nvs_keys(args.nvs_keys.as_deref(), args.hmac_key.as_deref())?;
    let fkey = args.flash_encryption_key.as_deref().map(input::flash_key_file).transpose()?;
    let (mode, why) = detect(&data, fkey.as_ref(), args.dump, args.partition);
    let name = args.image.display().to_string();
    match mode {
        Mode::Dump => {
            // A whole dump starts at flash address 0: `--offset 0` says just that.
            if let Some(o) = args.offset.filter(|&o| o != 0) {
                return Err(format!(
                    "{name} is read as a whole-flash dump ({why}), which starts at flash address 0, not \
                     0x{o:x}: --offset is for partition images (add --partition if this is one)"
                ));
            }
            inspect_dump(&name, &why, &data, fkey.as_ref(), nvs_keys.as_ref(), args.json)
        }
        Mode::Partition => {
            let fe_given = fkey.as_ref().zip(args.offset);
            if let Some(t) = table_image(&data, fe_given) {
                return Ok(report_table_image(&name, &why, &data, &t, args.json));
            }
            if data.len() < PAGE && looks_like_ciphertext(&data) {
                return Ok(report_small_ciphertext(&name, &why, &data, args.json));
            }
            if data.len() < PAGE {
                return Err(format!(
                    "{name}: {} bytes, shorter than one NVS page (4096): not a partition image \
                     (truncated? a partition table is 3072 bytes)",
                    data.len()
                ));
            }
            let fe = match (fkey.as_ref(), args.offset) {
                (Some(_), Some(o)) if o % 16 != 0 => {
                    return Err(format!(
                        "--offset 0x{o:x} is not a multiple of 16: flash encryption works on 16-byte blocks \
                         (partitions start on 4 KiB boundaries)"
                    ));
                }
                (Some(_), Some(o)) if u64::from(o) + data.len() as u64 > 1 << 32 => {
                    return Err(format!(
                        "--offset 0x{o:x} plus the image size passes the 4 GiB address space"
                    ));
                }
                (Some(k), Some(o)) => Some((k, o)),
                (Some(_), None) => {
                    return Err(format!(
                        "{name} is read as a partition image ({why}): decrypting it needs --offset, the \
                         flash address it was written at (ESP-AT's mfg_nvs on the ESP32-C3: 0x1f000)"
                    ));
                }
                (None, _) => None,
            };
            inspect_partition(&name, &why, &data, fe, nvs_keys.as_ref(), args.json)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Partition images

/// What a partition image turned out to be.
struct PartitionResult {
    /// The headline classification.
    class: Class,
    /// Classify's numbers as stored.
    raw: Classification,
    /// With `--flash-encryption-key`: the offset, and what decryption gave.
    decrypted: Option<(u32, Class, Classification)>,
    /// Entries, if listed.
    entries: Option<Vec<Entry>>,
    /// Why the device (reading the partition plain, with the given NVS keys) cannot read it.
    problem: Option<Unreadable>,
    /// What was seen, in words.
    detail: String,
    /// Extra remarks (also sent to stderr in JSON mode).
    notes: Vec<String>,
}

/// Neither blank nor NVS as stored: ciphertext-like or garbage.
fn is_unstructured(v: Verdict) -> bool {
    matches!(v, Verdict::LooksFlashEncrypted | Verdict::Garbage)
}

/// A note if the mount failed although the classification allowed it.
fn mount_failed(read: &NvsRead) -> Option<String> {
    match &read.entries {
        Some(Err(e)) => Some(format!("the NVS mount failed: {e}")),
        _ => None,
    }
}

/// Classify a partition image as stored and, with the flash key, as decrypted; list its
/// entries where readable.
fn classify_partition(
    data: &[u8],
    fe: Option<(&FlashKey, u32)>,
    nvs_keys: Option<&NvsKeys>,
) -> Result<PartitionResult, String> {
    let mut notes = Vec::new();
    let whole = data.len() / PAGE * PAGE;
    if whole != data.len() {
        notes.push(format!(
            "the image is {} bytes, not a multiple of 4096: the last {} bytes are ignored (truncated image?)",
            data.len(),
            data.len() - whole
        ));
    }
    let raw_read =
        read_nvs(SliceFlash(&data[..whole]), nvs_keys).map_err(|e| format!("reading the image: {e}"))?;
    let raw = raw_read.classification;

    if let (true, Some((key, offset))) = (is_unstructured(raw.verdict), fe) {
        let mut plain = data[..whole].to_vec();
        key.decrypt(offset, &mut plain).map_err(|e| format!("decrypting at --offset 0x{offset:x}: {e}"))?;
        let dec = read_nvs(SliceFlash(&plain), nvs_keys)
            .map_err(|e| format!("reading the decrypted image: {e}"))?;
        let dc = dec.classification;
        let dec_class = Class::from_verdict(dc.verdict);
        if !is_unstructured(dc.verdict) {
            notes.extend(mount_failed(&dec));
            if let Some(u) = dc.verdict.unreadable() {
                notes.push(format!("inside the flash encryption: {u} — {}", u.remedy()));
            }
            let inner = match dc.verdict.unreadable() {
                None => {
                    format!("decrypted with the key at 0x{offset:x} it is {}", describe_verdict(dc.verdict))
                }
                Some(u) => format!("decrypted with the key at 0x{offset:x} it is still unreadable: {u}"),
            };
            return Ok(PartitionResult {
                class: Class::FlashEncrypted,
                raw,
                decrypted: Some((offset, dec_class, dc)),
                entries: dec.entries.and_then(Result::ok),
                // The device reads the ciphertext; and once re-flashed plain, the content's own
                // problem (NVS keys) would remain — report the one it hits first.
                problem: Some(Unreadable::FlashEncryptedReadAsPlain),
                detail: format!("flash-encrypted (confirmed: {inner})"),
                notes,
            });
        }
        if raw.verdict == Verdict::LooksFlashEncrypted {
            return Ok(PartitionResult {
                class: Class::FlashEncryptedKeyMismatch,
                raw,
                decrypted: Some((offset, dec_class, dc)),
                entries: None,
                problem: Some(Unreadable::FlashEncryptedReadAsPlain),
                detail: format!(
                    "looks flash-encrypted (entropy {:.2} bits/byte, no valid NVS page), but decrypting with the \
                     given key at 0x{offset:x} gives no NVS either: the key is not this device's, or --offset is \
                     not the address the image was written at",
                    raw.entropy
                ),
                notes,
            });
        }
        notes.push(format!("decrypting with the given key at 0x{offset:x} gives no NVS either"));
        return Ok(PartitionResult {
            class: Class::Garbage,
            raw,
            decrypted: Some((offset, dec_class, dc)),
            entries: None,
            problem: Some(Unreadable::Garbage),
            detail: describe_verdict(raw.verdict),
            notes,
        });
    }

    if fe.is_some() && !is_unstructured(raw.verdict) {
        notes.push(
            "the image is not flash-encrypted (it is blank or has valid NVS structure as stored): the \
             flash-encryption key was not needed"
                .into(),
        );
    }
    if nvs_keys.is_some() && raw.verdict == Verdict::PlainNvs && raw.written_entries > 0 {
        notes.push(
            "NVS keys were given, but the image is not NVS-encrypted (its entries check out as stored)"
                .into(),
        );
    }
    notes.extend(mount_failed(&raw_read));
    let mut detail = describe_verdict(raw.verdict);
    if raw.verdict == Verdict::LooksFlashEncrypted {
        detail.push_str(
            ". To look inside, give --flash-encryption-key KEY_FILE and --offset ADDR (the flash address the image \
             was written at; ESP-AT's mfg_nvs on the ESP32-C3: 0x1f000)",
        );
    }
    Ok(PartitionResult {
        class: Class::from_verdict(raw.verdict),
        raw,
        decrypted: None,
        entries: raw_read.entries.and_then(Result::ok),
        problem: raw.verdict.unreadable(),
        detail,
        notes,
    })
}

/// A verdict in words.
fn describe_verdict(v: Verdict) -> String {
    match v {
        Verdict::Blank => "blank: every page is erased (an empty store)".into(),
        Verdict::PlainNvs => "plain NVS: the entries pass their CRCs as stored".into(),
        Verdict::NvsEncrypted { keys_ok: Some(true) } => {
            "NVS-encrypted, and the given NVS keys decrypt it".into()
        }
        Verdict::NvsEncrypted { keys_ok: None } => {
            "NVS-encrypted: valid NVS page headers, but no entry passes its CRC without the NVS keys \
             (give --nvs-keys nvs_keys.bin or --hmac-key)"
                .into()
        }
        Verdict::NvsEncrypted { keys_ok: Some(false) } => {
            "NVS-encrypted: valid NVS page headers, but no entry passes its CRC after decryption with the \
             given NVS keys: they are not the keys this image was generated with"
                .into()
        }
        Verdict::NvsNewerVersion => "NVS pages of a format version newer than this reader knows".into(),
        Verdict::LooksFlashEncrypted => {
            "flash-encrypted: no page is blank, no NVS page header is valid, and the bytes have the \
             entropy of ciphertext — written with flash encryption (idf.py encrypted-flash / esptool \
             write-flash --encrypt). A partition that is not flagged `encrypted` (ESP-AT's mfg_nvs and \
             at_customize are not) is read as stored, so the device sees no NVS at all: ESP-AT finds no \
             certificates (cert_len=0) and its SSL server closes every connection"
                .into()
        }
        Verdict::Garbage => {
            "garbage: neither blank, nor NVS, nor ciphertext-like (a wrong file, or a corrupted partition)"
                .into()
        }
    }
}

/// `inspect` of a partition image: the report (human or JSON).
fn inspect_partition(
    name: &str,
    why: &str,
    data: &[u8],
    fe: Option<(&FlashKey, u32)>,
    nvs_keys: Option<&NvsKeys>,
    json: bool,
) -> Result<Outcome, String> {
    let r = classify_partition(data, fe, nvs_keys)?;
    let readable = r.entries.is_some();
    let problem = r.problem.is_some() || !readable;
    if json {
        for n in &r.notes {
            eprintln_safe(&format!("note: {n}"));
        }
        let mut m = Map::new();
        m.insert("image".into(), json!(name));
        m.insert("mode".into(), json!("partition"));
        m.insert("detected_by".into(), json!(why));
        m.insert("size".into(), json!(data.len()));
        m.insert("classification".into(), json!(r.class.as_str()));
        m.insert("readable".into(), json!(readable));
        m.insert("detail".into(), json!(r.detail));
        m.insert("problem".into(), r.problem.map_or(Json::Null, unreadable_json));
        m.insert("remedy".into(), r.problem.map_or(Json::Null, |u| json!(u.remedy())));
        m.insert("nvs".into(), numbers_json(&r.raw));
        m.insert(
            "flash_decryption".into(),
            match &r.decrypted {
                None => Json::Null,
                Some((offset, class, c)) => json!({
                    "offset": offset,
                    "classification": class.as_str(),
                    "nvs": numbers_json(c),
                }),
            },
        );
        m.insert("notes".into(), json!(r.notes));
        m.insert("entries".into(), Json::Array(r.entries.iter().flatten().map(Entry::to_json).collect()));
        return Ok(Outcome { stdout: json_doc(&Json::Object(m)), problem });
    }

    let mut s = String::new();
    let _ = writeln!(s, "{name}: partition image, {} bytes ({why})", data.len());
    let _ = writeln!(s);
    let _ = writeln!(s, "classification: {}", r.class.as_str());
    s.push_str(&wrap(&format!("{}.", r.detail), "  ", "  ", WIDTH));
    s.push_str(&wrap(&numbers_human(&r.raw), "  as stored: ", "    ", WIDTH));
    if let Some((offset, class, c)) = &r.decrypted {
        let _ = writeln!(s, "  decrypted with the flash-encryption key at 0x{offset:x}: {}", class.as_str());
        s.push_str(&wrap(&numbers_human(c), "    ", "    ", WIDTH));
    }
    for n in &r.notes {
        s.push_str(&wrap(n, "  note: ", "        ", WIDTH));
    }
    if let Some(u) = r.problem {
        let _ = writeln!(s);
        let _ = writeln!(s, "problem: {u}");
        s.push_str(&wrap(u.remedy(), "fix: ", "     ", WIDTH));
        if u == Unreadable::FlashEncryptedReadAsPlain {
            s.push_str(&wrap(FLASH_ENCRYPTED_WHY, "how: ", "     ", WIDTH));
            let _ = writeln!(s, "     {FLASH_ENCRYPTED_COMMAND}");
        }
    }
    let _ = writeln!(s);
    match &r.entries {
        Some(list) => {
            let source = if r.decrypted.is_some() {
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
    Ok(Outcome { stdout: s, problem })
}

/// Why `idf.py encrypted-flash` breaks ESP-AT, and the way out.
const FLASH_ENCRYPTED_WHY: &str = "ESP-AT registers at_customize.bin (its secondary partition table, \
    at the start of at_customize) and mfg_nvs.bin without ALWAYS_PLAINTEXT, so `idf.py encrypted-flash` \
    encrypts them too, yet the firmware reads both as plain. Flash the app with `idf.py \
    encrypted-app-flash` and write those two images in plaintext (development mode), e.g. with the \
    offsets of ESP-AT's ESP32-C3 layout:";

/// The plaintext write of ESP-AT's two customized images.
const FLASH_ENCRYPTED_COMMAND: &str =
    "esptool --chip esp32c3 write-flash 0x1e000 at_customize.bin 0x1f000 mfg_nvs.bin   (no --encrypt)";

// ---------------------------------------------------------------------------------------------
// Partition-table images (partitions_at.bin at 0x8000, ESP-AT's at_customize.bin at 0x1e000)

/// A partition table found at the start of a partition image.
struct TableImage {
    /// `Some(offset)`: the table is stored flash-encrypted and decrypted with the key at offset.
    encrypted_at: Option<u32>,
    /// The table.
    table: PartitionTable,
}

/// The table at the start of `bytes`, if slot 0 is a partition entry and it parses.
fn parse_table(bytes: &[u8]) -> Option<PartitionTable> {
    let n = bytes.len().min(TABLE_LEN);
    if bytes.get(..2)? != ENTRY_MAGIC {
        return None;
    }
    PartitionTable::parse(&bytes[..n], None).ok()
}

/// A partition-table image: plain, or flash-encrypted and decrypting with the key at `--offset`.
fn table_image(data: &[u8], fe: Option<(&FlashKey, u32)>) -> Option<TableImage> {
    if let Some(table) = parse_table(data) {
        return Some(TableImage { encrypted_at: None, table });
    }
    let (key, offset) = fe?;
    let n = data.len().min(TABLE_LEN) / 16 * 16;
    let mut plain = data.get(..n)?.to_vec();
    key.decrypt(offset, &mut plain).ok()?;
    parse_table(&plain).map(|table| TableImage { encrypted_at: Some(offset), table })
}

/// The partitions of a table, as JSON objects.
fn table_entries_json(t: &PartitionTable) -> Vec<Json> {
    t.entries().iter().map(|e| Json::Object(partition_fields(e))).collect()
}

/// The fields describing a partition table entry (name, place, type, flags).
fn partition_fields(e: &at_flash::PartitionEntry) -> serde_json::Map<String, Json> {
    let kind = e.kind().to_string();
    let (ty, sub) = kind.split_once('/').unwrap_or((kind.as_str(), ""));
    let Json::Object(m) = json!({
        "name": e.label.to_string(),
        "offset": e.offset,
        "size": e.size,
        "type": ty,
        "subtype": sub,
        "type_code": e.ty,
        "subtype_code": e.subtype,
        "flag_encrypted": e.flags.encrypted(),
    }) else {
        return serde_json::Map::new();
    };
    m
}

/// `inspect` of a partition-table image: the report (human or JSON).
fn report_table_image(name: &str, why: &str, data: &[u8], t: &TableImage, json: bool) -> Outcome {
    let n = t.table.entries().len();
    // The chip decrypts the primary table; ESP-AT reads its secondary table plain.
    let (class, problem, detail) = match t.encrypted_at {
        None => (
            TABLE_CLASS,
            None,
            format!(
                "a partition table with {n} partitions, stored plain (as ESP-AT's secondary table must be)"
            ),
        ),
        Some(PRIMARY_TABLE_OFFSET) => (
            Class::FlashEncrypted.as_str(),
            None,
            format!(
                "a partition table with {n} partitions, flash-encrypted for 0x8000: the primary table, which \
                 the chip decrypts (expected with flash encryption on)"
            ),
        ),
        Some(o) => (
            Class::FlashEncrypted.as_str(),
            Some(Unreadable::SecondaryTableUnreadable),
            format!(
                "a partition table with {n} partitions, flash-encrypted for 0x{o:x}. If this is ESP-AT's \
                 secondary table (at_customize.bin, 0x1e000), ESP-AT reads it plain, its magic check fails \
                 and mfg_nvs is never found (`at param mode: 0`, `cert_len=0`)"
            ),
        ),
    };
    let stdout = if json {
        json_doc(&json!({
            "image": name,
            "mode": "partition",
            "detected_by": why,
            "size": data.len(),
            "classification": class,
            "readable": true,
            "detail": detail,
            "problem": problem.map_or(Json::Null, unreadable_json),
            "remedy": problem.map(Unreadable::remedy),
            "nvs": null,
            "flash_decryption": t.encrypted_at.map(|o| json!({ "offset": o, "classification": TABLE_CLASS, "nvs": null })),
            "notes": [],
            "partition_table": table_entries_json(&t.table),
            "entries": [],
        }))
    } else {
        let mut s = String::new();
        let _ = writeln!(s, "{name}: partition image, {} bytes ({why})", data.len());
        let _ = writeln!(s);
        let _ = writeln!(s, "classification: {class}");
        s.push_str(&wrap(&format!("{detail}."), "  ", "  ", WIDTH));
        if let Some(u) = problem {
            let _ = writeln!(s);
            let _ = writeln!(s, "problem: {u}");
            s.push_str(&wrap(u.remedy(), "fix: ", "     ", WIDTH));
            s.push_str(&wrap(FLASH_ENCRYPTED_WHY, "how: ", "     ", WIDTH));
            let _ = writeln!(s, "     {FLASH_ENCRYPTED_COMMAND}");
        }
        let _ = writeln!(s);
        let _ = writeln!(s, "partition table:");
        let _ =
            writeln!(s, "  {:<16}  {:<12}  {:>9}  {:>9}  flags", "name", "type/subtype", "offset", "size");
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
        s
    };
    Outcome { stdout, problem: problem.is_some() }
}

/// Whether `data` (at least 1 KiB) is indistinguishable from random: ciphertext.
fn looks_like_ciphertext(data: &[u8]) -> bool {
    let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
    data.len() >= 1024 && matches!(classify::bytes_at(&mut SliceFlash(data), 0, len), Ok(Bytes::RandomLike))
}

/// An image smaller than an NVS page whose bytes look like ciphertext (typically a partition
/// table written by `idf.py encrypted-flash`): classified by the key-less rule.
fn report_small_ciphertext(name: &str, why: &str, data: &[u8], json: bool) -> Outcome {
    let u = Unreadable::FlashEncryptedReadAsPlain;
    let detail = "smaller than an NVS page, not a partition table, and the bytes have the statistics of \
                  ciphertext: most likely a flash-encrypted partition table (ESP-AT's at_customize.bin written \
                  by idf.py encrypted-flash, which ESP-AT then reads as plain; for the primary table at 0x8000 \
                  that is expected). To confirm, give --flash-encryption-key KEY_FILE --offset ADDR";
    let stdout = if json {
        json_doc(&json!({
            "image": name,
            "mode": "partition",
            "detected_by": why,
            "size": data.len(),
            "classification": Class::FlashEncrypted.as_str(),
            "readable": false,
            "detail": detail,
            "problem": unreadable_json(u),
            "remedy": u.remedy(),
            "nvs": null,
            "flash_decryption": null,
            "notes": [],
            "entries": [],
        }))
    } else {
        let mut s = String::new();
        let _ = writeln!(s, "{name}: partition image, {} bytes ({why})", data.len());
        let _ = writeln!(s);
        let _ = writeln!(s, "classification: {}", Class::FlashEncrypted.as_str());
        s.push_str(&wrap(&format!("{detail}."), "  ", "  ", WIDTH));
        let _ = writeln!(s);
        let _ = writeln!(s, "problem: {u}");
        s.push_str(&wrap(u.remedy(), "fix: ", "     ", WIDTH));
        s
    };
    Outcome { stdout, problem: true }
}

/// Classification of a partition-table image.
const TABLE_CLASS: &str = Class::PartitionTable.as_str();

// ---------------------------------------------------------------------------------------------
// Whole-flash dumps

/// One partition of a dump, with what at-mfg adds to the diagnosis.
struct DumpPartition<'d> {
    /// at-flash's report.
    report: &'d PartitionReport,
    /// Its classification string.
    class: Class,
    /// Its problem, if any.
    problem: Option<&'d Problem>,
    /// Entries and where they come from.
    entries: Option<(Vec<Entry>, &'static str)>,
    /// NVS content that could not be listed, and why.
    entries_note: Option<String>,
    /// The finding in words (for `at_customize`: its secondary table's status).
    finding: String,
}

/// Source of a listing: what the device reads.
const SOURCE_DEVICE: &str = "as-read-by-device";
/// Source of a listing: decrypted with the key, while the device reads ciphertext.
const SOURCE_DECRYPTED: &str = "decrypted-with-key";

/// A `data/nvs` partition.
fn is_nvs(p: &PartitionReport) -> bool {
    p.entry.ty == types::DATA && p.entry.subtype == subtypes::DATA_NVS
}

/// ESP-AT's `at_customize` container (type 0x40, subtype 0), which holds the secondary table.
fn is_at_customize(p: &PartitionReport) -> bool {
    p.entry.ty == types::AT_CUSTOMIZE && p.entry.subtype == subtypes::AT_CUSTOMIZE
}

/// List an NVS partition of the dump where that makes sense.
fn dump_entries(
    data: &[u8],
    p: &PartitionReport,
    fe_on: bool,
    key: Option<&FlashKey>,
    nvs_keys: Option<&NvsKeys>,
) -> (Option<(Vec<Entry>, &'static str)>, Option<String>) {
    if !is_nvs(p) {
        return (None, None);
    }
    let (read, source) = match p.finding {
        Finding::Blank => return (Some((Vec::new(), SOURCE_DEVICE)), None),
        Finding::Nvs { .. }
        | Finding::NvsEncrypted { keys: at_flash::diagnose::NvsKeysStatus::Ok { .. } } => {
            match MountView::for_partition(SliceFlash(data), &p.entry, fe_on, key) {
                Ok(v) => (read_nvs(v, nvs_keys), SOURCE_DEVICE),
                Err(e) => return (None, Some(format!("cannot open the partition: {e}"))),
            }
        }
        Finding::WrittenEncryptedReadPlain { confirmed_with_key: true } => {
            let Some(k) = key else { return (None, None) };
            match DecryptedView::new(SliceFlash(data), p.entry.offset, p.entry.size, k) {
                Ok(v) => (read_nvs(v, nvs_keys), SOURCE_DECRYPTED),
                Err(e) => return (None, Some(format!("cannot open the partition: {e}"))),
            }
        }
        _ => return (None, None),
    };
    match read {
        Err(e) => (None, Some(format!("reading the partition: {e}"))),
        Ok(NvsRead { entries: Some(Ok(list)), .. }) => (Some((list, source)), None),
        Ok(NvsRead { entries: Some(Err(e)), .. }) => (None, Some(format!("the NVS mount failed: {e}"))),
        Ok(NvsRead { classification, entries: None }) => (
            None,
            Some(format!(
                "{} content: {}",
                if source == SOURCE_DECRYPTED { "decrypted" } else { "its" },
                Class::from_verdict(classification.verdict).as_str()
            )),
        ),
    }
}

/// The classification of `at_customize`: its secondary table as ESP-AT reads it.
fn secondary_class(d: &Diagnosis, problem: Option<&Problem>) -> Class {
    if problem.is_some_and(|p| p.reason == Unreadable::SecondaryTableUnreadable) {
        return Class::SecondaryTableUnreadable;
    }
    match d.secondary.as_ref().map(|s| s.status) {
        Some(TableStatus::Blank) => Class::SecondaryTableBlank,
        _ => Class::SecondaryTable,
    }
}

/// `inspect` of a whole-flash dump: at-flash's diagnosis, explained, plus the NVS entries.
fn inspect_dump(
    name: &str,
    why: &str,
    data: &[u8],
    key: Option<&FlashKey>,
    nvs_keys: Option<&NvsKeys>,
    json: bool,
) -> Result<Outcome, String> {
    let opts = DiagnoseOptions { flash_key: key, nvs_keys, ..Default::default() };
    let d = diagnose(&mut SliceFlash(data), opts)
        .map_err(|_| "reading the dump failed (out of bounds)".to_string())?;
    let fe_on = d.flash_encryption == FlashEncryption::On;
    let parts: Vec<DumpPartition<'_>> = d
        .partitions
        .iter()
        .map(|p| {
            let problem =
                d.problems.iter().find(|q| q.partition == p.entry.label && q.offset == p.entry.offset);
            let class = if is_at_customize(p) {
                secondary_class(&d, problem)
            } else {
                Class::from_finding(p.finding)
            };
            let (entries, entries_note) = dump_entries(data, p, fe_on, key, nvs_keys);
            let finding = match (&d.secondary, is_at_customize(p)) {
                (Some(t), true) => format!("secondary table: {}", t.status),
                _ => p.finding.to_string(),
            };
            DumpPartition { report: p, class, problem, entries, entries_note, finding }
        })
        .collect();
    let problem = !d.problems.is_empty();
    let summary = summary(&d);
    if json {
        return Ok(Outcome { stdout: json_doc(&dump_json(name, why, data, &d, &parts, &summary)), problem });
    }

    let mut s = String::new();
    let _ = writeln!(s, "{name}: whole-flash dump, {} KiB ({why})", data.len() / 1024);
    let _ = writeln!(s);
    s.push_str(&wrap(&summary, "", "  ", WIDTH));
    let _ = writeln!(s);
    human_tables(&mut s, &d, &parts);
    if !d.problems.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(s, "Problems and fixes:");
        for (i, p) in d.problems.iter().enumerate() {
            s.push_str(&wrap(&explain(&d, p), &format!("  {}. ", i + 1), "     ", WIDTH));
            s.push_str(&wrap(&format!("Fix: {}.", fix(p)), "     ", "       ", WIDTH));
        }
        if d.problems.iter().any(|p| is_encrypted_flash_mistake(&d, p)) {
            s.push_str(&wrap(FLASH_ENCRYPTED_WHY, "  How: ", "       ", WIDTH));
            let _ = writeln!(s, "       {FLASH_ENCRYPTED_COMMAND}");
        }
    }
    let nvs: Vec<&DumpPartition<'_>> = parts.iter().filter(|p| is_nvs(p.report)).collect();
    if !nvs.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(s, "NVS partitions:");
        for p in nvs {
            let e = &p.report.entry;
            let _ = write!(s, "  {} @0x{:x} ({}", e.label, e.offset, p.class.as_str());
            match (&p.entries, &p.entries_note) {
                (Some((list, source)), _) => {
                    let how = if *source == SOURCE_DECRYPTED {
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
    Ok(Outcome { stdout: s, problem })
}

/// Width of the human report's wrapped paragraphs.
const WIDTH: usize = 100;

/// The flash/table lines and the partition table of the human dump report.
fn human_tables(s: &mut String, d: &Diagnosis, parts: &[DumpPartition<'_>]) {
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
const DETAIL_OUTSIDE: &str = "partition extends past the end of the flash";

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

/// The one-line verdict on mfg_nvs at the top of the report.
fn summary(d: &Diagnosis) -> String {
    match &d.mfg_nvs {
        Ok(()) if d.problems.is_empty() => "SUMMARY: no problem found; ESP-AT can read mfg_nvs.".into(),
        Ok(()) => format!(
            "SUMMARY: ESP-AT can read mfg_nvs, but {} other problem(s) were found (below).",
            d.problems.len()
        ),
        Err(p) => format!(
            "SUMMARY: ESP-AT cannot read mfg_nvs (certificates, keys, factory_param): {} at 0x{:x}: {}.",
            p.partition, p.offset, p.reason
        ),
    }
}

/// A problem of the diagnosis, as JSON.
fn problem_json(p: &Problem) -> Json {
    json!({
        "partition": p.partition.to_string(),
        "offset": p.offset,
        "kind": format!("{:?}", p.reason),
        "message": p.reason.to_string(),
        "detail": p.detail,
        "remedy": p.remedy,
        "assumed_location": p.assumed_location,
    })
}

/// A table report of the diagnosis, as JSON.
fn table_json(t: &at_flash::diagnose::TableReport) -> Json {
    json!({
        "offset": t.offset,
        "status": t.status.to_string(),
        "read_decrypted": t.read_decrypted,
        "assumed_default": t.assumed_default,
    })
}

/// The JSON document of a dump.
fn dump_json(
    name: &str,
    why: &str,
    data: &[u8],
    d: &Diagnosis,
    parts: &[DumpPartition<'_>],
    summary: &str,
) -> Json {
    let partitions: Vec<Json> = parts
        .iter()
        .map(|p| {
            let (entries, source) = match &p.entries {
                Some((list, src)) => (list.iter().map(Entry::to_json).collect(), json!(src)),
                None => (Vec::new(), Json::Null),
            };
            let mut fields = partition_fields(&p.report.entry);
            let Json::Object(rest) = json!({
                "table": match p.report.table {
                    at_flash::diagnose::TableId::Primary => "primary",
                    at_flash::diagnose::TableId::Secondary => "secondary",
                },
                "assumed_location": p.report.assumed,
                "read_decrypted": p.report.read_decrypted,
                "classification": p.class.as_str(),
                "finding": p.finding,
                "readable": p.problem.is_none(),
                "detail": p.problem.map(|q| q.detail),
                "remedy": p.problem.map(|q| q.remedy),
                "entries_source": source,
                "entries_note": p.entries_note,
                "entries": entries,
            }) else {
                return Json::Object(fields);
            };
            fields.extend(rest);
            Json::Object(fields)
        })
        .collect();
    json!({
        "image": name,
        "mode": "dump",
        "detected_by": why,
        "size": data.len(),
        "flash_encryption": match d.flash_encryption {
            FlashEncryption::On => "on",
            FlashEncryption::Off => "off",
            FlashEncryption::Unknown => "unknown",
        },
        "flash_encryption_key_given": d.key_given,
        "primary_table": table_json(&d.primary),
        "secondary_table": d.secondary.as_ref().map_or(Json::Null, table_json),
        "mfg_nvs": match &d.mfg_nvs {
            Ok(()) => json!({ "readable": true, "problem": null }),
            Err(p) => json!({ "readable": false, "problem": problem_json(p) }),
        },
        "summary": summary,
        "problems": d.problems.iter().map(problem_json).collect::<Vec<_>>(),
        "partitions": partitions,
    })
}

/// A JSON document and a newline.
fn json_doc(v: &Json) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

/// A line on stderr; a closed stderr is not worth a panic.
pub fn eprintln_safe(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}
