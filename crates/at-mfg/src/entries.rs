//! Reading an NVS partition: classify it, mount it read-only if it can be read, and list every
//! entry with its value (integers and strings) or its length and SHA-256 (blobs, whose bytes
//! are never printed).

use std::fmt::Write as _;

use at_hal::kv::{KvError, Value, ValueType};
use at_nvs::{Classification, Nvs, NvsKeys, Verdict, classify};
use embedded_storage::nor_flash::ReadNorFlash;
use serde_json::{Map, Value as Json, json};
use sha2::{Digest, Sha256};

/// One entry's value, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryValue {
    /// Any integer type, widened.
    Int(i128),
    /// A string's bytes (without the NUL).
    Str(Vec<u8>),
    /// A blob: its length and SHA-256, never its bytes.
    Blob {
        /// Length in bytes.
        len: usize,
        /// SHA-256 of the bytes.
        sha256: [u8; 32],
    },
    /// Listed by the mount but not readable (a data CRC failed).
    Error(String),
}

/// One entry of a mounted partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Namespace.
    pub namespace: String,
    /// Key.
    pub key: String,
    /// Stored type.
    pub ty: ValueType,
    /// Value.
    pub value: EntryValue,
}

/// What reading one NVS partition gave.
#[derive(Debug)]
pub struct NvsRead {
    /// The classification (with the keys that were given).
    pub classification: Classification,
    /// `None`: not mounted, the classification says it cannot be read. `Some(Err)`: the
    /// mount failed anyway. `Some(Ok)`: the entries.
    pub entries: Option<Result<Vec<Entry>, KvError>>,
}

/// Classify the partition in `flash` (address 0 = partition start) and, if it is readable,
/// mount it read-only and list its entries. NVS keys are used for the mount only when the
/// partition is NVS-encrypted and they fit (a plain partition mounts without keys).
pub fn read_nvs<F: ReadNorFlash>(mut flash: F, keys: Option<&NvsKeys>) -> Result<NvsRead, KvError> {
    let classification = classify(&mut flash, keys)?;
    let mount_keys = match classification.verdict {
        Verdict::Blank | Verdict::PlainNvs => None,
        Verdict::NvsEncrypted { keys_ok: Some(true) } => keys,
        _ => return Ok(NvsRead { classification, entries: None }),
    };
    let limit = flash.capacity();
    let entries = Nvs::mount_read_only(flash, mount_keys).and_then(|mut nvs| list(&mut nvs, limit));
    Ok(NvsRead { classification, entries: Some(entries) })
}

/// Every entry of a mounted store: namespaces in index order, keys in key order.
fn list<F: ReadNorFlash>(nvs: &mut Nvs<F>, limit: usize) -> Result<Vec<Entry>, KvError> {
    let mut namespaces = Vec::new();
    nvs.for_each_namespace(&mut |n| namespaces.push(n.to_owned()))?;
    let mut out = Vec::new();
    for ns in &namespaces {
        let mut keys = Vec::new();
        nvs.for_each_entry(ns, &mut |k, info| keys.push((k.to_owned(), info)))?;
        for (key, info) in keys {
            let value = if info.len > limit {
                EntryValue::Error(format!("length {} exceeds the partition", info.len))
            } else {
                let mut buf = vec![0u8; info.len];
                match nvs.get(ns, &key, &mut buf) {
                    Ok(v) => value_of(v),
                    Err(e) => EntryValue::Error(e.to_string()),
                }
            };
            out.push(Entry { namespace: ns.clone(), key, ty: info.value_type, value });
        }
    }
    Ok(out)
}

/// A read value as listed: integers widened, blobs reduced to length and SHA-256.
fn value_of(v: Value<'_>) -> EntryValue {
    match v {
        Value::Str(s) => EntryValue::Str(s.to_vec()),
        Value::Blob(b) => EntryValue::Blob { len: b.len(), sha256: Sha256::digest(b).into() },
        other => EntryValue::Int(other.as_integer().unwrap_or_default()),
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// An integer as an exact JSON number (`u64::MAX` and `i64::MIN` included).
fn int_json(v: i128) -> Json {
    if let Ok(u) = u64::try_from(v) {
        Json::from(u)
    } else if let Ok(i) = i64::try_from(v) {
        Json::from(i)
    } else {
        // Not reachable for NVS integers (at most 64 bits); keep it exact as text.
        Json::from(v.to_string())
    }
}

impl Entry {
    /// The JSON object of the README: `namespace`, `key`, `type`, and `value` (integers,
    /// strings) or `len` + `sha256` (blobs). Strings also carry `len`; a string that is not
    /// UTF-8 has `utf8: false`, `value` with U+FFFD replacements and `value_hex` (the bytes).
    /// An unreadable entry has `error` instead of a value.
    pub fn to_json(&self) -> Json {
        let mut m = Map::new();
        m.insert("namespace".into(), json!(self.namespace));
        m.insert("key".into(), json!(self.key));
        m.insert("type".into(), json!(self.ty.name()));
        match &self.value {
            EntryValue::Int(v) => {
                m.insert("value".into(), int_json(*v));
            }
            EntryValue::Str(b) => {
                m.insert("len".into(), json!(b.len()));
                match std::str::from_utf8(b) {
                    Ok(s) => {
                        m.insert("value".into(), json!(s));
                    }
                    Err(_) => {
                        m.insert("value".into(), json!(String::from_utf8_lossy(b)));
                        m.insert("utf8".into(), json!(false));
                        m.insert("value_hex".into(), json!(hex(b)));
                    }
                }
            }
            EntryValue::Blob { len, sha256 } => {
                m.insert("len".into(), json!(len));
                m.insert("sha256".into(), json!(hex(sha256)));
            }
            EntryValue::Error(e) => {
                m.insert("error".into(), json!(e));
            }
        }
        Json::Object(m)
    }

    /// The value column of the human listing: strings quoted and escaped, cut after 60
    /// characters (the JSON form has them whole); blobs as length and SHA-256.
    pub fn human_value(&self) -> String {
        match &self.value {
            EntryValue::Int(v) => v.to_string(),
            EntryValue::Str(b) => {
                let s = String::from_utf8_lossy(b);
                let mut esc: String = s.chars().take(60).flat_map(char::escape_debug).collect();
                if s.chars().count() > 60 {
                    esc.push('…');
                }
                let note = if std::str::from_utf8(b).is_err() { ", not UTF-8" } else { "" };
                format!("\"{esc}\" ({} bytes{note})", b.len())
            }
            EntryValue::Blob { len, sha256 } => format!("{len} bytes, sha256 {}", hex(sha256)),
            EntryValue::Error(e) => format!("UNREADABLE: {e}"),
        }
    }
}

/// The human listing of `entries`, one line each, indented by `indent`.
pub fn human_table(entries: &[Entry], indent: &str) -> String {
    let mut s = String::new();
    if entries.is_empty() {
        let _ = writeln!(s, "{indent}(no entries)");
        return s;
    }
    let wn = entries.iter().map(|e| e.namespace.len()).max().unwrap_or(0).max(9);
    let wk = entries.iter().map(|e| e.key.len()).max().unwrap_or(0).max(3);
    let _ = writeln!(s, "{indent}{:<wn$}  {:<wk$}  {:<6}  value", "namespace", "key", "type");
    for e in entries {
        let _ = writeln!(
            s,
            "{indent}{:<wn$}  {:<wk$}  {:<6}  {}",
            e.namespace,
            e.key,
            e.ty.name(),
            e.human_value()
        );
    }
    s
}

/// "N entries in M namespaces", singular where it applies.
pub fn count_line(entries: &[Entry]) -> String {
    let mut names: Vec<&str> = entries.iter().map(|e| e.namespace.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let plural = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    format!(
        "{} in {}",
        plural(entries.len(), "entry", "entries"),
        plural(names.len(), "namespace", "namespaces")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_exact_json_numbers() {
        assert_eq!(int_json(i128::from(u64::MAX)).to_string(), "18446744073709551615");
        assert_eq!(int_json(i128::from(i64::MIN)).to_string(), "-9223372036854775808");
        assert_eq!(int_json(-1).to_string(), "-1");
        assert_eq!(int_json(0).to_string(), "0");
    }

    #[test]
    fn non_utf8_strings_keep_their_bytes() {
        let e = Entry {
            namespace: "n".into(),
            key: "k".into(),
            ty: ValueType::Str,
            value: EntryValue::Str(vec![b'a', 0xFF, b'b']),
        };
        let j = e.to_json();
        assert_eq!(j["value"], "a\u{FFFD}b");
        assert_eq!(j["value_hex"], "61ff62");
        assert_eq!(j["utf8"], false);
        assert_eq!(j["len"], 3);
        assert!(e.human_value().contains("not UTF-8"));
    }

    #[test]
    fn long_strings_are_cut_in_the_human_form_only() {
        let long = "x".repeat(100);
        let e = Entry {
            namespace: "n".into(),
            key: "k".into(),
            ty: ValueType::Str,
            value: EntryValue::Str(long.clone().into_bytes()),
        };
        assert_eq!(e.to_json()["value"], long.as_str());
        let h = e.human_value();
        assert!(h.contains('…') && h.contains("(100 bytes)") && h.len() < 100, "{h}");
    }
}
