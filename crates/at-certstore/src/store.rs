//! [`CertStore`]: ESP-AT's PKI entries over any [`Kv`], with TLS credential loading.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use at_hal::kv::{Kv, KvError, Value, ValueType};
use rustls_pki_types::CertificateDer;
use zeroize::{ZeroizeOnDrop, Zeroizing};

use crate::error::CertError;
use crate::format::{self, PrivateKey};
use crate::names::{EntryName, Feature, Item, PkiItem, holds_private_key};

/// Bytes read from the store, zeroized on drop; `Debug` shows only the length.
///
/// Every read path of [`CertStore`] returns this, whatever the item, so a private key can
/// never end up in a container that forgets to clear it.
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl AsRef<[u8]> for SecretBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl ZeroizeOnDrop for SecretBytes {}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes({} bytes)", self.0.len())
    }
}

/// A value read for `AT+SYSMFG=1,<ns>,<key>`: any type.
#[derive(Debug)]
pub enum MfgValue {
    /// An integer entry (ESP-AT types 1..6), widened.
    Integer {
        /// The stored type.
        value_type: ValueType,
        /// The value.
        value: i128,
    },
    /// A string or blob entry (ESP-AT types 7, 8).
    Bytes {
        /// [`ValueType::Str`] or [`ValueType::Blob`].
        value_type: ValueType,
        /// The bytes.
        bytes: SecretBytes,
    },
}

/// `AT+CIPSSLCCONF`'s `<auth_mode>`: what an SSL client link presents and verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum AuthMode {
    /// 0: no authentication (the server certificate is **not** verified).
    None = 0,
    /// 1: the client presents `client_cert.<pki>` / `client_key.<pki>`; the server is not
    /// verified.
    ClientCert = 1,
    /// 2: the client verifies the server against `client_ca.<ca>`.
    VerifyServer = 2,
    /// 3: both.
    Mutual = 3,
}

impl AuthMode {
    /// From the AT parameter; `None` if out of range (0..=3).
    pub const fn from_code(code: u8) -> Option<AuthMode> {
        Some(match code {
            0 => AuthMode::None,
            1 => AuthMode::ClientCert,
            2 => AuthMode::VerifyServer,
            3 => AuthMode::Mutual,
            _ => return None,
        })
    }

    /// Whether the client presents a certificate.
    pub const fn presents_client_cert(self) -> bool {
        matches!(self, AuthMode::ClientCert | AuthMode::Mutual)
    }

    /// Whether the client verifies the server's certificate.
    pub const fn verifies_server(self) -> bool {
        matches!(self, AuthMode::VerifyServer | AuthMode::Mutual)
    }
}

/// Everything the TLS server config needs, validated.
#[derive(Debug)]
pub struct ServerCredentials {
    /// `server_cert`: the leaf first, then any chain certificates stored with it.
    pub cert_chain: Vec<CertificateDer<'static>>,
    /// `server_key`.
    pub key: PrivateKey,
    /// `server_ca`, to verify clients: `Some` exactly when it was required.
    pub client_ca: Option<Vec<CertificateDer<'static>>>,
}

/// A client certificate and its key.
#[derive(Debug)]
pub struct ClientIdentity {
    /// `client_cert.<pki>`: leaf first, then chain.
    pub cert_chain: Vec<CertificateDer<'static>>,
    /// `client_key.<pki>`.
    pub key: PrivateKey,
}

/// Everything a TLS client config needs for one link, validated.
#[derive(Debug)]
pub struct ClientCredentials {
    /// The mode these were loaded for.
    pub auth_mode: AuthMode,
    /// Present when the mode presents a client certificate.
    pub identity: Option<ClientIdentity>,
    /// `client_ca.<ca>`: present when the mode verifies the server. When absent the TLS layer
    /// must not verify (ESP-AT modes 0 and 1); doing so belongs in its `danger` module.
    pub server_ca: Option<Vec<CertificateDer<'static>>>,
}

/// ESP-AT's PKI entries over a [`Kv`]: read, count, write, erase, and load TLS credentials,
/// every failure as a precise [`CertError`].
///
/// Nothing is cached: like ESP-AT, the server's credentials are meant to be re-read per
/// accepted connection (or at `AT+CIPSERVER`), so `AT+SYSMFG` updates take effect at once.
///
/// Private keys are not readable through [`CertStore::mfg_read`] (the `AT+SYSMFG` path)
/// unless the firmware opts in with [`CertStore::allow_key_readback`].
#[derive(Debug)]
pub struct CertStore<K> {
    kv: K,
    allow_key_readback: bool,
}

impl<K: Kv> CertStore<K> {
    /// A cert store over `kv`, key read-back disabled.
    pub fn new(kv: K) -> Self {
        CertStore { kv, allow_key_readback: false }
    }

    /// Let [`CertStore::mfg_read`] return private keys (`false` by default). For firmware
    /// whose AT port is trusted, e.g. a factory test image.
    pub fn allow_key_readback(mut self, allow: bool) -> Self {
        self.allow_key_readback = allow;
        self
    }

    /// Whether private keys may be read back over `AT+SYSMFG`.
    pub fn key_readback_allowed(&self) -> bool {
        self.allow_key_readback
    }

    /// The store.
    pub fn kv(&self) -> &K {
        &self.kv
    }

    /// The store, mutably (for `AT+SYSMFG` writes and listings, which are not PKI-specific).
    pub fn kv_mut(&mut self) -> &mut K {
        &mut self.kv
    }

    /// Unwrap the store.
    pub fn into_inner(self) -> K {
        self.kv
    }

    /// The raw bytes of an item, unchecked but never empty: a missing entry is
    /// [`CertError::Missing`], a zero-length one [`CertError::Empty`].
    pub fn read(&mut self, item: PkiItem) -> Result<SecretBytes, CertError> {
        let entry = item.entry();
        read_bytes(&mut self.kv, entry.namespace.as_str(), entry.key.as_str())
            .and_then(|(_, b)| if b.is_empty() { Err(CertError::Empty { entry }) } else { Ok(b) })
    }

    /// A feature's certificate (leaf first, then chain), validated.
    pub fn certificates(
        &mut self,
        feature: Feature,
        index: u16,
    ) -> Result<Vec<CertificateDer<'static>>, CertError> {
        self.certs_of(PkiItem::new(feature, Item::Cert, index)?)
    }

    /// A feature's CA certificates, validated.
    pub fn ca_certificates(
        &mut self,
        feature: Feature,
        index: u16,
    ) -> Result<Vec<CertificateDer<'static>>, CertError> {
        self.certs_of(PkiItem::new(feature, Item::Ca, index)?)
    }

    /// A feature's private key, validated and zeroized on drop.
    pub fn private_key(&mut self, feature: Feature, index: u16) -> Result<PrivateKey, CertError> {
        let item = PkiItem::new(feature, Item::Key, index)?;
        let bytes = self.read(item)?;
        format::parse_private_key(bytes.as_bytes()).map_err(|problem| invalid(item, problem))
    }

    fn certs_of(&mut self, item: PkiItem) -> Result<Vec<CertificateDer<'static>>, CertError> {
        let bytes = self.read(item)?;
        format::parse_certificates(bytes.as_bytes()).map_err(|problem| invalid(item, problem))
    }

    /// Check an item without keeping it: `Ok` if it exists, is non-empty and valid.
    pub fn check(&mut self, item: PkiItem) -> Result<(), CertError> {
        let bytes = self.read(item)?;
        format::validate(item.item(), bytes.as_bytes()).map_err(|problem| invalid(item, problem))
    }

    /// Whether an item exists (empty or not, valid or not).
    pub fn contains(&mut self, item: PkiItem) -> Result<bool, CertError> {
        let entry = item.entry();
        match self.kv.info(entry.namespace.as_str(), entry.key.as_str()) {
            Ok(_) => Ok(true),
            Err(KvError::NotFound) => Ok(false),
            Err(e) => Err(CertError::from_kv(entry, e)),
        }
    }

    /// How many entries of `(feature, item)` exist, counting only well-formed PKI names
    /// (ESP-AT's `at_get_pki_count()`). `AT+CIPSSLCCONF` checks `index < count` as ESP-AT
    /// does; a gap in the numbering is then reported as [`CertError::Missing`] on load.
    /// Over a [`Sealed`](crate::Sealed) store the listing authenticates every entry of the
    /// namespace, so one tampered entry fails the count with `Store { error: Authentication }`.
    pub fn count(&mut self, feature: Feature, item: Item) -> Result<u16, CertError> {
        let ns = crate::names::namespace(feature, item);
        let mut n = 0u16;
        let r = self.kv.for_each_entry(ns, &mut |key, _| {
            if matches!(PkiItem::parse(ns, key), Some(p) if p.feature() == feature && p.item() == item) {
                n = n.saturating_add(1);
            }
        });
        match r {
            Ok(()) | Err(KvError::NotFound) => Ok(n),
            Err(e) => Err(CertError::from_kv(EntryName::namespace(ns), e)),
        }
    }

    /// Validate `data` for `item` and store it as a blob. Invalid data is refused with
    /// [`CertError::Invalid`] (ESP-AT stores anything; this store does not, through this path).
    pub fn write(&mut self, item: PkiItem, data: &[u8]) -> Result<(), CertError> {
        if data.is_empty() {
            return Err(CertError::Empty { entry: item.entry() });
        }
        format::validate(item.item(), data).map_err(|problem| invalid(item, problem))?;
        let entry = item.entry();
        self.kv
            .set(entry.namespace.as_str(), entry.key.as_str(), Value::Blob(data))
            .map_err(|e| CertError::from_kv(entry, e))
    }

    /// Remove an item. [`CertError::Missing`] if it does not exist.
    pub fn erase(&mut self, item: PkiItem) -> Result<(), CertError> {
        let entry = item.entry();
        self.kv.erase(entry.namespace.as_str(), entry.key.as_str()).map_err(|e| CertError::from_kv(entry, e))
    }

    /// Load what `AT+CIPSERVER=1,<port>,"SSL"[,<CA enable>]` needs: `server_cert`,
    /// `server_key` and, if `ca_required`, `server_ca`; a key that provably does not belong to
    /// the certificate is [`CertError::KeyMismatch`]. Call it before listening (and per
    /// accepted connection, as ESP-AT does); an error here must become the command's `ERROR`.
    pub fn load_server_credentials(&mut self, ca_required: bool) -> Result<ServerCredentials, CertError> {
        let cert_chain = self.certificates(Feature::Server, 0)?;
        let key = self.private_key(Feature::Server, 0)?;
        check_pair(&cert_chain, &key, Feature::Server, 0)?;
        let client_ca = if ca_required { Some(self.ca_certificates(Feature::Server, 0)?) } else { None };
        Ok(ServerCredentials { cert_chain, key, client_ca })
    }

    /// Load what an SSL client link configured by `AT+CIPSSLCCONF=<link>,<auth_mode>,
    /// <pki_index>,<ca_index>` needs. Only the items the mode uses are read (and must exist);
    /// a client key that provably does not belong to its certificate is
    /// [`CertError::KeyMismatch`].
    pub fn load_client_credentials(
        &mut self,
        auth_mode: AuthMode,
        pki_index: u16,
        ca_index: u16,
    ) -> Result<ClientCredentials, CertError> {
        let identity = if auth_mode.presents_client_cert() {
            let cert_chain = self.certificates(Feature::Client, pki_index)?;
            let key = self.private_key(Feature::Client, pki_index)?;
            check_pair(&cert_chain, &key, Feature::Client, pki_index)?;
            Some(ClientIdentity { cert_chain, key })
        } else {
            None
        };
        let server_ca = if auth_mode.verifies_server() {
            Some(self.ca_certificates(Feature::Client, ca_index)?)
        } else {
            None
        };
        Ok(ClientCredentials { auth_mode, identity, server_ca })
    }

    /// Read any entry for `AT+SYSMFG=1,<ns>,<key>`. Entries that may hold a private key
    /// ([`holds_private_key`]) are refused with [`CertError::KeyReadbackRefused`] — before
    /// anything is read — unless [`CertStore::allow_key_readback`] was set.
    pub fn mfg_read(&mut self, namespace: &str, key: &str) -> Result<MfgValue, CertError> {
        let entry = EntryName::new(namespace, key);
        if !self.allow_key_readback && holds_private_key(namespace, key) {
            return Err(CertError::KeyReadbackRefused { entry });
        }
        let info = self.kv.info(namespace, key).map_err(|e| CertError::from_kv(entry, e))?;
        if info.value_type.is_integer() {
            let v = self.kv.get(namespace, key, &mut []).map_err(|e| CertError::from_kv(entry, e))?;
            let value = v.as_integer().ok_or(CertError::Store { entry, error: KvError::Corrupt })?;
            return Ok(MfgValue::Integer { value_type: v.value_type(), value });
        }
        let (value_type, bytes) = read_bytes(&mut self.kv, namespace, key)?;
        Ok(MfgValue::Bytes { value_type, bytes })
    }
}

/// Refuse a key that provably does not belong to the leaf certificate.
fn check_pair(
    chain: &[CertificateDer<'static>],
    key: &PrivateKey,
    feature: Feature,
    index: u16,
) -> Result<(), CertError> {
    let leaf = chain.first();
    if leaf.is_some_and(|leaf| format::key_matches_certificate(key, leaf) == format::KeyMatch::Mismatch) {
        return Err(CertError::KeyMismatch {
            cert: PkiItem::new(feature, Item::Cert, index)?,
            key: PkiItem::new(feature, Item::Key, index)?,
        });
    }
    Ok(())
}

fn invalid(item: PkiItem, problem: format::FormatError) -> CertError {
    match problem {
        format::FormatError::Empty => CertError::Empty { entry: item.entry() },
        problem => CertError::Invalid { entry: item.entry(), item: item.item(), problem },
    }
}

/// Read a string or blob entry into a zeroizing buffer.
fn read_bytes<K: Kv>(kv: &mut K, namespace: &str, key: &str) -> Result<(ValueType, SecretBytes), CertError> {
    let entry = EntryName::new(namespace, key);
    let info = kv.info(namespace, key).map_err(|e| CertError::from_kv(entry, e))?;
    if info.value_type.is_integer() {
        return Err(CertError::WrongType { entry, found: info.value_type });
    }
    let mut buf = Zeroizing::new(vec![0u8; info.len]);
    let (value_type, len) = match kv.get(namespace, key, &mut buf) {
        Ok(v) => (v.value_type(), v.len()),
        Err(e) => return Err(CertError::from_kv(entry, e)),
    };
    if value_type.is_integer() {
        return Err(CertError::WrongType { entry, found: value_type });
    }
    buf.truncate(len);
    Ok((value_type, SecretBytes(buf)))
}
