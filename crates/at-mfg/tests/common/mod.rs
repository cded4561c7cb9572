//! Shared helpers: run the built `at-mfg` binary, fixture paths, the gzipped dumps, and the
//! contents the fixture CSVs describe (written out by hand from `fixtures/nvs/csv/*.csv`).
#![allow(dead_code)] // each test binary uses a subset

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

/// `fixtures/nvs`.
pub fn nvs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/nvs")
}

/// `fixtures/flash`.
pub fn flash_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/flash")
}

/// `fixtures/nvs/<name>`.
pub fn nvs(name: &str) -> PathBuf {
    nvs_dir().join(name)
}

/// `fixtures/flash/<name>`.
pub fn flash(name: &str) -> PathBuf {
    flash_dir().join(name)
}

/// The test flash-encryption key file.
pub fn fe_key() -> PathBuf {
    flash("inputs/fe_key.bin")
}

/// What a run of the binary gave.
pub struct Run {
    /// Exit code (-1 if killed by a signal).
    pub code: i32,
    /// Standard output, raw.
    pub stdout: Vec<u8>,
    /// Standard error, as text.
    pub stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.code,
            String::from_utf8_lossy(&self.stdout),
            self.stderr
        )
    }
}

impl Run {
    /// Standard output as text.
    pub fn text(&self) -> String {
        String::from_utf8(self.stdout.clone()).expect("stdout is UTF-8")
    }

    /// Standard output parsed as exactly one JSON document (`from_slice` on all of it).
    pub fn json(&self) -> Json {
        serde_json::from_slice(&self.stdout).unwrap_or_else(|e| {
            panic!("stdout is not one JSON document: {e}\n{}\nstderr: {}", self.text(), self.stderr)
        })
    }
}

/// Run `at-mfg` with `args` in `cwd` (default: this crate's directory).
pub fn run<S: AsRef<OsStr>>(args: &[S], cwd: Option<&Path>) -> Run {
    let mut c = Command::new(env!("CARGO_BIN_EXE_at-mfg"));
    c.args(args);
    if let Some(d) = cwd {
        c.current_dir(d);
    }
    let out = c.output().expect("run at-mfg");
    let r = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(!r.stderr.contains("panicked"), "at-mfg panicked: {}", r.stderr);
    assert!(r.code >= 0, "at-mfg was killed: {r:?}");
    r
}

/// `at-mfg inspect <image> <extra...> --json`, checked to be one JSON document.
pub fn inspect_json<S: AsRef<OsStr>>(image: &Path, extra: &[S]) -> (i32, Json) {
    let mut args: Vec<&OsStr> = vec![OsStr::new("inspect"), image.as_os_str()];
    args.extend(extra.iter().map(AsRef::as_ref));
    args.push(OsStr::new("--json"));
    let r = run(&args, None);
    (r.code, r.json())
}

/// Decompress `fixtures/flash/dumps/<name>.bin.gz` into `dir`.
pub fn dump(name: &str, dir: &Path) -> PathBuf {
    let gz = std::fs::read(flash(&format!("dumps/{name}.bin.gz"))).expect("dump fixture");
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut raw).expect("gunzip");
    let p = dir.join(format!("{name}.bin"));
    std::fs::write(&p, raw).expect("write dump");
    p
}

/// Lower-case hex SHA-256.
pub fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of a file.
pub fn sha256_file(p: &Path) -> String {
    sha256(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
}

/// The `entries` array of a report (or of one partition) keyed by (namespace, key), each
/// checked to carry the mandatory fields.
pub fn entries(v: &Json) -> BTreeMap<(String, String), Json> {
    let arr = v["entries"].as_array().unwrap_or_else(|| panic!("no entries array in {v}"));
    let mut m = BTreeMap::new();
    for e in arr {
        let ns = e["namespace"].as_str().expect("namespace").to_string();
        let key = e["key"].as_str().expect("key").to_string();
        let ty = e["type"].as_str().expect("type");
        if ty == "blob" {
            assert!(e["len"].is_u64() && e["sha256"].is_string() && e.get("value").is_none(), "{e}");
        } else {
            assert!(e.get("value").is_some(), "{e}");
        }
        assert!(m.insert((ns, key), e.clone()).is_none(), "duplicate entry {e}");
    }
    m
}

// ---- Expected contents (from the CSVs) -------------------------------------------------------

/// One expected entry: namespace, key, and the JSON object the report must hold for it.
pub type Expected = Vec<(&'static str, &'static str, Json)>;

fn int(ty: &str, v: impl Into<Json>) -> Json {
    json!({ "type": ty, "value": v.into() })
}

fn string(v: &str) -> Json {
    json!({ "type": "string", "value": v, "len": v.len() })
}

fn blob(b: &[u8]) -> Json {
    json!({ "type": "blob", "len": b.len(), "sha256": sha256(b) })
}

fn pem(name: &str) -> Json {
    blob(&std::fs::read(nvs(&format!("pem/{name}"))).expect("pem"))
}

/// `csv/single_ns.csv`.
pub fn single_ns() -> Expected {
    vec![
        ("at_certs", "cfg_version", int("u8", 7)),
        ("at_certs", "uart_baud", int("u32", 115200)),
        ("at_certs", "module_name", string("ESP32C3-TEST")),
        ("at_certs", "server_cert", pem("server_cert.pem")),
        ("at_certs", "server_key", pem("server_key.pem")),
        ("at_certs", "server_ca", pem("server_ca.pem")),
        ("at_certs", "client_cert", pem("client_cert.pem")),
    ]
}

/// `csv/multipage.csv`.
pub fn multipage() -> Expected {
    vec![
        ("at_certs", "server_key", pem("server_key.pem")),
        ("at_certs", "ca_bundle", pem("ca_bundle.pem")),
        ("misc", "counter", int("i32", -42)),
        ("misc", "big_u64", int("u64", u64::MAX)),
        ("misc", "i64v", int("i64", i64::MIN)),
        ("misc", "u16v", int("u16", 65535)),
        ("misc", "i16v", int("i16", -32768)),
        ("misc", "i8v", int("i8", -128)),
        ("misc", "u8v", int("u8", 255)),
        ("misc", "u32v", int("u32", u32::MAX)),
        ("misc", "i32v", int("i32", i32::MIN)),
        ("misc", "note", string("multi, page")),
    ]
}

/// `csv/mfg_nvs.csv`.
pub fn mfg_nvs() -> Expected {
    vec![
        ("server_cert", "server_cert", pem("server_cert.pem")),
        ("server_key", "server_key", pem("server_key.pem")),
        ("server_ca", "server_ca", pem("server_ca.pem")),
        ("client_cert", "client_cert.0", pem("client_cert.pem")),
        ("client_key", "client_key.0", pem("client_key.pem")),
        ("client_ca", "client_ca.0", pem("client_ca.pem")),
        ("factory_param", "version", int("i8", 4)),
        ("factory_param", "module_name", string("MINI-1")),
        ("factory_param", "max_tx_power", int("i8", 78)),
        ("factory_param", "country_code", string("CN")),
        ("factory_param", "start_channel", int("u8", 1)),
        ("factory_param", "channel_num", int("u8", 13)),
        ("factory_param", "uart_port", int("i8", 1)),
        ("factory_param", "uart_baudrate", int("i32", 115200)),
        ("factory_param", "uart_tx_pin", int("i32", 7)),
        ("factory_param", "uart_rx_pin", int("i32", 6)),
        ("factory_param", "uart_cts_pin", int("i32", 5)),
        ("factory_param", "uart_rts_pin", int("i32", 4)),
        ("factory_param", "sys_store", int("u8", 1)),
    ]
}

/// `csv/all_types.csv`, as the tool writes it (entries after a re-opened namespace go to the
/// newest namespace).
pub fn all_types() -> Expected {
    let mut sz_filled = 3u32.to_le_bytes().to_vec();
    sz_filled.extend_from_slice(b"xyz");
    sz_filled.extend_from_slice(&[0; 5]);
    let mut filled = b"abc".to_vec();
    filled.extend_from_slice(&[0xAA; 13]);
    let pem_str = String::from_utf8(std::fs::read(nvs("pem/client_ca.pem")).expect("pem")).expect("utf8");
    vec![
        ("types", "u8_min", int("u8", 0)),
        ("types", "u8_max", int("u8", 255)),
        ("types", "i8_min", int("i8", -128)),
        ("types", "i8_max", int("i8", 127)),
        ("types", "u16_max", int("u16", 65535)),
        ("types", "i16_min", int("i16", -32768)),
        ("types", "u32_max", int("u32", u32::MAX)),
        ("types", "i32_min", int("i32", i32::MIN)),
        ("types", "u64_max", int("u64", u64::MAX)),
        ("types", "i64_min", int("i64", i64::MIN)),
        ("types", "i64_neg", int("i64", -42)),
        ("types", "str", string("ESP32C3-TEST")),
        ("types", "str_quoted", string("a \"quoted\", string")),
        ("types", "str_empty", string("")),
        ("types", "str_utf8", string("grüße")),
        ("types", "pem_as_str", string(&pem_str)),
        ("types", "hexblob", blob(&[0xDE, 0xAD, 0xBE, 0xEF, 0x00, 0x01])),
        ("types", "b64", blob(b"Hello, NVS!")),
        ("types", "bin_txt", blob(b"plain text as binary")),
        ("types", "filled", blob(&filled)),
        ("types", "sz_filled", blob(&sz_filled)),
        (
            "types",
            "hexfile",
            blob(&[
                0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee,
                0xff, 0xfe,
            ]),
        ),
        ("types", "b64file", blob(&(0u8..32).collect::<Vec<_>>())),
        ("types", "empty_blob", blob(&[])),
        ("other", "k", int("u8", 1)),
        ("other", "again", int("u8", 2)),
    ]
}

/// Assert that a report's entries are exactly `want`: the same (namespace, key) set, and for
/// each the same type and value (integers exact, strings whole, blobs by length and SHA-256).
pub fn assert_entries(report: &Json, want: &Expected, what: &str) {
    let got = entries(report);
    let want_keys: Vec<(String, String)> =
        want.iter().map(|(n, k, _)| (n.to_string(), k.to_string())).collect();
    let mut sorted = want_keys.clone();
    sorted.sort();
    assert_eq!(got.keys().cloned().collect::<Vec<_>>(), sorted, "{what}: the set of entries");
    for (ns, key, w) in want {
        let e = &got[&(ns.to_string(), key.to_string())];
        for (field, value) in w.as_object().expect("object") {
            assert_eq!(&e[field], value, "{what}: {ns}/{key}: field {field} of {e}");
        }
    }
}

/// Text with every run of whitespace (line breaks of the wrapped report) made one space.
pub fn flat(t: &str) -> String {
    t.split_whitespace().collect::<Vec<_>>().join(" ")
}
