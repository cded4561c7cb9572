//! `CertStore` behaviour: ESP-AT names, precise errors, credential loading, the SYSMFG path.

use at_certstore::format::{self, FormatError, PemLabel};
use at_certstore::names::{IndexError, MAX_INDEX};
use at_certstore::{
    AuthMode, CertError, CertStore, EntryName, Feature, Item, KeyFormat, MfgValue, PkiItem, PrivateKey,
    SealKey, Sealed, SecretBytes, demo,
};
use at_hal::kv::{EntryInfo, Kv, KvError, MemKv, Unreadable, Value, ValueType};
use at_hal::system::Entropy;
use zeroize::ZeroizeOnDrop;

fn provisioned() -> CertStore<MemKv> {
    let mut kv = MemKv::new();
    demo::provision(&mut kv).unwrap();
    CertStore::new(kv)
}

fn item(feature: Feature, item: Item, index: u16) -> PkiItem {
    PkiItem::new(feature, item, index).unwrap()
}

fn entry(ns: &str, key: &str) -> EntryName {
    EntryName::new(ns, key)
}

// ---------------------------------------------------------------------------------------------
// Names

#[test]
fn every_feature_uses_esp_at_names_exactly() {
    let expected: [(Feature, [&str; 3], bool); 6] = [
        (Feature::Client, ["client_cert", "client_key", "client_ca"], true),
        (Feature::Https, ["https_cert", "https_key", "https_ca"], true),
        (Feature::Wss, ["wss_cert", "wss_key", "wss_ca"], true),
        (Feature::Server, ["server_cert", "server_key", "server_ca"], false),
        (Feature::Mqtt, ["mqtt_cert", "mqtt_key", "mqtt_ca"], false),
        (Feature::WpaEnt, ["wpa_ent_cert", "wpa_ent_key", "wpa_ent_ca"], false),
    ];
    for (feature, namespaces, indexed) in expected {
        assert_eq!(feature.is_indexed(), indexed, "{feature}");
        for (it, ns) in Item::ALL.into_iter().zip(namespaces) {
            let p0 = item(feature, it, 0);
            assert_eq!(p0.namespace(), ns);
            if indexed {
                assert_eq!(p0.key().as_str(), format!("{ns}.0"));
                assert_eq!(item(feature, it, 1).key().as_str(), format!("{ns}.1"));
                assert_eq!(item(feature, it, 17).key().as_str(), format!("{ns}.17"));
            } else {
                assert_eq!(p0.key().as_str(), ns, "single-set key is the namespace itself");
                assert_eq!(PkiItem::new(feature, it, 1), Err(IndexError { feature, index: 1 }));
            }
            assert_eq!(PkiItem::parse(ns, p0.key().as_str()), Some(p0));
        }
    }
    assert_eq!(Feature::ALL.map(|f| f as u8), [1, 2, 3, 4, 5, 6], "ESP-AT's feature numbering");
}

#[test]
fn demo_provisioning_uses_esp_at_names() {
    let mut kv = MemKv::new();
    demo::provision(&mut kv).unwrap();
    let mut all = Vec::new();
    let mut namespaces = Vec::new();
    kv.for_each_namespace(&mut |ns| namespaces.push(ns.to_owned())).unwrap();
    for ns in &namespaces {
        kv.for_each_entry(ns, &mut |k, i| all.push((ns.clone(), k.to_owned(), i.value_type))).unwrap();
    }
    let blob = ValueType::Blob;
    let expect = [
        ("client_ca", "client_ca.0"),
        ("client_cert", "client_cert.0"),
        ("client_key", "client_key.0"),
        ("server_ca", "server_ca"),
        ("server_cert", "server_cert"),
        ("server_key", "server_key"),
    ];
    assert_eq!(all, expect.map(|(n, k)| (n.to_owned(), k.to_owned(), blob)));
}

// ---------------------------------------------------------------------------------------------
// Loading credentials

#[test]
fn server_credentials_load_from_the_demo_set() {
    let mut store = provisioned();
    let creds = store.load_server_credentials(false).unwrap();
    assert_eq!(creds.cert_chain.len(), 1);
    assert_eq!(creds.key.format(), KeyFormat::Pkcs8);
    assert!(creds.client_ca.is_none());
    let creds = store.load_server_credentials(true).unwrap();
    assert_eq!(creds.client_ca.as_ref().map(Vec::len), Some(1));
    // The server certificate's DER is what openssl wrote.
    let pem = std::str::from_utf8(demo::SERVER_CERT).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(creds.cert_chain[0].as_ref()[0], 0x30);
}

#[test]
fn client_credentials_follow_the_auth_mode() {
    let mut store = provisioned();
    let none = store.load_client_credentials(AuthMode::None, 0, 0).unwrap();
    assert!(none.identity.is_none() && none.server_ca.is_none());
    let cert = store.load_client_credentials(AuthMode::ClientCert, 0, 0).unwrap();
    assert!(cert.identity.is_some() && cert.server_ca.is_none());
    let verify = store.load_client_credentials(AuthMode::VerifyServer, 0, 0).unwrap();
    assert!(verify.identity.is_none() && verify.server_ca.is_some());
    let mutual = store.load_client_credentials(AuthMode::Mutual, 0, 0).unwrap();
    assert_eq!(mutual.auth_mode, AuthMode::Mutual);
    assert_eq!(mutual.identity.as_ref().map(|i| i.cert_chain.len()), Some(1));
    assert_eq!(mutual.server_ca.as_ref().map(Vec::len), Some(1));
    // Modes 0 and 2 read no client key: a missing pki index does not matter to them.
    assert!(store.load_client_credentials(AuthMode::VerifyServer, 7, 0).is_ok());
    assert_eq!(AuthMode::from_code(3), Some(AuthMode::Mutual));
    assert_eq!(AuthMode::from_code(4), None);
}

#[test]
fn missing_items_name_their_namespace_and_key() {
    let mut store = CertStore::new(MemKv::new());
    let err = store.load_server_credentials(false).unwrap_err();
    assert_eq!(err, CertError::Missing { entry: entry("server_cert", "server_cert") });
    assert_eq!(err.to_string(), "server_cert/server_cert: not found");

    store.kv_mut().set("server_cert", "server_cert", Value::Blob(demo::SERVER_CERT)).unwrap();
    assert_eq!(
        store.load_server_credentials(false).unwrap_err(),
        CertError::Missing { entry: entry("server_key", "server_key") }
    );
    store.kv_mut().set("server_key", "server_key", Value::Blob(demo::SERVER_KEY)).unwrap();
    assert!(store.load_server_credentials(false).is_ok());
    assert_eq!(
        store.load_server_credentials(true).unwrap_err(),
        CertError::Missing { entry: entry("server_ca", "server_ca") }
    );

    let mut store = provisioned();
    let err = store.load_client_credentials(AuthMode::Mutual, 1, 0).unwrap_err();
    assert_eq!(err, CertError::Missing { entry: entry("client_cert", "client_cert.1") });
    assert_eq!(err.to_string(), "client_cert/client_cert.1: not found");
    assert_eq!(
        store.load_client_credentials(AuthMode::Mutual, 0, 2).unwrap_err(),
        CertError::Missing { entry: entry("client_ca", "client_ca.2") }
    );
    assert_eq!(
        store.load_client_credentials(AuthMode::Mutual, MAX_INDEX + 1, 0).unwrap_err(),
        CertError::Index(IndexError { feature: Feature::Client, index: MAX_INDEX + 1 })
    );
}

#[test]
fn empty_value_is_cert_len_zero_not_a_parse_error() {
    let mut store = provisioned();
    store.kv_mut().set("server_cert", "server_cert", Value::Blob(b"")).unwrap();
    let err = store.load_server_credentials(false).unwrap_err();
    assert_eq!(err, CertError::Empty { entry: entry("server_cert", "server_cert") });
    assert_eq!(err.to_string(), "server_cert/server_cert: empty (length 0)");
    assert!(err.remedy().unwrap().contains("flash-encrypted"));
    // Same for an empty string entry and for a key.
    store.kv_mut().set("server_cert", "server_cert", Value::Blob(demo::SERVER_CERT)).unwrap();
    store.kv_mut().set("server_key", "server_key", Value::Str(b"")).unwrap();
    assert_eq!(
        store.load_server_credentials(false).unwrap_err(),
        CertError::Empty { entry: entry("server_key", "server_key") }
    );
    // Writing an empty item is refused the same way.
    assert_eq!(
        store.write(item(Feature::Mqtt, Item::Ca, 0), b""),
        Err(CertError::Empty { entry: entry("mqtt_ca", "mqtt_ca") })
    );
}

#[test]
fn invalid_content_is_named() {
    let mut store = provisioned();
    store.kv_mut().set("server_cert", "server_cert", Value::Blob(b"hello, I am not a certificate")).unwrap();
    let err = store.load_server_credentials(false).unwrap_err();
    assert_eq!(
        err,
        CertError::Invalid {
            entry: entry("server_cert", "server_cert"),
            item: Item::Cert,
            problem: FormatError::NotPemOrDer
        }
    );
    assert_eq!(
        err.to_string(),
        "server_cert/server_cert: not a valid PEM/DER certificate: neither PEM nor DER"
    );

    // A key where the certificate belongs.
    store.kv_mut().set("server_cert", "server_cert", Value::Blob(demo::SERVER_KEY)).unwrap();
    assert_eq!(
        store.load_server_credentials(false).unwrap_err(),
        CertError::Invalid {
            entry: entry("server_cert", "server_cert"),
            item: Item::Cert,
            problem: FormatError::UnexpectedBlock { block: 0, found: PemLabel::PrivateKey }
        }
    );

    // An integer where a blob belongs.
    store.kv_mut().set("server_cert", "server_cert", Value::U8(0)).unwrap();
    assert_eq!(
        store.load_server_credentials(false).unwrap_err(),
        CertError::WrongType { entry: entry("server_cert", "server_cert"), found: ValueType::U8 }
    );
}

#[test]
fn write_validates_then_stores_a_blob() {
    let mut store = CertStore::new(MemKv::new());
    let https_ca = item(Feature::Https, Item::Ca, 3);
    assert_eq!(
        store.write(https_ca, b"garbage"),
        Err(CertError::Invalid {
            entry: entry("https_ca", "https_ca.3"),
            item: Item::Ca,
            problem: FormatError::NotPemOrDer
        })
    );
    assert_eq!(store.contains(https_ca), Ok(false));
    store.write(https_ca, demo::CA_CERT).unwrap();
    assert_eq!(store.contains(https_ca), Ok(true));
    assert_eq!(
        store.kv_mut().info("https_ca", "https_ca.3"),
        Ok(EntryInfo { value_type: ValueType::Blob, len: demo::CA_CERT.len() })
    );
    assert_eq!(store.read(https_ca).unwrap().as_bytes(), demo::CA_CERT);
    assert_eq!(store.ca_certificates(Feature::Https, 3).unwrap().len(), 1);
    store.check(https_ca).unwrap();
    store.erase(https_ca).unwrap();
    assert_eq!(store.erase(https_ca), Err(CertError::Missing { entry: entry("https_ca", "https_ca.3") }));
    // A private key is validated as a key.
    let wss_key = item(Feature::Wss, Item::Key, 0);
    assert!(matches!(
        store.write(wss_key, demo::CLIENT_CERT),
        Err(CertError::Invalid { item: Item::Key, .. })
    ));
    store.write(wss_key, demo::CLIENT_KEY).unwrap();
    assert_eq!(store.private_key(Feature::Wss, 0).unwrap().format(), KeyFormat::Pkcs8);
}

#[test]
fn count_matches_at_get_pki_count() {
    let mut store = CertStore::new(MemKv::new());
    assert_eq!(store.count(Feature::Client, Item::Cert), Ok(0));
    for i in [0, 1, 3] {
        store.write(item(Feature::Client, Item::Cert, i), demo::CLIENT_CERT).unwrap();
    }
    // Not well-formed PKI names: not counted.
    store.kv_mut().set("client_cert", "client_cert.01", Value::Blob(b"x")).unwrap();
    store.kv_mut().set("client_cert", "notes", Value::Blob(b"x")).unwrap();
    assert_eq!(store.count(Feature::Client, Item::Cert), Ok(3));
    assert_eq!(store.count(Feature::Client, Item::Key), Ok(0));
    let mut server = provisioned();
    assert_eq!(server.count(Feature::Server, Item::Cert), Ok(1));
    assert_eq!(server.count(Feature::Mqtt, Item::Cert), Ok(0));
}

// ---------------------------------------------------------------------------------------------
// Unreadable and sealed stores

/// A store whose partition is flash-encrypted but read as plain: every access says so.
struct FlashEncryptedStore;

impl Kv for FlashEncryptedStore {
    fn info(&mut self, _: &str, _: &str) -> Result<EntryInfo, KvError> {
        Err(KvError::Unreadable(Unreadable::FlashEncryptedReadAsPlain))
    }
    fn get<'b>(&mut self, _: &str, _: &str, _: &'b mut [u8]) -> Result<Value<'b>, KvError> {
        Err(KvError::Unreadable(Unreadable::FlashEncryptedReadAsPlain))
    }
    fn set(&mut self, _: &str, _: &str, _: Value<'_>) -> Result<(), KvError> {
        Err(KvError::Unreadable(Unreadable::FlashEncryptedReadAsPlain))
    }
    fn erase(&mut self, _: &str, _: &str) -> Result<(), KvError> {
        Err(KvError::Unreadable(Unreadable::FlashEncryptedReadAsPlain))
    }
    fn erase_namespace(&mut self, _: &str) -> Result<(), KvError> {
        Err(KvError::Unreadable(Unreadable::FlashEncryptedReadAsPlain))
    }
    fn for_each_namespace(&mut self, _: &mut dyn FnMut(&str)) -> Result<(), KvError> {
        Err(KvError::Unreadable(Unreadable::FlashEncryptedReadAsPlain))
    }
    fn for_each_entry(&mut self, _: &str, _: &mut dyn FnMut(&str, EntryInfo)) -> Result<(), KvError> {
        Err(KvError::Unreadable(Unreadable::FlashEncryptedReadAsPlain))
    }
}

#[test]
fn unreadable_partition_diagnosis_propagates_unchanged() {
    let mut store = CertStore::new(FlashEncryptedStore);
    let cause = Unreadable::FlashEncryptedReadAsPlain;
    let err = store.load_server_credentials(true).unwrap_err();
    assert_eq!(err, CertError::Unreadable { entry: entry("server_cert", "server_cert"), cause });
    assert!(err.to_string().contains("partition is flash-encrypted but read as plain"), "{err}");
    assert_eq!(err.remedy(), Some(cause.remedy()));
    assert_eq!(
        store.load_client_credentials(AuthMode::VerifyServer, 0, 1).unwrap_err(),
        CertError::Unreadable { entry: entry("client_ca", "client_ca.1"), cause }
    );
    assert_eq!(
        store.count(Feature::Client, Item::Cert),
        Err(CertError::Unreadable { entry: EntryName::namespace("client_cert"), cause })
    );
    assert_eq!(
        store.mfg_read("factory_param", "module_name").unwrap_err(),
        CertError::Unreadable { entry: entry("factory_param", "module_name"), cause }
    );
    assert_eq!(
        store.write(item(Feature::Server, Item::Cert, 0), demo::SERVER_CERT),
        Err(CertError::Unreadable { entry: entry("server_cert", "server_cert"), cause })
    );
}

struct CountingRng(u8);
impl Entropy for CountingRng {
    fn fill_bytes(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 = self.0.wrapping_mul(17).wrapping_add(29);
            *b = self.0;
        }
    }
}

#[test]
fn works_over_a_sealed_store_and_reports_a_wrong_key() {
    let mut sealed = Sealed::new(MemKv::new(), SealKey::from_bytes([1; 32]), CountingRng(3));
    demo::provision(&mut sealed).unwrap();
    let mut store = CertStore::new(sealed);
    assert!(store.load_server_credentials(true).is_ok());
    assert!(store.load_client_credentials(AuthMode::Mutual, 0, 0).is_ok());
    assert_eq!(store.count(Feature::Client, Item::Key), Ok(1));

    let inner = store.into_inner().into_inner();
    let mut wrong = CertStore::new(Sealed::new(inner, SealKey::from_bytes([2; 32]), CountingRng(3)));
    let err = wrong.load_server_credentials(false).unwrap_err();
    assert_eq!(
        err,
        CertError::Store { entry: entry("server_cert", "server_cert"), error: KvError::Authentication }
    );
    assert_eq!(
        err.to_string(),
        "server_cert/server_cert: authentication failed (wrong key or tampered data)"
    );
    assert!(err.remedy().is_some());
}

// ---------------------------------------------------------------------------------------------
// AT+SYSMFG read path and secrets

#[test]
fn sysmfg_refuses_private_keys_by_default() {
    let mut store = provisioned();
    assert!(!store.key_readback_allowed());
    for (ns, key) in [("server_key", "server_key"), ("client_key", "client_key.0"), ("client_key", "other")] {
        assert_eq!(
            store.mfg_read(ns, key).unwrap_err(),
            CertError::KeyReadbackRefused { entry: entry(ns, key) }
        );
    }
    let err = store.mfg_read("server_key", "server_key").unwrap_err();
    assert!(err.to_string().contains("private key"), "{err}");
    // Certificates and CAs are readable.
    match store.mfg_read("server_cert", "server_cert").unwrap() {
        MfgValue::Bytes { value_type, bytes } => {
            assert_eq!(value_type, ValueType::Blob);
            assert_eq!(bytes.as_bytes(), demo::SERVER_CERT);
        }
        other => panic!("expected bytes, got {other:?}"),
    }
    // Refusal happens before the store is touched: even a store that cannot be read refuses.
    let mut unreadable = CertStore::new(FlashEncryptedStore);
    assert_eq!(
        unreadable.mfg_read("server_key", "server_key").unwrap_err(),
        CertError::KeyReadbackRefused { entry: entry("server_key", "server_key") }
    );
}

#[test]
fn sysmfg_reads_keys_when_the_firmware_opts_in() {
    let mut kv = MemKv::new();
    demo::provision(&mut kv).unwrap();
    let mut store = CertStore::new(kv).allow_key_readback(true);
    assert!(store.key_readback_allowed());
    match store.mfg_read("server_key", "server_key").unwrap() {
        MfgValue::Bytes { bytes, .. } => assert_eq!(bytes.as_bytes(), demo::SERVER_KEY),
        other => panic!("expected bytes, got {other:?}"),
    }
}

#[test]
fn sysmfg_reads_integers_and_strings() {
    let mut store = CertStore::new(MemKv::new());
    store.kv_mut().set("factory_param", "uart_baudrate", Value::I32(115_200)).unwrap();
    store.kv_mut().set("factory_param", "module_name", Value::Str(b"MINI-1")).unwrap();
    assert!(matches!(
        store.mfg_read("factory_param", "uart_baudrate").unwrap(),
        MfgValue::Integer { value_type: ValueType::I32, value: 115_200 }
    ));
    match store.mfg_read("factory_param", "module_name").unwrap() {
        MfgValue::Bytes { value_type: ValueType::Str, bytes } => assert_eq!(bytes.as_bytes(), b"MINI-1"),
        other => panic!("expected a string, got {other:?}"),
    }
    assert_eq!(
        store.mfg_read("factory_param", "nope").unwrap_err(),
        CertError::Missing { entry: entry("factory_param", "nope") }
    );
    assert_eq!(
        store.mfg_read("factory_param", "a_name_that_is_far_too_long").unwrap_err(),
        CertError::Store { entry: entry("factory_param", "a_name_that_is_"), error: KvError::InvalidName }
    );
}

fn assert_zeroize_on_drop<T: ZeroizeOnDrop>() {}

#[test]
fn key_buffers_are_zeroize_on_drop_by_type() {
    // Compile-time: every container the store hands out for secrets is ZeroizeOnDrop.
    assert_zeroize_on_drop::<PrivateKey>();
    assert_zeroize_on_drop::<SecretBytes>();
    assert_zeroize_on_drop::<SealKey>();
    let mut store = provisioned();
    let creds = store.load_server_credentials(false).unwrap();
    let key: &PrivateKey = &creds.key;
    let bytes: SecretBytes = store.read(item(Feature::Server, Item::Key, 0)).unwrap();
    // And Debug never shows the material.
    let shown = format!("{key:?} {bytes:?} {creds:?}");
    let key_hex: String = key.secret_der().iter().map(|b| format!("{b:02x}")).collect();
    // Bytes 40..60 of a P-256 PKCS#8 key lie inside the private scalar (bytes 36..68).
    let secret_part = &key_hex[80..120];
    assert!(!shown.contains("BEGIN") && !shown.contains(secret_part), "{shown}");
    assert!(!shown.to_uppercase().contains(&secret_part.to_uppercase()), "{shown}");
    assert!(shown.contains(&format!("SecretBytes({} bytes)", demo::SERVER_KEY.len())), "{shown}");
}

// ---------------------------------------------------------------------------------------------
// Formats

const RSA_KEY_PEM: &[u8] = include_bytes!("data/rsa_pkcs1_key.pem");
const RSA_KEY_DER: &[u8] = include_bytes!("data/rsa_pkcs1_key.der");
const RSA_CERT_PEM: &[u8] = include_bytes!("data/rsa_cert.pem");
const RSA_CERT_DER: &[u8] = include_bytes!("data/rsa_cert.der");
const EC_SEC1_PEM: &[u8] = include_bytes!("data/ec_sec1_with_params.pem");
const EC_SEC1_DER: &[u8] = include_bytes!("data/ec_sec1_key.der");
const P256_PKCS8_DER: &[u8] = include_bytes!("data/p256_pkcs8_key.der");
const ENCRYPTED_PKCS8: &[u8] = include_bytes!("data/encrypted_pkcs8_key.pem");
const ENCRYPTED_LEGACY: &[u8] = include_bytes!("data/encrypted_legacy_key.pem");

#[test]
fn every_key_encoding_is_recognised() {
    let cases: [(&[u8], KeyFormat); 5] = [
        (RSA_KEY_PEM, KeyFormat::Pkcs1),
        (RSA_KEY_DER, KeyFormat::Pkcs1),
        (EC_SEC1_PEM, KeyFormat::Sec1),
        (EC_SEC1_DER, KeyFormat::Sec1),
        (P256_PKCS8_DER, KeyFormat::Pkcs8),
    ];
    for (i, (bytes, fmt)) in cases.into_iter().enumerate() {
        let key = format::parse_private_key(bytes).unwrap_or_else(|e| panic!("case {i}: {e}"));
        assert_eq!(key.format(), fmt, "case {i}");
    }
    // PEM and DER of one key give the same DER.
    assert_eq!(format::parse_private_key(RSA_KEY_PEM).unwrap().secret_der(), RSA_KEY_DER);
    assert_eq!(format::parse_private_key(EC_SEC1_PEM).unwrap().secret_der(), EC_SEC1_DER);
    assert_eq!(format::parse_private_key(demo::SERVER_KEY).unwrap().secret_der(), P256_PKCS8_DER);
}

#[test]
fn encrypted_keys_are_refused_with_a_remedy() {
    assert_eq!(format::parse_private_key(ENCRYPTED_PKCS8).unwrap_err(), FormatError::EncryptedKey);
    assert_eq!(format::parse_private_key(ENCRYPTED_LEGACY).unwrap_err(), FormatError::EncryptedKey);
    let mut store = CertStore::new(MemKv::new());
    let err = store.write(item(Feature::Server, Item::Key, 0), ENCRYPTED_PKCS8).unwrap_err();
    assert!(err.remedy().unwrap().contains("passphrase"), "{err}");
}

#[test]
fn certificates_in_pem_and_der() {
    let pem = format::parse_certificates(RSA_CERT_PEM).unwrap();
    let der = format::parse_certificates(RSA_CERT_DER).unwrap();
    assert_eq!(pem, der);
    assert_eq!(der[0].as_ref(), RSA_CERT_DER);
    // A chain / bundle: several PEM blocks, or concatenated DER.
    let mut bundle = demo::SERVER_CERT.to_vec();
    bundle.extend_from_slice(b"\nsome text between blocks\n");
    bundle.extend_from_slice(demo::CA_CERT);
    assert_eq!(format::parse_certificates(&bundle).unwrap().len(), 2);
    let mut der_chain = RSA_CERT_DER.to_vec();
    der_chain.extend_from_slice(RSA_CERT_DER);
    assert_eq!(format::parse_certificates(&der_chain).unwrap().len(), 2);
    // DER with a trailing byte is not a certificate.
    let mut trailing = RSA_CERT_DER.to_vec();
    trailing.push(0);
    assert!(matches!(format::parse_certificates(&trailing), Err(FormatError::Der { block: 1, .. })));
}

#[test]
fn pem_as_tools_write_it() {
    // mbedTLS-style trailing NUL, CRLF line endings, text before the block.
    let mut nul = demo::SERVER_CERT.to_vec();
    nul.push(0);
    assert_eq!(format::parse_certificates(&nul).unwrap().len(), 1);
    let crlf: Vec<u8> = demo::SERVER_CERT
        .iter()
        .flat_map(|&b| if b == b'\n' { vec![b'\r', b'\n'] } else { vec![b] })
        .collect();
    assert_eq!(format::parse_certificates(&crlf).unwrap().len(), 1);
    let mut preamble = b"Bag Attributes\n    friendlyName: server\nsubject=CN = esp-at-sim\n".to_vec();
    preamble.extend_from_slice(demo::SERVER_CERT);
    assert_eq!(format::parse_certificates(&preamble).unwrap().len(), 1);
    // Another team's fixtures (at-flash's mfg_nvs inputs) validate too.
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/flash/inputs/pem/");
    if let (Ok(cert), Ok(key), Ok(ca)) = (
        std::fs::read(format!("{fixtures}server_cert.pem")),
        std::fs::read(format!("{fixtures}server_key.pem")),
        std::fs::read(format!("{fixtures}server_ca.pem")),
    ) {
        format::validate(Item::Cert, &cert).unwrap();
        format::validate(Item::Key, &key).unwrap();
        format::validate(Item::Ca, &ca).unwrap();
    }
}

#[test]
fn corrupted_der_reports_the_block() {
    let mut bundle = demo::CA_CERT.to_vec();
    // Second block: a real PEM armour around a truncated certificate.
    let der = format::parse_certificates(demo::SERVER_CERT).unwrap().remove(0);
    let cut = &der.as_ref()[..der.as_ref().len() - 10];
    bundle.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
    bundle.extend_from_slice(base64(cut).as_bytes());
    bundle.extend_from_slice(b"\n-----END CERTIFICATE-----\n");
    assert!(matches!(format::parse_certificates(&bundle), Err(FormatError::Der { block: 1, .. })));
}

/// Minimal standard Base64 with 64-column lines, for building test PEM.
fn base64(data: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= chunk.len() { A[(n >> (18 - 6 * i) & 63) as usize] as char } else { '=' });
        }
    }
    out.as_bytes().chunks(64).map(|l| std::str::from_utf8(l).unwrap()).collect::<Vec<_>>().join("\n")
}

// ---------------------------------------------------------------------------------------------
// Key / certificate pairing

const EC_SEC1_CERT: &[u8] = include_bytes!("data/ec_sec1_cert.pem");
const ED25519_KEY: &[u8] = include_bytes!("data/ed25519_key.pem");
const ED25519_CERT: &[u8] = include_bytes!("data/ed25519_cert.pem");

fn leaf(pem: &[u8]) -> at_certstore::rustls_pki_types::CertificateDer<'static> {
    format::parse_certificates(pem).unwrap().remove(0)
}

#[test]
fn keys_are_matched_to_certificates_structurally() {
    use at_certstore::KeyMatch;
    let cases: [(&[u8], &[u8], KeyMatch); 10] = [
        (demo::SERVER_KEY, demo::SERVER_CERT, KeyMatch::Match), // PKCS#8 EC (SEC1 inside)
        (P256_PKCS8_DER, demo::SERVER_CERT, KeyMatch::Match),
        (demo::CLIENT_KEY, demo::CLIENT_CERT, KeyMatch::Match),
        (RSA_KEY_PEM, RSA_CERT_PEM, KeyMatch::Match), // PKCS#1
        (EC_SEC1_PEM, EC_SEC1_CERT, KeyMatch::Match), // SEC1
        (demo::CLIENT_KEY, demo::SERVER_CERT, KeyMatch::Mismatch),
        (EC_SEC1_DER, demo::SERVER_CERT, KeyMatch::Mismatch),
        (RSA_KEY_DER, demo::SERVER_CERT, KeyMatch::Mismatch), // RSA key, EC certificate
        (demo::SERVER_KEY, RSA_CERT_DER, KeyMatch::Mismatch),
        (ED25519_KEY, ED25519_CERT, KeyMatch::Unknown), // PKCS#8 v1 Ed25519: no public key stored
    ];
    for (i, (key, cert, expected)) in cases.into_iter().enumerate() {
        let key = format::parse_private_key(key).unwrap();
        assert_eq!(format::key_matches_certificate(&key, &leaf(cert)), expected, "case {i}");
    }
}

#[test]
fn mismatched_key_fails_loading_with_both_entries_named() {
    let mut store = provisioned();
    store.kv_mut().set("server_key", "server_key", Value::Blob(demo::CLIENT_KEY)).unwrap();
    let err = store.load_server_credentials(false).unwrap_err();
    assert_eq!(
        err,
        CertError::KeyMismatch {
            cert: item(Feature::Server, Item::Cert, 0),
            key: item(Feature::Server, Item::Key, 0)
        }
    );
    assert_eq!(
        err.to_string(),
        "server_key/server_key: private key does not match the certificate in server_cert/server_cert"
    );
    let mut store = provisioned();
    store.write(item(Feature::Client, Item::Key, 0), demo::SERVER_KEY).unwrap();
    assert!(matches!(
        store.load_client_credentials(AuthMode::ClientCert, 0, 0),
        Err(CertError::KeyMismatch { .. })
    ));
    // A mode that presents no client certificate does not care.
    assert!(store.load_client_credentials(AuthMode::VerifyServer, 0, 0).is_ok());
    // Unknown pairing (Ed25519) is let through to TLS, which checks it itself.
    let mut store = CertStore::new(MemKv::new());
    store.write(item(Feature::Server, Item::Cert, 0), ED25519_CERT).unwrap();
    store.write(item(Feature::Server, Item::Key, 0), ED25519_KEY).unwrap();
    assert!(store.load_server_credentials(false).is_ok());
}
