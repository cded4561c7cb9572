//! The CSV front end of Espressif's `nvs_partition_gen.py` (feature `std`).
//!
//! ```text
//! key,type,encoding,value
//! at_certs,namespace,,
//! cfg_version,data,u8,7
//! module_name,data,string,"ESP32C3-TEST"
//! server_cert,file,binary,pem/server_cert.pem
//! ```
//!
//! * The header names the columns `key`, `type`, `encoding`, `value` (any order). Lines whose
//!   first character is `#` are dropped before parsing; fields follow Python's `csv` module
//!   (`"` quoting, `""` escapes, quoted newlines).
//! * `type`: `namespace` (starts / re-opens a namespace), `file` (the value is a path, relative
//!   to `base_dir` — the tool uses its working directory), anything else is `data`.
//! * `encoding`: `u8`…`i64` (Python `int()` syntax: decimal, sign, `_` separators), `string`,
//!   `binary` (raw bytes), `hex2bin`, `base64` (lenient like `binascii.a2b_base64`),
//!   `blob_fill(N;0xBB)`, `blob_sz_fill(N;0xBB)`.
//! * The tool's Wi-Fi extras are reproduced: the first `sta.ssid`/`sta.pswd` row is followed by
//!   `sta.apinfo`, `sta.pmk`, `sta.apsw` entries.
//!
//! Output is byte-identical to `python -m esp_idf_nvs_partition_gen generate|encrypt` 0.3.0
//! for the same inputs (checked by `fixtures/gen-nvs.sh` and the golden tests). Known
//! differences, all for input the tool handles badly:
//!
//! * rows before any namespace, keys longer than 15 *bytes*, more than 254 namespaces: errors
//!   here (see [`ImageError`]); the tool writes broken images;
//! * `data,binary` values with non-ASCII characters: an error here; the tool writes a size in
//!   characters and data in UTF-8 bytes (an inconsistent item);
//! * `ap.ssid`/`ap.passwd`/`ap.authmode` combinations that make the tool derive a Wi-Fi PMK
//!   (PBKDF2-SHA1): an error here;
//! * encodings must be lower case (the tool lower-cases some, silently mis-encoding others);
//! * a UTF-8 byte-order mark is skipped (the tool fails on it).

use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::vec::Vec;

use at_hal::kv::Value;

use crate::crypto::NvsKeys;
use crate::image::{FormatVersion, ImageBuilder, ImageError};

/// Why a CSV could not be turned into an image.
#[derive(Debug)]
pub enum CsvError {
    /// A CSV or value file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        error: std::io::Error,
    },
    /// The header lacks a column.
    MissingColumn(&'static str),
    /// A row is invalid.
    Row {
        /// 1-based record number in the CSV (header = 1, comment lines not counted).
        record: usize,
        /// The row's key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// The image cannot be built.
    Image(ImageError),
}

impl core::fmt::Display for CsvError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CsvError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            CsvError::MissingColumn(c) => write!(f, "CSV header has no `{c}` column"),
            CsvError::Row { record, key, message } => write!(f, "record {record} (`{key}`): {message}"),
            CsvError::Image(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for CsvError {}

impl From<ImageError> for CsvError {
    fn from(e: ImageError) -> Self {
        CsvError::Image(e)
    }
}

/// Options of a generation run (the tool's `size`, `--version` and encryption key).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Partition size in bytes.
    pub size: usize,
    /// Format version.
    pub version: FormatVersion,
    /// NVS encryption keys (`encrypt` instead of `generate`).
    pub keys: Option<NvsKeys>,
}

/// Generate an image from CSV files, processed in order like the tool's several `input`
/// arguments; `file` rows are resolved against `base_dir`.
pub fn generate_files(csv_files: &[&Path], base_dir: &Path, opts: &Options) -> Result<Vec<u8>, CsvError> {
    let mut g = Generator::new(opts)?;
    for path in csv_files {
        let text = std::fs::read(path).map_err(|error| CsvError::Io { path: path.to_path_buf(), error })?;
        let text = String::from_utf8(text).map_err(|_| CsvError::Row {
            record: 0,
            key: String::new(),
            message: "CSV is not UTF-8".into(),
        })?;
        g.feed(&text, base_dir)?;
    }
    g.finish()
}

/// Generate an image from CSV text; `file` rows are resolved against `base_dir`.
pub fn generate(csv: &str, base_dir: &Path, opts: &Options) -> Result<Vec<u8>, CsvError> {
    let mut g = Generator::new(opts)?;
    g.feed(csv, base_dir)?;
    g.finish()
}

struct Generator {
    image: ImageBuilder,
    wifi_extras_written: bool,
    ap: [Option<String>; 3],
}

/// A row's value after reading files: text, or bytes from a file.
enum Raw {
    Text(String),
    Bytes(Vec<u8>),
}

impl Generator {
    fn new(opts: &Options) -> Result<Generator, CsvError> {
        Ok(Generator {
            image: ImageBuilder::new(opts.size, opts.version, opts.keys.as_ref())?,
            wifi_extras_written: false,
            ap: [None, None, None],
        })
    }

    fn finish(self) -> Result<Vec<u8>, CsvError> {
        Ok(self.image.finish()?)
    }

    fn feed(&mut self, text: &str, base_dir: &Path) -> Result<(), CsvError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        // Universal newlines, then drop comment lines (the tool filters lines, not records).
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        let kept: String = text.split_inclusive('\n').filter(|l| !l.starts_with('#')).collect();
        let mut records = parse_records(&kept).into_iter().filter(|r| !r.is_empty());
        let Some(header) = records.next() else { return Ok(()) };
        let col =
            |name: &'static str| header.iter().position(|h| h == name).ok_or(CsvError::MissingColumn(name));
        let (ck, ct, ce, cv) = (col("key")?, col("type")?, col("encoding")?, col("value")?);
        for (n, rec) in records.enumerate() {
            let field = |i: usize| rec.get(i).map(String::as_str);
            let key = field(ck).unwrap_or_default().to_string();
            let err = |message: String| CsvError::Row { record: n + 2, key: key.clone(), message };
            self.row(&key, field(ct), field(ce), field(cv), base_dir).map_err(|e| match e {
                RowError::Msg(m) => err(m),
                RowError::Image(i) => CsvError::Image(i),
                RowError::Io(path, error) => CsvError::Io { path, error },
            })?;
        }
        Ok(())
    }

    /// The tool's `write_entry` wrapper.
    fn row(
        &mut self,
        key: &str,
        ty: Option<&str>,
        encoding: Option<&str>,
        value: Option<&str>,
        base_dir: &Path,
    ) -> Result<(), RowError> {
        if key.chars().count() > 15 {
            return Err(RowError::Msg(format!("Length of key `{key}` should be <= 15 characters.")));
        }
        let encoding = encoding.unwrap_or_default();
        if let Some(slot) = ["ap.ssid", "ap.passwd", "ap.authmode"].iter().position(|k| *k == key) {
            let v = value.unwrap_or_default();
            if slot < 2 || v != "0" {
                self.ap[slot] = Some(v.to_string());
            }
            if self.ap.iter().all(|a| a.as_deref().is_some_and(|s| !s.is_empty())) {
                return Err(RowError::Msg("the ap.* PMK derivation of the tool is not supported".into()));
            }
        }
        if key == "sta.ssid" || key == "sta.pswd" {
            let raw = Raw::Text(value.unwrap_or_default().to_string());
            self.entry(key, raw, encoding)?;
            if !self.wifi_extras_written {
                let ff = "f".repeat(280);
                let zero = "0".repeat(64);
                for (k, v) in [("sta.apinfo", ff.as_str()), ("sta.pmk", zero.as_str()), ("sta.apsw", "0000")]
                {
                    self.entry(k, Raw::Text(v.to_string()), "hex2bin")?;
                }
                self.wifi_extras_written = true;
            }
            return Ok(());
        }
        match ty.unwrap_or_default() {
            "namespace" => Ok(self.image.namespace(key)?),
            "file" => {
                let rel = value.unwrap_or_default();
                let path = base_dir.join(rel);
                let bytes = std::fs::read(&path).map_err(|e| RowError::Io(path, e))?;
                self.entry(key, Raw::Bytes(bytes), encoding)
            }
            _ => {
                let v = value.ok_or_else(|| RowError::Msg("missing value".into()))?;
                self.entry(key, Raw::Text(v.to_string()), encoding)
            }
        }
    }

    /// The tool's `NVS.write_entry`: decode by encoding, then write.
    fn entry(&mut self, key: &str, raw: Raw, encoding: &str) -> Result<(), RowError> {
        let bytes_of = |raw: &Raw| -> Vec<u8> {
            match raw {
                Raw::Text(s) => s.as_bytes().to_vec(),
                Raw::Bytes(b) => b.clone(),
            }
        };
        let (encoding, raw) = match parse_fill(encoding) {
            Some((sz, len, pad)) => {
                let v = bytes_of(&raw);
                if v.len() > len {
                    return Err(RowError::Msg(format!("{key}: Value length exceeds specified length.")));
                }
                let mut data = Vec::new();
                if sz {
                    data.extend_from_slice(&(v.len() as u32).to_le_bytes());
                }
                data.extend_from_slice(&v);
                data.resize(data.len() + len - v.len(), pad);
                ("binary", Raw::Bytes(data))
            }
            None => (encoding, raw),
        };
        let value_err = |what: &str| RowError::Msg(format!("invalid {what} value"));
        match encoding {
            "u8" | "i8" | "u16" | "i16" | "u32" | "i32" | "u64" | "i64" => {
                let text = String::from_utf8(bytes_of(&raw)).map_err(|_| value_err(encoding))?;
                let n = parse_python_int(&text).ok_or_else(|| value_err(encoding))?;
                let range = || ImageError::IntOutOfRange(key.into());
                let v = match encoding {
                    "u8" => Value::U8(u8::try_from(n).map_err(|_| range())?),
                    "i8" => Value::I8(i8::try_from(n).map_err(|_| range())?),
                    "u16" => Value::U16(u16::try_from(n).map_err(|_| range())?),
                    "i16" => Value::I16(i16::try_from(n).map_err(|_| range())?),
                    "u32" => Value::U32(u32::try_from(n).map_err(|_| range())?),
                    "i32" => Value::I32(i32::try_from(n).map_err(|_| range())?),
                    "u64" => Value::U64(u64::try_from(n).map_err(|_| range())?),
                    _ => Value::I64(i64::try_from(n).map_err(|_| range())?),
                };
                Ok(self.image.entry(key, v)?)
            }
            "string" => {
                let s = String::from_utf8(bytes_of(&raw)).map_err(|_| value_err("UTF-8 string"))?;
                Ok(self.image.entry(key, Value::Str(s.as_bytes()))?)
            }
            "binary" => {
                if let Raw::Text(t) = &raw
                    && !t.is_ascii()
                {
                    return Err(RowError::Msg(
                        "non-ASCII `data,binary` value (use hex2bin or a file)".into(),
                    ));
                }
                Ok(self.image.entry(key, Value::Blob(&bytes_of(&raw)))?)
            }
            "hex2bin" => {
                let b = bytes_of(&raw);
                let data = decode_hex(b.trim_ascii()).ok_or_else(|| value_err("hex2bin"))?;
                Ok(self.image.entry(key, Value::Blob(&data))?)
            }
            "base64" => {
                let data = decode_base64(&bytes_of(&raw)).ok_or_else(|| value_err("base64"))?;
                Ok(self.image.entry(key, Value::Blob(&data))?)
            }
            other => Err(RowError::Msg(format!("{other}: Unsupported encoding"))),
        }
    }
}

enum RowError {
    Msg(String),
    Image(ImageError),
    Io(PathBuf, std::io::Error),
}

impl From<ImageError> for RowError {
    fn from(e: ImageError) -> Self {
        RowError::Image(e)
    }
}

/// `blob_fill(N;0xBB)` / `blob_sz_fill(N;0xBB)` (matched at the start, like `re.match`):
/// `(with size prefix, length, padding byte)`.
fn parse_fill(enc: &str) -> Option<(bool, usize, u8)> {
    let (sz, rest) = if let Some(r) = enc.strip_prefix("blob_sz_fill(") {
        (true, r)
    } else {
        (false, enc.strip_prefix("blob_fill(")?)
    };
    let (len, rest) = rest.split_once(';')?;
    if len.is_empty() || !len.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let hex = rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X"))?;
    let (pad, tail) = (hex.get(..2)?, hex.get(2..)?);
    if !tail.starts_with(')') {
        return None;
    }
    Some((sz, len.parse().ok()?, u8::from_str_radix(pad, 16).ok()?))
}

/// Python's `int(text)` for base 10: surrounding whitespace, an optional sign, digits with
/// single `_` between them.
fn parse_python_int(text: &str) -> Option<i128> {
    let t = text.trim();
    let (neg, digits) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let b = digits.as_bytes();
    if b.is_empty() || !b[0].is_ascii_digit() || !b[b.len() - 1].is_ascii_digit() {
        return None;
    }
    let mut v: i128 = 0;
    let mut prev_us = false;
    for &c in b {
        if c == b'_' {
            if prev_us {
                return None;
            }
            prev_us = true;
            continue;
        }
        prev_us = false;
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(i128::from(c - b'0'))?;
    }
    Some(if neg { -v } else { v })
}

/// `binascii.a2b_hex`: an even number of hex digits, nothing else.
fn decode_hex(s: &[u8]) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.chunks_exact(2)
        .map(|p| {
            let d = |c: u8| (c as char).to_digit(16);
            Some((d(p[0])? * 16 + d(p[1])?) as u8)
        })
        .collect()
}

/// `binascii.a2b_base64` (non-strict): characters outside the alphabet are skipped, `=` ends
/// the data once a quantum is complete, a dangling quantum is an error.
fn decode_base64(s: &[u8]) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut quad, mut pads, mut left) = (0u32, 0u32, 0u32);
    for &c in s {
        if c == b'=' {
            if quad >= 2 {
                pads += 1;
                if quad + pads >= 4 {
                    return Some(out);
                }
            }
            continue;
        }
        let Some(v) = val(c) else { continue };
        pads = 0;
        match quad {
            0 => left = v,
            1 => {
                out.push(((left << 2) | (v >> 4)) as u8);
                left = v & 0xF;
            }
            2 => {
                out.push(((left << 4) | (v >> 2)) as u8);
                left = v & 0x3;
            }
            _ => out.push(((left << 6) | v) as u8),
        }
        quad = (quad + 1) % 4;
    }
    if quad != 0 { None } else { Some(out) }
}

/// Split CSV text into records of fields, like Python's `csv.reader` with the default
/// ("excel") dialect: `,` separates, `"` quotes, `""` is a quote inside quotes, newlines end
/// a record unless quoted; after a closing quote, text up to the separator is appended.
fn parse_records(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut rec: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut at_start = true; // at the start of a field
    let mut line_has_content = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    in_quotes = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' if at_start => {
                in_quotes = true;
                at_start = false;
                line_has_content = true;
            }
            ',' => {
                rec.push(core::mem::take(&mut field));
                at_start = true;
                line_has_content = true;
            }
            '\n' => {
                if line_has_content || !field.is_empty() {
                    rec.push(core::mem::take(&mut field));
                }
                records.push(core::mem::take(&mut rec));
                at_start = true;
                line_has_content = false;
            }
            _ => {
                field.push(c);
                at_start = false;
                line_has_content = true;
            }
        }
    }
    if line_has_content || !field.is_empty() || in_quotes {
        rec.push(field);
        records.push(rec);
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_like_python() {
        let r = parse_records("a,\"b\"\"c\",d\n\"x\"y,z\np,q\"r,s\n \"t\",u\nv,\"w\nx\",y\n\nlast,");
        let want: Vec<Vec<&str>> = vec![
            vec!["a", "b\"c", "d"],
            vec!["xy", "z"],
            vec!["p", "q\"r", "s"],
            vec![" \"t\"", "u"],
            vec!["v", "w\nx", "y"],
            vec![],
            vec!["last", ""],
        ];
        assert_eq!(r, want);
    }

    #[test]
    fn base64_like_binascii() {
        let ok = |s: &str, want: &[u8]| assert_eq!(decode_base64(s.as_bytes()).as_deref(), Some(want), "{s}");
        ok("SGVsbG8=", b"Hello");
        ok("SGVsbG8==", b"Hello");
        ok("SG Vs\nbG8=", b"Hello");
        ok("SGVsbG8=extra", b"Hello");
        ok("=SGVs", b"Hel");
        ok("SG=Vs", b"Hel");
        ok("SGVs====", b"Hel");
        ok("", b"");
        ok("AB==CD", b"\x00");
        for bad in ["SGVsbG8", "S", "SG", "A===", "AB=C"] {
            assert_eq!(decode_base64(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn ints_like_python() {
        for (s, v) in [("1_000", 1000), (" 7 ", 7), ("+5", 5), ("-0", 0), ("007", 7), ("-128", -128)] {
            assert_eq!(parse_python_int(s), Some(v), "{s}");
        }
        for s in ["1__0", "_1", "1_", "0x10", "", "-", "1.0"] {
            assert_eq!(parse_python_int(s), None, "{s}");
        }
    }

    #[test]
    fn fill_encodings() {
        assert_eq!(parse_fill("blob_fill(16;0xAA)"), Some((false, 16, 0xAA)));
        assert_eq!(parse_fill("blob_sz_fill(8;0x00)"), Some((true, 8, 0)));
        assert_eq!(parse_fill("blob_fill(16;0xAA)trailing"), Some((false, 16, 0xAA)));
        assert_eq!(parse_fill("blob_fill(16;AA)"), None);
        assert_eq!(parse_fill("binary"), None);
    }

    #[test]
    fn hex() {
        assert_eq!(decode_hex(b"DEADbeef"), Some(vec![0xDE, 0xAD, 0xBE, 0xEF]));
        assert_eq!(decode_hex(b"abc"), None);
        assert_eq!(decode_hex(b"zz"), None);
    }

    #[test]
    fn row_errors_name_the_record() {
        let opts = Options { size: 0x3000, ..Options::default() };
        let e = generate("key,type,encoding,value\nns,namespace,,\nk,data,u8,256\n", Path::new("."), &opts)
            .unwrap_err();
        assert!(matches!(e, CsvError::Image(ImageError::IntOutOfRange(ref k)) if k == "k"), "{e}");
        let e = generate("key,type,encoding,value\nns,namespace,,\nk,data,u9,1\n", Path::new("."), &opts)
            .unwrap_err();
        assert!(matches!(e, CsvError::Row { record: 3, .. }), "{e}");
        let e = generate("key,type,value\n", Path::new("."), &opts).unwrap_err();
        assert!(matches!(e, CsvError::MissingColumn("encoding")));
        let e = generate(
            "key,type,encoding,value\nns,namespace,,\nf,file,binary,/nonexistent/x\n",
            Path::new("."),
            &opts,
        )
        .unwrap_err();
        assert!(matches!(e, CsvError::Io { .. }));
    }
}
