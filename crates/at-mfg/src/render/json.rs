//! The JSON report (`--json`): exactly one document, keys in alphabetical order, the shape
//! documented in the crate's README.

use at_flash::PartitionEntry;
use at_flash::diagnose::{FlashEncryption, Problem, TableId, TableReport};
use at_flash::table::PartitionTable;
use at_hal::kv::Unreadable;
use at_nvs::Classification;
use serde_json::{Map, Value as Json, json};

use crate::entries::Entry;
use crate::report::{
    Body, Class, DumpReport, ImageReport, Report, SMALL_CIPHERTEXT, SMALL_CIPHERTEXT_DETAIL, TableImage,
};

/// The JSON report, as one document and a newline.
pub fn report(r: &Report) -> String {
    document(&match &r.body {
        Body::Image(i) => image(r, i),
        Body::Table(t) => table(r, t),
        Body::SmallCiphertext => small_ciphertext(r),
        Body::Dump(d) => dump(r, d),
    })
}

/// The fields every partition image's document has; the caller adds the rest.
fn image_fields(
    r: &Report,
    class: Class,
    readable: bool,
    detail: &str,
    problem: Option<Unreadable>,
) -> Map<String, Json> {
    let mut m = Map::new();
    m.insert("image".into(), json!(r.image));
    m.insert("mode".into(), json!("partition"));
    m.insert("detected_by".into(), json!(r.detected_by));
    m.insert("size".into(), json!(r.size));
    m.insert("classification".into(), json!(class.as_str()));
    m.insert("readable".into(), json!(readable));
    m.insert("detail".into(), json!(detail));
    m.insert("problem".into(), problem.map_or(Json::Null, unreadable_json));
    m.insert("remedy".into(), problem.map_or(Json::Null, |u| json!(u.remedy())));
    m.insert("notes".into(), json!([]));
    m.insert("entries".into(), json!([]));
    m
}

/// A partition image judged as NVS.
fn image(r: &Report, i: &ImageReport) -> Json {
    let mut m = image_fields(r, i.class, i.readable(), &i.detail, i.problem());
    m.insert("nvs".into(), numbers_json(&i.raw));
    m.insert(
        "flash_decryption".into(),
        match &i.decrypted {
            None => Json::Null,
            Some(d) => json!({
                "offset": d.offset,
                "classification": d.class.as_str(),
                "nvs": numbers_json(&d.nvs),
            }),
        },
    );
    m.insert("notes".into(), json!(i.notes));
    m.insert("entries".into(), Json::Array(i.entries.iter().flatten().map(Entry::to_json).collect()));
    Json::Object(m)
}

/// A partition-table image.
fn table(r: &Report, t: &TableImage) -> Json {
    let mut m = image_fields(r, t.class, true, &t.detail, t.problem);
    m.insert("nvs".into(), Json::Null);
    m.insert(
        "flash_decryption".into(),
        json!(
            t.encrypted_at.map(
                |o| json!({ "offset": o, "classification": Class::PartitionTable.as_str(), "nvs": null })
            )
        ),
    );
    m.insert("partition_table".into(), Json::Array(table_entries_json(&t.table)));
    Json::Object(m)
}

/// An image smaller than an NVS page that looks like ciphertext.
fn small_ciphertext(r: &Report) -> Json {
    let mut m =
        image_fields(r, SMALL_CIPHERTEXT, false, SMALL_CIPHERTEXT_DETAIL, SMALL_CIPHERTEXT.unreadable());
    m.insert("nvs".into(), Json::Null);
    m.insert("flash_decryption".into(), Json::Null);
    Json::Object(m)
}

/// The numbers behind an NVS classification, as JSON.
fn numbers_json(c: &Classification) -> Json {
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

/// The `Unreadable` cause as JSON: its name, its message and its remedy.
fn unreadable_json(u: Unreadable) -> Json {
    json!({ "kind": format!("{u:?}"), "message": u.to_string(), "remedy": u.remedy() })
}

/// The partitions of a table, as JSON objects.
fn table_entries_json(t: &PartitionTable) -> Vec<Json> {
    t.entries().iter().map(|e| Json::Object(partition_fields(e))).collect()
}

/// The fields describing a partition table entry (name, place, type, flags).
fn partition_fields(e: &PartitionEntry) -> Map<String, Json> {
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
        return Map::new();
    };
    m
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
fn table_json(t: &TableReport) -> Json {
    json!({
        "offset": t.offset,
        "status": t.status.to_string(),
        "read_decrypted": t.read_decrypted,
        "assumed_default": t.assumed_default,
    })
}

/// The JSON document of a dump.
fn dump(r: &Report, dr: &DumpReport) -> Json {
    let d = &dr.diagnosis;
    let partitions: Vec<Json> = dr
        .partitions
        .iter()
        .map(|p| {
            let (entries, source) = match &p.entries {
                Some((list, src)) => (list.iter().map(Entry::to_json).collect(), json!(src.as_str())),
                None => (Vec::new(), Json::Null),
            };
            let mut fields = partition_fields(&p.report.entry);
            let Json::Object(rest) = json!({
                "table": match p.report.table {
                    TableId::Primary => "primary",
                    TableId::Secondary => "secondary",
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
        "image": r.image,
        "mode": "dump",
        "detected_by": r.detected_by,
        "size": r.size,
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
        "summary": dr.summary,
        "problems": d.problems.iter().map(problem_json).collect::<Vec<_>>(),
        "partitions": partitions,
    })
}

/// A JSON document and a newline.
pub fn document(v: &Json) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}
