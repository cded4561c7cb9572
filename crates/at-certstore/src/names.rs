//! ESP-AT's PKI names: which namespace and key hold which certificate, key or CA.
//!
//! ESP-AT keeps TLS material in the `mfg_nvs` partition under fixed names (ESP-AT
//! `at_custom_partitions.c`, `s_at_pki_partition_name[feature][item]`; reference §4.2):
//!
//! | feature | namespaces | keys |
//! |---|---|---|
//! | [`Feature::Client`] | `client_cert`, `client_key`, `client_ca` | `client_cert.0`, `client_cert.1`, … |
//! | [`Feature::Https`] | `https_cert`, `https_key`, `https_ca` | `https_cert.0`, … |
//! | [`Feature::Wss`] | `wss_cert`, `wss_key`, `wss_ca` | `wss_cert.0`, … |
//! | [`Feature::Server`] | `server_cert`, `server_key`, `server_ca` | the namespace name itself |
//! | [`Feature::Mqtt`] | `mqtt_cert`, `mqtt_key`, `mqtt_ca` | the namespace name itself |
//! | [`Feature::WpaEnt`] | `wpa_ent_cert`, `wpa_ent_key`, `wpa_ent_ca` | the namespace name itself |
//!
//! (ESP-AT's documentation shows `server_cert.0`; its code reads `server_cert`, and so do we.)
//!
//! [`PkiItem`] is the mapping (feature, item, index) → (namespace, key), [`PkiItem::parse`]
//! its inverse, and [`holds_private_key`] the secret policy built on it.

use core::fmt;

use at_hal::kv::MAX_NAME_LEN;

/// The ESP-AT features that have TLS material, in ESP-AT's own numbering
/// (`s_at_pki_partition_name`: 1 client, 2 server, 3 wpa_ent, 4 mqtt, 5 wss, 6 https).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Feature {
    /// SSL client links (`AT+CIPSTART="SSL"`, configured by `AT+CIPSSLCCONF`). Indexed.
    Client = 1,
    /// The SSL server (`AT+CIPSERVER=1,<port>,"SSL"`). Single set.
    Server = 2,
    /// Wi-Fi Enterprise (EAP-TLS). Single set.
    WpaEnt = 3,
    /// MQTT over TLS. Single set.
    Mqtt = 4,
    /// WebSocket over TLS. Indexed.
    Wss = 5,
    /// HTTPS client. Indexed.
    Https = 6,
}

impl Feature {
    /// Every feature, in ESP-AT's numbering order.
    pub const ALL: [Feature; 6] =
        [Feature::Client, Feature::Server, Feature::WpaEnt, Feature::Mqtt, Feature::Wss, Feature::Https];

    /// Whether keys carry an index (`<namespace>.<n>`): true for client, https and wss, as in
    /// ESP-AT's `at_get_pki_item_data()`.
    pub const fn is_indexed(self) -> bool {
        matches!(self, Feature::Client | Feature::Wss | Feature::Https)
    }

    /// The namespace prefix: `client`, `server`, `wpa_ent`, `mqtt`, `wss`, `https`.
    pub const fn name(self) -> &'static str {
        match self {
            Feature::Client => "client",
            Feature::Server => "server",
            Feature::WpaEnt => "wpa_ent",
            Feature::Mqtt => "mqtt",
            Feature::Wss => "wss",
            Feature::Https => "https",
        }
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a PKI entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Item {
    /// This side's certificate (a leaf, optionally followed by its chain).
    Cert,
    /// This side's private key: secret.
    Key,
    /// One or more CA certificates used to verify the peer.
    Ca,
}

impl Item {
    /// Every item.
    pub const ALL: [Item; 3] = [Item::Cert, Item::Key, Item::Ca];

    /// The namespace suffix: `cert`, `key`, `ca`.
    pub const fn name(self) -> &'static str {
        match self {
            Item::Cert => "cert",
            Item::Key => "key",
            Item::Ca => "ca",
        }
    }

    /// What the item must contain, for messages: "certificate", "private key", "CA certificate".
    pub const fn description(self) -> &'static str {
        match self {
            Item::Cert => "certificate",
            Item::Key => "private key",
            Item::Ca => "CA certificate",
        }
    }
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Largest index of an indexed feature: `client_cert.999` is the longest key that fits NVS's
/// 15-byte names.
pub const MAX_INDEX: u16 = 999;

/// A namespace or key name held inline (at most [`MAX_NAME_LEN`] bytes): lets errors name an
/// entry while staying small and `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Name {
    len: u8,
    bytes: [u8; MAX_NAME_LEN],
}

impl Name {
    /// The name, if it fits in [`MAX_NAME_LEN`] bytes.
    pub fn new(name: &str) -> Option<Name> {
        let b = name.as_bytes();
        if b.len() > MAX_NAME_LEN {
            return None;
        }
        let mut bytes = [0u8; MAX_NAME_LEN];
        bytes[..b.len()].copy_from_slice(b);
        Some(Name { len: b.len() as u8, bytes })
    }

    /// The name, cut to its longest prefix of at most [`MAX_NAME_LEN`] bytes that ends on a
    /// character boundary. For naming user input in errors (the store rejects such names
    /// anyway).
    pub fn truncated(name: &str) -> Name {
        let mut end = name.len().min(MAX_NAME_LEN);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        // `end` is a char boundary no longer than MAX_NAME_LEN, so `new` succeeds.
        Name::new(&name[..end]).unwrap_or(Name { len: 0, bytes: [0; MAX_NAME_LEN] })
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        // Built only from `&str` prefixes ending on a char boundary, so this never fails.
        core::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A (namespace, key) pair, as errors report it. `key` is empty for namespace-wide
/// operations (counting, listing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EntryName {
    /// The namespace.
    pub namespace: Name,
    /// The key, empty for a namespace-wide operation.
    pub key: Name,
}

impl EntryName {
    /// Name an entry (names longer than 15 bytes are truncated; see [`Name::truncated`]).
    pub fn new(namespace: &str, key: &str) -> EntryName {
        EntryName { namespace: Name::truncated(namespace), key: Name::truncated(key) }
    }

    /// Name a whole namespace.
    pub fn namespace(namespace: &str) -> EntryName {
        EntryName::new(namespace, "")
    }
}

impl fmt::Display for EntryName {
    /// `namespace/key`, or `namespace` alone.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.as_str().is_empty() {
            write!(f, "{}", self.namespace)
        } else {
            write!(f, "{}/{}", self.namespace, self.key)
        }
    }
}

/// The index given for an item is out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexError {
    /// The feature.
    pub feature: Feature,
    /// The index given.
    pub index: u16,
}

impl fmt::Display for IndexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.feature.is_indexed() {
            write!(f, "{} PKI index {} out of range (0..={MAX_INDEX})", self.feature, self.index)
        } else {
            write!(f, "{} has a single PKI set: index must be 0, not {}", self.feature, self.index)
        }
    }
}

impl core::error::Error for IndexError {}

/// One PKI entry: a feature's certificate, key or CA, at an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PkiItem {
    feature: Feature,
    item: Item,
    index: u16,
}

impl PkiItem {
    /// The entry for `(feature, item, index)`. Indexed features take `0..=`[`MAX_INDEX`];
    /// single-set features (server, mqtt, wpa_ent) take only 0.
    pub const fn new(feature: Feature, item: Item, index: u16) -> Result<PkiItem, IndexError> {
        let ok = if feature.is_indexed() { index <= MAX_INDEX } else { index == 0 };
        if ok { Ok(PkiItem { feature, item, index }) } else { Err(IndexError { feature, index }) }
    }

    /// The feature.
    pub const fn feature(&self) -> Feature {
        self.feature
    }

    /// What the entry holds.
    pub const fn item(&self) -> Item {
        self.item
    }

    /// The index (always 0 for single-set features).
    pub const fn index(&self) -> u16 {
        self.index
    }

    /// The NVS namespace, e.g. `client_cert`, `server_key`, `wpa_ent_ca`.
    pub const fn namespace(&self) -> &'static str {
        namespace(self.feature, self.item)
    }

    /// The NVS key: `<namespace>.<index>` for indexed features, else the namespace itself.
    pub fn key(&self) -> Name {
        let ns = self.namespace();
        if !self.feature.is_indexed() {
            return Name::truncated(ns);
        }
        let mut bytes = [0u8; MAX_NAME_LEN];
        let mut len = ns.len();
        bytes[..len].copy_from_slice(ns.as_bytes());
        bytes[len] = b'.';
        len += 1;
        // Longest namespace is 11 bytes ("client_cert") + '.' + 3 digits = 15.
        let mut digits = [0u8; 3];
        let mut n = self.index;
        let mut d = 0;
        loop {
            digits[d] = b'0' + (n % 10) as u8;
            d += 1;
            n /= 10;
            if n == 0 || d == digits.len() {
                break;
            }
        }
        while d > 0 {
            d -= 1;
            bytes[len] = digits[d];
            len += 1;
        }
        Name { len: len as u8, bytes }
    }

    /// Namespace and key together.
    pub fn entry(&self) -> EntryName {
        EntryName { namespace: Name::truncated(self.namespace()), key: self.key() }
    }

    /// The inverse mapping: which PKI entry, if any, `(namespace, key)` names exactly.
    ///
    /// Indexed keys must be `<namespace>.<decimal>` without sign or leading zeros; single-set
    /// keys must equal the namespace.
    pub fn parse(namespace: &str, key: &str) -> Option<PkiItem> {
        let (feature, item) = parse_namespace(namespace)?;
        if !feature.is_indexed() {
            return (key == namespace).then_some(PkiItem { feature, item, index: 0 });
        }
        let digits = key.strip_prefix(namespace)?.strip_prefix('.')?;
        let index = parse_index(digits)?;
        PkiItem::new(feature, item, index).ok()
    }
}

impl fmt::Display for PkiItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.entry(), f)
    }
}

/// The namespace of a feature's item.
pub const fn namespace(feature: Feature, item: Item) -> &'static str {
    match (feature, item) {
        (Feature::Client, Item::Cert) => "client_cert",
        (Feature::Client, Item::Key) => "client_key",
        (Feature::Client, Item::Ca) => "client_ca",
        (Feature::Server, Item::Cert) => "server_cert",
        (Feature::Server, Item::Key) => "server_key",
        (Feature::Server, Item::Ca) => "server_ca",
        (Feature::WpaEnt, Item::Cert) => "wpa_ent_cert",
        (Feature::WpaEnt, Item::Key) => "wpa_ent_key",
        (Feature::WpaEnt, Item::Ca) => "wpa_ent_ca",
        (Feature::Mqtt, Item::Cert) => "mqtt_cert",
        (Feature::Mqtt, Item::Key) => "mqtt_key",
        (Feature::Mqtt, Item::Ca) => "mqtt_ca",
        (Feature::Wss, Item::Cert) => "wss_cert",
        (Feature::Wss, Item::Key) => "wss_key",
        (Feature::Wss, Item::Ca) => "wss_ca",
        (Feature::Https, Item::Cert) => "https_cert",
        (Feature::Https, Item::Key) => "https_key",
        (Feature::Https, Item::Ca) => "https_ca",
    }
}

/// Which feature and item a namespace belongs to, if it is one of ESP-AT's PKI namespaces.
pub fn parse_namespace(namespace: &str) -> Option<(Feature, Item)> {
    Feature::ALL
        .into_iter()
        .flat_map(|f| Item::ALL.into_iter().map(move |i| (f, i)))
        .find(|&(f, i)| self::namespace(f, i) == namespace)
}

fn parse_index(digits: &str) -> Option<u16> {
    let b = digits.as_bytes();
    if b.is_empty() || b.len() > 3 || !b.iter().all(u8::is_ascii_digit) || (b.len() > 1 && b[0] == b'0') {
        return None;
    }
    Some(b.iter().fold(0u16, |n, &c| n * 10 + u16::from(c - b'0')))
}

/// The secret policy: whether `(namespace, key)` may hold private-key material.
///
/// True for every ESP-AT key entry ([`PkiItem::parse`] gives [`Item::Key`]) and, failing
/// closed, for *any* key in a namespace whose name ends in `_key` (ASCII case-insensitive):
/// `client_key/stray`, ESP-AT's legacy `wpa2_key`, a vendor's `ota_key`. The AT layer uses it
/// to refuse `AT+SYSMFG` reads of such entries unless the firmware opts in
/// (`CertStore::allow_key_readback`, feature `x509`).
pub fn holds_private_key(namespace: &str, key: &str) -> bool {
    let is_pki_key = matches!(PkiItem::parse(namespace, key), Some(p) if p.item() == Item::Key);
    let ns = namespace.as_bytes();
    let key_namespace = ns.len() >= 4 && ns[ns.len() - 4..].eq_ignore_ascii_case(b"_key");
    is_pki_key || key_namespace
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn keys_fit_nvs_names() {
        for f in Feature::ALL {
            for i in Item::ALL {
                let top = if f.is_indexed() { MAX_INDEX } else { 0 };
                for idx in [0, 1, 9, 10, 99, 100, top] {
                    let Ok(p) = PkiItem::new(f, i, idx) else { continue };
                    let key = p.key();
                    assert!(key.as_str().len() <= MAX_NAME_LEN, "{key}");
                    at_hal::kv::validate_name(key.as_str()).unwrap();
                    at_hal::kv::validate_name(p.namespace()).unwrap();
                    assert_eq!(PkiItem::parse(p.namespace(), key.as_str()), Some(p), "round trip {p}");
                }
            }
        }
    }

    #[test]
    fn index_limits() {
        assert_eq!(
            PkiItem::new(Feature::Client, Item::Cert, 1000),
            Err(IndexError { feature: Feature::Client, index: 1000 })
        );
        assert!(PkiItem::new(Feature::Server, Item::Cert, 1).is_err());
        assert_eq!(PkiItem::new(Feature::Client, Item::Cert, 999).unwrap().key().as_str(), "client_cert.999");
        assert_eq!(PkiItem::new(Feature::Https, Item::Ca, 42).unwrap().key().as_str(), "https_ca.42");
    }

    #[test]
    fn parse_rejects_near_misses() {
        for (ns, key) in [
            ("client_cert", "client_cert"),
            ("client_cert", "client_cert."),
            ("client_cert", "client_cert.01"),
            ("client_cert", "client_cert.+1"),
            ("client_cert", "client_cert.1000"),
            ("client_cert", "client_key.0"),
            ("server_cert", "server_cert.0"),
            ("server_cert", "server_key"),
            ("wpa2_cert", "wpa2_cert"),
            ("ble_data", "cfg0"),
        ] {
            assert_eq!(PkiItem::parse(ns, key), None, "{ns}/{key}");
        }
    }

    #[test]
    fn secret_policy() {
        assert!(holds_private_key("server_key", "server_key"));
        assert!(holds_private_key("client_key", "client_key.3"));
        assert!(holds_private_key("client_key", "anything"), "fails closed inside key namespaces");
        assert!(holds_private_key("wpa2_key", "wpa2_key"));
        assert!(holds_private_key("SERVER_KEY", "x"));
        assert!(!holds_private_key("server_cert", "server_cert"));
        assert!(!holds_private_key("client_ca", "client_ca.0"));
        assert!(!holds_private_key("factory_param", "module_name"));
        assert!(!holds_private_key("key", "key"));
    }

    #[test]
    fn names_truncate_on_char_boundaries() {
        assert_eq!(Name::truncated("abcdefghijklmnopq").as_str(), "abcdefghijklmno");
        assert_eq!(Name::truncated("abcdefghijklmn\u{e9}").as_str(), "abcdefghijklmn");
        assert_eq!(EntryName::new("client_cert", "client_cert.0").to_string(), "client_cert/client_cert.0");
        assert_eq!(EntryName::namespace("client_cert").to_string(), "client_cert");
    }
}
