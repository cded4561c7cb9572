//! Property tests: the PEM/DER checks never panic on any input; sealing round-trips.

use at_certstore::format;
use at_certstore::{Item, SealKey, Sealed, demo};
use at_hal::kv::{Kv, KvError, MemKv, Value};
use at_hal::system::Entropy;
use proptest::prelude::*;

/// Every checker on one input; the results are discarded, the point is "no panic".
fn check_all(bytes: &[u8]) {
    for item in Item::ALL {
        let _ = format::validate(item, bytes);
    }
    let certs = format::parse_certificates(bytes);
    let key = format::parse_private_key(bytes);
    // Anything that parses also goes through the key/certificate comparison.
    if let (Ok(certs), Ok(key)) = (certs, key) {
        for cert in &certs {
            let _ = format::key_matches_certificate(&key, cert);
        }
    }
    let demo_key = format::parse_private_key(demo::SERVER_KEY).expect("demo key");
    if let Ok(certs) = format::parse_certificates(bytes) {
        for cert in &certs {
            let _ = format::key_matches_certificate(&demo_key, cert);
        }
    }
    if let Ok(key) = format::parse_private_key(bytes) {
        let demo_cert = format::parse_certificates(demo::SERVER_CERT).expect("demo cert");
        let _ = format::key_matches_certificate(&key, &demo_cert[0]);
    }
}

/// Inputs that look like what the checkers expect, then damaged: real PEM/DER with bytes
/// replaced, inserted or cut.
fn damaged() -> impl Strategy<Value = Vec<u8>> {
    let seeds: Vec<&'static [u8]> = vec![
        demo::SERVER_CERT,
        demo::SERVER_KEY,
        demo::CA_CERT,
        include_bytes!("data/rsa_cert.der"),
        include_bytes!("data/rsa_pkcs1_key.der"),
        include_bytes!("data/ec_sec1_with_params.pem"),
        include_bytes!("data/p256_pkcs8_key.der"),
    ];
    (
        prop::sample::select(seeds),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    )
        .prop_map(|(seed, edits)| {
            let mut v = seed.to_vec();
            for (at, byte, op) in edits {
                if v.is_empty() {
                    break;
                }
                let i = at.index(v.len());
                match op {
                    0 => v[i] = byte,
                    1 => v.insert(i, byte),
                    _ => v.truncate(i),
                }
            }
            v
        })
}

/// Fragments of PEM armour and DER headers glued together.
fn pem_soup() -> impl Strategy<Value = Vec<u8>> {
    let parts: Vec<&'static [u8]> = vec![
        b"-----BEGIN ",
        b"-----END ",
        b"-----",
        b"CERTIFICATE",
        b"PRIVATE KEY",
        b"EC PRIVATE KEY",
        b"RSA PRIVATE KEY",
        b"EC PARAMETERS",
        b"Proc-Type: 4,ENCRYPTED",
        b"\n",
        b"\r\n",
        b"MIIB",
        b"AAAA",
        b"====",
        b"\x30\x82\xff\xff",
        b"\x30\x80",
        b"\x00",
    ];
    prop::collection::vec(prop::sample::select(parts), 0..24).prop_map(|v| v.concat())
}

struct PropRng(u64);
impl Entropy for PropRng {
    fn fill_bytes(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            *b = (self.0 >> 33) as u8;
        }
    }
}

fn name() -> impl Strategy<Value = String> {
    "[a-z_.0-9]{1,15}"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn checkers_never_panic_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        check_all(&bytes);
    }

    #[test]
    fn checkers_never_panic_on_damaged_pem_and_der(bytes in damaged()) {
        check_all(&bytes);
    }

    #[test]
    fn checkers_never_panic_on_pem_soup(bytes in pem_soup()) {
        check_all(&bytes);
    }

    #[test]
    fn seal_open_round_trips(
        ns in name(),
        key in name(),
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        int in any::<i64>(),
        which in 0u8..4,
        seed in any::<u64>(),
    ) {
        let mut kv = Sealed::new(MemKv::new(), SealKey::from_bytes([9; 32]), PropRng(seed));
        let value = match which {
            0 => Value::Blob(&bytes),
            1 => Value::I64(int),
            2 => Value::U16(int as u16),
            _ => Value::I8(int as i8),
        };
        kv.set(&ns, &key, value).unwrap();
        let info = kv.info(&ns, &key).unwrap();
        prop_assert_eq!(info.value_type, value.value_type());
        prop_assert_eq!(info.len, value.len());
        let mut buf = vec![0u8; info.len];
        prop_assert_eq!(kv.get(&ns, &key, &mut buf), Ok(value));
    }

    #[test]
    fn opening_random_inner_bytes_fails_cleanly(
        bytes in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut kv = Sealed::new(MemKv::new(), SealKey::from_bytes([9; 32]), PropRng(1));
        kv.inner_mut().set("ns", "k", Value::Blob(&bytes)).unwrap();
        let mut buf = [0u8; 256];
        prop_assert_eq!(kv.get("ns", "k", &mut buf), Err(KvError::Authentication));
        prop_assert_eq!(kv.info("ns", "k"), Err(KvError::Authentication));
    }
}
