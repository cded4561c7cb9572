//! Shared helpers for the behaviour tests: fixture loading and expected contents.
#![allow(dead_code)]

use std::path::PathBuf;

use at_hal::kv::{Kv, Value, ValueType};

/// `fixtures/nvs` of the repository.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/nvs")
}

/// A fixture file's bytes.
pub fn fixture(name: &str) -> Vec<u8> {
    let p = fixtures().join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// An expected value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    Int(ValueType, i128),
    Str(Vec<u8>),
    Blob(Vec<u8>),
}

impl Want {
    pub fn as_value(&self) -> Value<'_> {
        match self {
            Want::Int(t, v) => match t {
                ValueType::U8 => Value::U8(*v as u8),
                ValueType::I8 => Value::I8(*v as i8),
                ValueType::U16 => Value::U16(*v as u16),
                ValueType::I16 => Value::I16(*v as i16),
                ValueType::U32 => Value::U32(*v as u32),
                ValueType::I32 => Value::I32(*v as i32),
                ValueType::U64 => Value::U64(*v as u64),
                ValueType::I64 => Value::I64(*v as i64),
                _ => unreachable!(),
            },
            Want::Str(s) => Value::Str(s),
            Want::Blob(b) => Value::Blob(b),
        }
    }
}

pub type Expected = Vec<(&'static str, Vec<(&'static str, Want)>)>;

fn pem(name: &str) -> Want {
    Want::Blob(fixture(&format!("pem/{name}")))
}

fn int(t: ValueType, v: i128) -> Want {
    Want::Int(t, v)
}

fn s(v: &str) -> Want {
    Want::Str(v.as_bytes().to_vec())
}

/// Contents of `csv/single_ns.csv`.
pub fn single_ns() -> Expected {
    vec![(
        "at_certs",
        vec![
            ("cfg_version", int(ValueType::U8, 7)),
            ("uart_baud", int(ValueType::U32, 115200)),
            ("module_name", s("ESP32C3-TEST")),
            ("server_cert", pem("server_cert.pem")),
            ("server_key", pem("server_key.pem")),
            ("server_ca", pem("server_ca.pem")),
            ("client_cert", pem("client_cert.pem")),
        ],
    )]
}

/// Contents of `csv/multipage.csv`.
pub fn multipage() -> Expected {
    vec![
        ("at_certs", vec![("server_key", pem("server_key.pem")), ("ca_bundle", pem("ca_bundle.pem"))]),
        (
            "misc",
            vec![
                ("counter", int(ValueType::I32, -42)),
                ("big_u64", int(ValueType::U64, u64::MAX as i128)),
                ("i64v", int(ValueType::I64, i64::MIN as i128)),
                ("u16v", int(ValueType::U16, 65535)),
                ("i16v", int(ValueType::I16, -32768)),
                ("i8v", int(ValueType::I8, -128)),
                ("u8v", int(ValueType::U8, 255)),
                ("u32v", int(ValueType::U32, u32::MAX as i128)),
                ("i32v", int(ValueType::I32, i32::MIN as i128)),
                ("note", s("multi, page")),
            ],
        ),
    ]
}

/// Contents of `csv/mfg_nvs.csv` (ESP-AT's namespaces; factory_param of the C3 MINI-1).
pub fn mfg_nvs() -> Expected {
    vec![
        ("server_cert", vec![("server_cert", pem("server_cert.pem"))]),
        ("server_key", vec![("server_key", pem("server_key.pem"))]),
        ("server_ca", vec![("server_ca", pem("server_ca.pem"))]),
        ("client_cert", vec![("client_cert.0", pem("client_cert.pem"))]),
        ("client_key", vec![("client_key.0", pem("client_key.pem"))]),
        ("client_ca", vec![("client_ca.0", pem("client_ca.pem"))]),
        (
            "factory_param",
            vec![
                ("version", int(ValueType::I8, 4)),
                ("module_name", s("MINI-1")),
                ("max_tx_power", int(ValueType::I8, 78)),
                ("country_code", s("CN")),
                ("start_channel", int(ValueType::U8, 1)),
                ("channel_num", int(ValueType::U8, 13)),
                ("uart_port", int(ValueType::I8, 1)),
                ("uart_baudrate", int(ValueType::I32, 115200)),
                ("uart_tx_pin", int(ValueType::I32, 7)),
                ("uart_rx_pin", int(ValueType::I32, 6)),
                ("uart_cts_pin", int(ValueType::I32, 5)),
                ("uart_rts_pin", int(ValueType::I32, 4)),
                ("sys_store", int(ValueType::U8, 1)),
            ],
        ),
    ]
}

/// Contents of `csv/all_types.csv`, as the tool writes them (including its quirk of putting
/// entries after a re-opened namespace into the newest namespace).
pub fn all_types() -> Expected {
    let mut sz_filled = 3u32.to_le_bytes().to_vec();
    sz_filled.extend_from_slice(b"xyz");
    sz_filled.extend_from_slice(&[0; 5]);
    let mut filled = b"abc".to_vec();
    filled.extend_from_slice(&[0xAA; 13]);
    vec![
        (
            "types",
            vec![
                ("u8_min", int(ValueType::U8, 0)),
                ("u8_max", int(ValueType::U8, 255)),
                ("i8_min", int(ValueType::I8, -128)),
                ("i8_max", int(ValueType::I8, 127)),
                ("u16_max", int(ValueType::U16, 65535)),
                ("i16_min", int(ValueType::I16, -32768)),
                ("u32_max", int(ValueType::U32, u32::MAX as i128)),
                ("i32_min", int(ValueType::I32, i32::MIN as i128)),
                ("u64_max", int(ValueType::U64, u64::MAX as i128)),
                ("i64_min", int(ValueType::I64, i64::MIN as i128)),
                ("i64_neg", int(ValueType::I64, -42)),
                ("str", s("ESP32C3-TEST")),
                ("str_quoted", s("a \"quoted\", string")),
                ("str_empty", s("")),
                ("str_utf8", s("grüße")),
                ("pem_as_str", Want::Str(fixture("pem/client_ca.pem"))),
                ("hexblob", Want::Blob(vec![0xDE, 0xAD, 0xBE, 0xEF, 0x00, 0x01])),
                ("b64", Want::Blob(b"Hello, NVS!".to_vec())),
                ("bin_txt", Want::Blob(b"plain text as binary".to_vec())),
                ("filled", Want::Blob(filled)),
                ("sz_filled", Want::Blob(sz_filled)),
                (
                    "hexfile",
                    Want::Blob(vec![
                        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
                        0xee, 0xff, 0xfe,
                    ]),
                ),
                ("b64file", Want::Blob((0u8..32).collect())),
                ("empty_blob", Want::Blob(vec![])),
            ],
        ),
        ("other", vec![("k", int(ValueType::U8, 1)), ("again", int(ValueType::U8, 2))]),
    ]
}

/// Assert that `kv` holds exactly `want`: every value, and nothing else in the listings.
pub fn assert_contents<K: Kv>(kv: &mut K, want: &Expected, what: &str) {
    let mut namespaces = Vec::new();
    kv.for_each_namespace(&mut |n| namespaces.push(n.to_string())).unwrap();
    let mut want_ns: Vec<String> = want.iter().map(|(n, _)| n.to_string()).collect();
    namespaces.sort();
    want_ns.sort();
    assert_eq!(namespaces, want_ns, "{what}: namespaces");
    for (ns, entries) in want {
        let mut keys = Vec::new();
        kv.for_each_entry(ns, &mut |k, i| keys.push((k.to_string(), i))).unwrap();
        assert_eq!(keys.len(), entries.len(), "{what}: entries of {ns}: {keys:?}");
        for (key, w) in entries {
            let v = w.as_value();
            let info = kv.info(ns, key).unwrap_or_else(|e| panic!("{what}: info {ns}/{key}: {e}"));
            assert_eq!((info.value_type, info.len), (v.value_type(), v.len()), "{what}: info {ns}/{key}");
            assert!(keys.iter().any(|(k, i)| k == key && *i == info), "{what}: {ns}/{key} listed");
            let mut buf = vec![0u8; info.len];
            let got = kv.get(ns, key, &mut buf).unwrap_or_else(|e| panic!("{what}: get {ns}/{key}: {e}"));
            assert_eq!(got, v, "{what}: value of {ns}/{key}");
        }
    }
}
