//! `Sealed` as a `Kv`: the at-hal conformance suite, and tamper detection.

use at_certstore::sealed::SEAL_OVERHEAD;
use at_certstore::{SealKey, Sealed};
use at_hal::kv::{EntryInfo, Kv, KvError, MemKv, Protection, Value, ValueType};
use at_hal::system::Entropy;

/// Deterministic xorshift test RNG (never for real use).
struct TestRng(u64);

impl Entropy for TestRng {
    fn fill_bytes(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            *b = self.0 as u8;
        }
    }
}

const KEY: [u8; 32] = [0x5a; 32];

fn sealed(inner: MemKv) -> Sealed<MemKv, TestRng> {
    Sealed::new(inner, SealKey::from_bytes(KEY), TestRng(0x9e37_79b9_7f4a_7c15))
}

fn raw(kv: &mut Sealed<MemKv, TestRng>, ns: &str, key: &str) -> Vec<u8> {
    let mut buf = vec![0u8; 8192];
    let v = kv.inner_mut().get(ns, key, &mut buf).expect("raw read");
    v.as_bytes().expect("stored as blob").to_vec()
}

#[test]
fn conformance() {
    at_hal::kv::conformance::run_all(|| sealed(MemKv::new()));
}

#[test]
fn conformance_with_a_capacity_bounded_inner_store() {
    at_hal::kv::conformance::run_all(|| sealed(MemKv::with_capacity(64 * 1024)));
}

#[test]
fn protection_is_authenticated() {
    assert_eq!(sealed(MemKv::new()).protection(), Protection::Authenticated);
}

#[test]
fn every_single_bit_flip_is_detected() {
    let mut kv = sealed(MemKv::new());
    let values: [(&str, Value<'_>); 3] = [
        ("blob", Value::Blob(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")),
        ("int", Value::I32(-77)),
        ("empty", Value::Str(b"")),
    ];
    for (key, value) in values {
        kv.set("ns", key, value).unwrap();
        let good = raw(&mut kv, "ns", key);
        assert_eq!(good.len(), value.len() + SEAL_OVERHEAD);
        for bit in 0..good.len() * 8 {
            let mut bad = good.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            kv.inner_mut().set("ns", key, Value::Blob(&bad)).unwrap();
            let mut buf = [0u8; 256];
            assert_eq!(kv.get("ns", key, &mut buf), Err(KvError::Authentication), "{key}: bit {bit}");
            assert_eq!(kv.info("ns", key), Err(KvError::Authentication), "{key}: info, bit {bit}");
        }
        kv.inner_mut().set("ns", key, Value::Blob(&good)).unwrap();
        let mut buf = [0u8; 256];
        assert_eq!(kv.get("ns", key, &mut buf), Ok(value), "{key} restored");
    }
}

#[test]
fn truncation_and_extension_are_detected() {
    let mut kv = sealed(MemKv::new());
    kv.set("ns", "k", Value::Blob(b"some certificate bytes")).unwrap();
    let good = raw(&mut kv, "ns", "k");
    for cut in 0..good.len() {
        kv.inner_mut().set("ns", "k", Value::Blob(&good[..cut])).unwrap();
        assert_eq!(kv.get("ns", "k", &mut [0; 64]), Err(KvError::Authentication), "cut at {cut}");
    }
    let mut longer = good.clone();
    longer.push(0);
    kv.inner_mut().set("ns", "k", Value::Blob(&longer)).unwrap();
    assert_eq!(kv.get("ns", "k", &mut [0; 64]), Err(KvError::Authentication));
}

#[test]
fn swapped_values_are_detected() {
    let mut kv = sealed(MemKv::new());
    kv.set("server_cert", "server_cert", Value::Blob(b"the server certificate")).unwrap();
    kv.set("server_key", "server_key", Value::Blob(b"the server private key")).unwrap();
    kv.set("client_cert", "client_cert.0", Value::Blob(b"client 0")).unwrap();
    kv.set("client_cert", "client_cert.1", Value::Blob(b"client 1")).unwrap();
    let cert = raw(&mut kv, "server_cert", "server_cert");
    let key = raw(&mut kv, "server_key", "server_key");
    let c0 = raw(&mut kv, "client_cert", "client_cert.0");
    let c1 = raw(&mut kv, "client_cert", "client_cert.1");
    // Across namespaces.
    kv.inner_mut().set("server_cert", "server_cert", Value::Blob(&key)).unwrap();
    kv.inner_mut().set("server_key", "server_key", Value::Blob(&cert)).unwrap();
    // Across keys of one namespace.
    kv.inner_mut().set("client_cert", "client_cert.0", Value::Blob(&c1)).unwrap();
    kv.inner_mut().set("client_cert", "client_cert.1", Value::Blob(&c0)).unwrap();
    // Renamed: a copy under a new key.
    kv.inner_mut().set("client_cert", "client_cert.2", Value::Blob(&c0)).unwrap();
    let mut buf = [0u8; 64];
    for (ns, k) in [
        ("server_cert", "server_cert"),
        ("server_key", "server_key"),
        ("client_cert", "client_cert.0"),
        ("client_cert", "client_cert.1"),
        ("client_cert", "client_cert.2"),
    ] {
        assert_eq!(kv.get(ns, k, &mut buf), Err(KvError::Authentication), "{ns}/{k}");
    }
}

#[test]
fn retyping_is_detected() {
    let mut kv = sealed(MemKv::new());
    kv.set("ns", "s", Value::Str(b"text")).unwrap();
    let mut stored = raw(&mut kv, "ns", "s");
    // Byte 1 is the logical type (Str = 9): relabel as Blob (10) and as U32 (5).
    for code in [10u8, 5] {
        stored[1] = code;
        kv.inner_mut().set("ns", "s", Value::Blob(&stored)).unwrap();
        assert_eq!(kv.get("ns", "s", &mut [0; 16]), Err(KvError::Authentication), "type code {code}");
    }
}

#[test]
fn wrong_key_is_detected_never_garbage() {
    let mut kv = sealed(MemKv::new());
    kv.set("server_key", "server_key", Value::Blob(b"secret")).unwrap();
    kv.set("factory_param", "uart_port", Value::I8(1)).unwrap();
    let inner = kv.into_inner();
    let mut other = Sealed::new(inner, SealKey::from_bytes([0xa5; 32]), TestRng(1));
    assert_eq!(other.get("server_key", "server_key", &mut [0; 64]), Err(KvError::Authentication));
    assert_eq!(other.get("factory_param", "uart_port", &mut []), Err(KvError::Authentication));
    assert_eq!(other.info("server_key", "server_key"), Err(KvError::Authentication));
    assert_eq!(other.for_each_entry("server_key", &mut |_, _| {}), Err(KvError::Authentication));
    // The right key still reads it.
    let mut right = sealed(other.into_inner());
    assert_eq!(right.get("server_key", "server_key", &mut [0; 64]), Ok(Value::Blob(b"secret")));
}

#[test]
fn listing_reports_logical_type_and_plaintext_length() {
    let mut kv = sealed(MemKv::new());
    kv.set("factory_param", "module_name", Value::Str(b"MINI-1")).unwrap();
    kv.set("factory_param", "uart_baudrate", Value::I32(115_200)).unwrap();
    let mut seen = Vec::new();
    kv.for_each_entry("factory_param", &mut |k, i| seen.push((k.to_owned(), i))).unwrap();
    assert_eq!(
        seen,
        [
            ("module_name".to_owned(), EntryInfo { value_type: ValueType::Str, len: 6 }),
            ("uart_baudrate".to_owned(), EntryInfo { value_type: ValueType::I32, len: 4 }),
        ]
    );
    let mut inner_seen = Vec::new();
    kv.inner_mut().for_each_entry("factory_param", &mut |k, i| inner_seen.push((k.to_owned(), i))).unwrap();
    assert!(inner_seen.iter().all(|(_, i)| i.value_type == ValueType::Blob), "underneath, all blobs");
}

#[test]
fn checked_listing_names_the_bad_entry() {
    let mut kv = sealed(MemKv::new());
    kv.set("ns", "good", Value::U8(1)).unwrap();
    kv.set("ns", "bad", Value::U8(2)).unwrap();
    let mut bad = raw(&mut kv, "ns", "bad");
    let last = bad.len() - 1;
    bad[last] ^= 0x80;
    kv.inner_mut().set("ns", "bad", Value::Blob(&bad)).unwrap();
    let mut seen = Vec::new();
    kv.for_each_entry_checked("ns", &mut |k, r| seen.push((k.to_owned(), r))).unwrap();
    assert_eq!(
        seen,
        [
            ("bad".to_owned(), Err(KvError::Authentication)),
            ("good".to_owned(), Ok(EntryInfo { value_type: ValueType::U8, len: 1 })),
        ]
    );
}

#[test]
fn names_keep_the_inner_limit_without_hidden_suffixes() {
    let mut kv = sealed(MemKv::new());
    kv.set("fifteen_chars_x", "fifteen_chars_y", Value::Blob(b"x")).unwrap();
    let mut keys = Vec::new();
    kv.inner_mut().for_each_entry("fifteen_chars_x", &mut |k, _| keys.push(k.to_owned())).unwrap();
    assert_eq!(keys, ["fifteen_chars_y"], "stored under the caller's own name");
    assert_eq!(kv.set("sixteen_chars_xx", "k", Value::U8(1)), Err(KvError::InvalidName));
}

#[test]
fn inner_errors_pass_through() {
    let mut inner = MemKv::new();
    inner.set_read_only(true);
    let mut kv = sealed(inner);
    assert_eq!(kv.set("ns", "k", Value::U8(1)), Err(KvError::ReadOnly));
    assert_eq!(kv.get("ns", "k", &mut []), Err(KvError::NotFound));
}
