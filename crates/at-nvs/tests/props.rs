//! Property tests: random operation sequences against a `BTreeMap` model (with remounts and
//! full partitions), and arbitrary or mutated flash contents that must never panic.

mod common;

use std::collections::BTreeMap;

use at_hal::kv::{Kv, KvError, Value, ValueType};
use at_mock::flash::MockFlash;
use at_nvs::{Nvs, NvsKeys, classify};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum V {
    Int(ValueType, i64),
    Str(Vec<u8>),
    Blob(Vec<u8>),
}

impl V {
    fn value(&self) -> Value<'_> {
        match self {
            V::Int(ValueType::U8, v) => Value::U8(*v as u8),
            V::Int(ValueType::I16, v) => Value::I16(*v as i16),
            V::Int(ValueType::U32, v) => Value::U32(*v as u32),
            V::Int(_, v) => Value::I64(*v),
            V::Str(s) => Value::Str(s),
            V::Blob(b) => Value::Blob(b),
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Set(usize, usize, V),
    Erase(usize, usize),
    EraseNs(usize),
    Remount,
}

const NS: [&str; 3] = ["alpha", "beta", "gamma_namespace"];
const KEYS: [&str; 5] = ["k0", "k1", "server_cert", "x", "fifteen_chars_k"];

fn value() -> impl Strategy<Value = V> {
    prop_oneof![
        any::<u8>().prop_map(|v| V::Int(ValueType::U8, i64::from(v))),
        any::<i16>().prop_map(|v| V::Int(ValueType::I16, i64::from(v))),
        any::<u32>().prop_map(|v| V::Int(ValueType::U32, i64::from(v))),
        any::<i64>().prop_map(|v| V::Int(ValueType::I64, v)),
        proptest::collection::vec(1u8..=255, 0..200).prop_map(V::Str),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(V::Blob),
        proptest::collection::vec(any::<u8>(), 3000..9000).prop_map(V::Blob),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..NS.len(), 0..KEYS.len(), value()).prop_map(|(n, k, v)| Op::Set(n, k, v)),
        2 => (0..NS.len(), 0..KEYS.len()).prop_map(|(n, k)| Op::Erase(n, k)),
        1 => (0..NS.len()).prop_map(Op::EraseNs),
        1 => Just(Op::Remount),
    ]
}

type Model = BTreeMap<(String, String), Vec<u8>>;

fn enc(v: &Value<'_>) -> Vec<u8> {
    let mut out = vec![v.value_type() as u8];
    match v.as_bytes() {
        Some(b) => out.extend_from_slice(b),
        None => out.extend_from_slice(&v.as_integer().unwrap_or(0).to_le_bytes()),
    }
    out
}

fn view<K: Kv>(kv: &mut K) -> Model {
    let mut nss = Vec::new();
    kv.for_each_namespace(&mut |n| nss.push(n.to_string())).unwrap();
    let mut m = Model::new();
    for ns in nss {
        let mut keys = Vec::new();
        kv.for_each_entry(&ns, &mut |k, i| keys.push((k.to_string(), i.len))).unwrap();
        for (k, len) in keys {
            let mut buf = vec![0u8; len];
            let v = kv.get(&ns, &k, &mut buf).unwrap();
            m.insert((ns.clone(), k), enc(&v));
        }
    }
    m
}

fn run_ops(ops: &[Op], pages: usize, keys: Option<&NvsKeys>) -> Result<(), TestCaseError> {
    let mut flash = MockFlash::new(pages * 4096);
    let mut model = Model::new();
    let mut nvs = Nvs::mount(&mut flash, keys).unwrap();
    for op in ops {
        match op {
            Op::Set(n, k, v) => {
                let key = (NS[*n].to_string(), KEYS[*k].to_string());
                match nvs.set(NS[*n], KEYS[*k], v.value()) {
                    Ok(()) => {
                        model.insert(key, enc(&v.value()));
                    }
                    // A full partition refuses the value and keeps the old one.
                    Err(KvError::NoSpace) | Err(KvError::ValueTooLong { .. }) => {}
                    Err(e) => return Err(TestCaseError::fail(format!("set: {e}"))),
                }
            }
            Op::Erase(n, k) => {
                let key = (NS[*n].to_string(), KEYS[*k].to_string());
                let r = nvs.erase(NS[*n], KEYS[*k]);
                prop_assert_eq!(r.is_ok(), model.remove(&key).is_some(), "erase result {:?}", r);
            }
            Op::EraseNs(n) => {
                nvs.erase_namespace(NS[*n]).unwrap();
                model.retain(|(ns, _), _| ns != NS[*n]);
            }
            Op::Remount => {
                drop(nvs);
                let ro = view(&mut Nvs::mount_read_only(&mut flash, keys).unwrap());
                prop_assert_eq!(&ro, &model, "read-only remount");
                nvs = Nvs::mount(&mut flash, keys).unwrap();
            }
        }
        prop_assert_eq!(&view(&mut nvs), &model, "after {:?}", op);
    }
    drop(nvs);
    prop_assert_eq!(&view(&mut Nvs::mount(&mut flash, keys).unwrap()), &model, "final remount");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn ops_match_model(ops in proptest::collection::vec(op(), 1..60), pages in 3usize..7) {
        run_ops(&ops, pages, None)?;
    }

    #[test]
    fn ops_match_model_encrypted(ops in proptest::collection::vec(op(), 1..40)) {
        run_ops(&ops, 4, Some(&NvsKeys::new([9; 32], [10; 32])))?;
    }

    /// Arbitrary bytes: classify and mount (read-only, then read-write) never panic, and
    /// everything listed can be read.
    #[test]
    fn arbitrary_flash_never_panics(data in proptest::collection::vec(any::<u8>(), 0..4 * 4096)) {
        exercise(data);
    }

    /// Mutations of real images reach deep into the parser: bytes overwritten at random
    /// offsets, sometimes with page-header CRCs fixed up so that the pages stay valid.
    #[test]
    fn mutated_images_never_panic(
        which in 0usize..4,
        edits in proptest::collection::vec((any::<u16>(), any::<u8>()), 1..40),
        fix_crc in any::<bool>(),
    ) {
        let name = ["single_ns_plain.bin", "multipage_plain.bin", "all_types_v1.bin", "mfg_nvs_plain.bin"][which];
        let mut img = common::fixture(name);
        for (off, b) in edits {
            let i = off as usize % img.len();
            img[i] = b;
        }
        if fix_crc {
            for page in img.chunks_mut(4096) {
                let crc = at_nvs::crc::crc32(&page[4..28]);
                page[28..32].copy_from_slice(&crc.to_le_bytes());
            }
        }
        exercise(img);
    }
}

fn exercise(data: Vec<u8>) {
    let _ = classify(&mut MockFlash::from_image(data.clone()), None);
    let _ = classify(&mut MockFlash::from_image(data.clone()), Some(&NvsKeys::new([1; 32], [2; 32])));
    let mut flash = MockFlash::from_image(data.clone());
    if let Ok(mut nvs) = Nvs::mount_read_only(&mut flash, None) {
        read_all(&mut nvs);
    }
    assert_eq!(flash.data(), &data[..], "read-only mount changed the flash");
    if let Ok(mut nvs) = Nvs::mount(&mut flash, None) {
        read_all(&mut nvs);
        let _ = nvs.set("fuzz", "k", Value::Blob(&[0x5A; 700]));
        let _ = nvs.set("fuzz", "n", Value::U32(7));
        read_all(&mut nvs);
    }
}

fn read_all<K: Kv>(kv: &mut K) {
    let mut nss = Vec::new();
    let _ = kv.for_each_namespace(&mut |n| nss.push(n.to_string()));
    for ns in nss {
        let mut keys = Vec::new();
        let _ = kv.for_each_entry(&ns, &mut |k, i| keys.push((k.to_string(), i.len)));
        for (k, len) in keys {
            let mut buf = vec![0u8; len];
            // A CRC failure is an error, not a panic; anything listed must at least not panic.
            let _ = kv.get(&ns, &k, &mut buf);
        }
    }
}
