//! The behaviour every [`Kv`] implementation must show, as a test suite to instantiate.
//!
//! ```ignore
//! #[test]
//! fn conformance() {
//!     at_hal::kv::conformance::run_all(|| MyStore::new_empty());
//! }
//! ```
//!
//! `make` must return a fresh, empty, writable store with room for at least 16 KiB of values
//! (an NVS partition of 8 pages is enough). The suite panics (it is test code) on the first
//! deviation, with a message naming the check.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::{EntryInfo, Kv, KvError, Value, ValueType};

/// Run every check in this module, each against a fresh store from `make`.
pub fn run_all<K: Kv>(mut make: impl FnMut() -> K) {
    names(&mut make());
    round_trip_every_type(&mut make());
    overwrite_replaces_value_and_type(&mut make());
    buffer_too_small(&mut make());
    erase(&mut make());
    erase_namespace(&mut make());
    listing(&mut make());
    many_keys(&mut make());
    large_blob(&mut make());
}

fn get_owned<K: Kv>(kv: &mut K, ns: &str, key: &str) -> Result<(ValueType, i128, Vec<u8>), KvError> {
    let info = kv.info(ns, key)?;
    let mut buf = vec![0u8; info.len];
    let v = kv.get(ns, key, &mut buf)?;
    assert_eq!(v.value_type(), info.value_type, "get/info type disagree for {ns}/{key}");
    assert_eq!(v.len(), info.len, "get/info length disagree for {ns}/{key}");
    Ok((v.value_type(), v.as_integer().unwrap_or(0), v.as_bytes().map(<[u8]>::to_vec).unwrap_or_default()))
}

/// Name rules: 1..=15 ASCII bytes, no NUL.
pub fn names<K: Kv>(kv: &mut K) {
    for bad in ["", "sixteen_chars_xx", "nul\0", "caf\u{e9}"] {
        assert_eq!(kv.set(bad, "k", Value::U8(1)), Err(KvError::InvalidName), "namespace {bad:?}");
        assert_eq!(kv.set("ns", bad, Value::U8(1)), Err(KvError::InvalidName), "key {bad:?}");
        assert_eq!(kv.get("ns", bad, &mut []), Err(KvError::InvalidName), "get key {bad:?}");
    }
    kv.set("fifteen_chars_x", "fifteen_chars_y", Value::U8(7)).expect("15-byte names");
    assert_eq!(kv.get("fifteen_chars_x", "fifteen_chars_y", &mut []), Ok(Value::U8(7)));
    assert_eq!(kv.get("fifteen_chars_x", "other", &mut []), Err(KvError::NotFound));
    assert_eq!(kv.get("nope", "other", &mut []), Err(KvError::NotFound));
    assert_eq!(kv.set("ns", "s", Value::Str(b"a\0b")), Err(KvError::InvalidString));
}

/// Every type round-trips, extremes included.
pub fn round_trip_every_type<K: Kv>(kv: &mut K) {
    let blob: Vec<u8> = (0..=255u8).collect();
    let values: [(&str, Value<'_>); 14] = [
        ("u8", Value::U8(u8::MAX)),
        ("i8", Value::I8(i8::MIN)),
        ("u16", Value::U16(u16::MAX)),
        ("i16", Value::I16(i16::MIN)),
        ("u32", Value::U32(u32::MAX)),
        ("i32", Value::I32(i32::MIN)),
        ("u64", Value::U64(u64::MAX)),
        ("i64", Value::I64(i64::MIN)),
        ("i64b", Value::I64(-42)),
        ("str", Value::Str(b"ESP32C3-TEST")),
        ("str_empty", Value::Str(b"")),
        ("str_bin", Value::Str(&[0xff, 0x80, b',', b'"'])),
        ("blob", Value::Blob(&blob)),
        ("blob_empty", Value::Blob(b"")),
    ];
    for (k, v) in values {
        kv.set("types", k, v).unwrap_or_else(|e| panic!("set {k}: {e}"));
    }
    for (k, v) in values {
        let (t, i, b) = get_owned(kv, "types", k).unwrap_or_else(|e| panic!("get {k}: {e}"));
        assert_eq!(t, v.value_type(), "type of {k}");
        assert_eq!(i, v.as_integer().unwrap_or(0), "value of {k}");
        assert_eq!(b, v.as_bytes().unwrap_or_default(), "bytes of {k}");
    }
}

/// Writing a key again replaces value and type.
pub fn overwrite_replaces_value_and_type<K: Kv>(kv: &mut K) {
    kv.set("ns", "k", Value::U8(1)).expect("set u8");
    kv.set("ns", "k", Value::U8(2)).expect("set u8 again");
    assert_eq!(kv.get("ns", "k", &mut []), Ok(Value::U8(2)));
    kv.set("ns", "k", Value::Str(b"now a string")).expect("set str");
    let (t, _, b) = get_owned(kv, "ns", "k").expect("get str");
    assert_eq!((t, b.as_slice()), (ValueType::Str, &b"now a string"[..]));
    kv.set("ns", "k", Value::Blob(b"then a blob")).expect("set blob");
    let (t, _, b) = get_owned(kv, "ns", "k").expect("get blob");
    assert_eq!((t, b.as_slice()), (ValueType::Blob, &b"then a blob"[..]));
    kv.set("ns", "k", Value::I32(-5)).expect("set i32");
    assert_eq!(kv.get("ns", "k", &mut []), Ok(Value::I32(-5)));
    let mut n = 0;
    kv.for_each_entry("ns", &mut |_, _| n += 1).expect("list");
    assert_eq!(n, 1, "an overwritten key is listed once");
}

/// A short buffer is an error naming the size, not a truncation.
pub fn buffer_too_small<K: Kv>(kv: &mut K) {
    kv.set("ns", "b", Value::Blob(&[7; 40])).expect("set");
    let mut small = [0u8; 39];
    assert_eq!(kv.get("ns", "b", &mut small), Err(KvError::BufferTooSmall { needed: 40 }));
    let mut big = [0u8; 64];
    assert_eq!(kv.get("ns", "b", &mut big), Ok(Value::Blob(&[7; 40])));
}

/// Erase removes one key and nothing else.
pub fn erase<K: Kv>(kv: &mut K) {
    kv.set("ns", "a", Value::U8(1)).expect("set a");
    kv.set("ns", "b", Value::Blob(b"bee")).expect("set b");
    kv.erase("ns", "a").expect("erase a");
    assert_eq!(kv.get("ns", "a", &mut []), Err(KvError::NotFound));
    assert_eq!(kv.erase("ns", "a"), Err(KvError::NotFound));
    let (_, _, b) = get_owned(kv, "ns", "b").expect("b survives");
    assert_eq!(b, b"bee");
    kv.erase("ns", "b").expect("erase blob");
    assert_eq!(kv.info("ns", "b"), Err(KvError::NotFound));
    kv.set("ns", "b", Value::Blob(b"again")).expect("set after erase");
    assert_eq!(get_owned(kv, "ns", "b").expect("get").2, b"again");
}

/// Erasing a namespace leaves the others alone.
pub fn erase_namespace<K: Kv>(kv: &mut K) {
    kv.set("one", "a", Value::U8(1)).expect("set");
    kv.set("one", "b", Value::Str(b"x")).expect("set");
    kv.set("two", "a", Value::U8(2)).expect("set");
    kv.erase_namespace("one").expect("erase ns");
    assert_eq!(kv.get("one", "a", &mut []), Err(KvError::NotFound));
    assert_eq!(kv.info("one", "b"), Err(KvError::NotFound));
    assert_eq!(kv.get("two", "a", &mut []), Ok(Value::U8(2)));
    kv.erase_namespace("never_used").expect("erasing an empty namespace is Ok");
    let mut seen = Vec::new();
    kv.for_each_namespace(&mut |ns| seen.push(String::from(ns))).expect("list");
    assert_eq!(seen, ["two"], "a namespace with no entries is not listed");
}

/// Listing reports every namespace and entry, in a stable order.
pub fn listing<K: Kv>(kv: &mut K) {
    kv.set("certs", "server_cert", Value::Blob(b"cert")).expect("set");
    kv.set("certs", "server_key", Value::Blob(b"key!!")).expect("set");
    kv.set("factory", "module_name", Value::Str(b"MINI-1")).expect("set");
    kv.set("factory", "uart_port", Value::I8(1)).expect("set");
    let mut ns = Vec::new();
    kv.for_each_namespace(&mut |n| ns.push(String::from(n))).expect("list ns");
    ns.sort();
    assert_eq!(ns, ["certs", "factory"]);
    let mut entries = Vec::new();
    kv.for_each_entry("factory", &mut |k, i| entries.push((String::from(k), i))).expect("list entries");
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        entries,
        [
            (String::from("module_name"), EntryInfo { value_type: ValueType::Str, len: 6 }),
            (String::from("uart_port"), EntryInfo { value_type: ValueType::I8, len: 1 }),
        ]
    );
    let mut again = Vec::new();
    kv.for_each_entry("certs", &mut |k, _| again.push(String::from(k))).expect("list");
    let mut third = Vec::new();
    kv.for_each_entry("certs", &mut |k, _| third.push(String::from(k))).expect("list");
    assert_eq!(again, third, "listing order is stable");
    assert_eq!(again.len(), 2);
    let mut none = 0;
    kv.for_each_entry("absent", &mut |_, _| none += 1).expect("listing an unknown namespace is Ok");
    assert_eq!(none, 0);
}

/// Many small keys in one namespace.
pub fn many_keys<K: Kv>(kv: &mut K) {
    let name = |i: u32| {
        let mut s = String::from("key");
        s.push_str(&alloc::format!("{i}"));
        s
    };
    for i in 0..60u32 {
        kv.set("many", &name(i), Value::U32(i * 7)).expect("set many");
    }
    for i in (0..60u32).step_by(3) {
        kv.erase("many", &name(i)).expect("erase some");
    }
    for i in 0..60u32 {
        let got = kv.get("many", &name(i), &mut []);
        if i % 3 == 0 {
            assert_eq!(got, Err(KvError::NotFound), "{}", name(i));
        } else {
            assert_eq!(got, Ok(Value::U32(i * 7)), "{}", name(i));
        }
    }
}

/// A blob larger than one NVS page (4000-byte chunks) round-trips and can be replaced.
pub fn large_blob<K: Kv>(kv: &mut K) {
    let big: Vec<u8> = (0..5059u32).map(|i| (i * 31 % 251) as u8).collect();
    kv.set("pki", "ca_bundle", Value::Blob(&big)).expect("set big blob");
    assert_eq!(get_owned(kv, "pki", "ca_bundle").expect("get").2, big);
    let smaller: Vec<u8> = big.iter().rev().take(4500).copied().collect();
    kv.set("pki", "ca_bundle", Value::Blob(&smaller)).expect("replace big blob");
    assert_eq!(get_owned(kv, "pki", "ca_bundle").expect("get").2, smaller);
}
