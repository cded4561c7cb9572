//! [`Sealed`]: an authenticated-encryption layer over any [`Kv`].
//!
//! ESP-AT's `mfg_nvs` is plaintext NVS; flash encryption alone is confidential but not
//! authenticated, and a wrong key yields garbage that mbedTLS then chokes on. [`Sealed`] wraps
//! any store and is itself a [`Kv`] whose every value is AEAD ciphertext, so a wrong key, a
//! flipped bit, or a value moved to another name or type is reported as
//! [`KvError::Authentication`] — never returned as garbage, never a panic.
//!
//! # Format
//!
//! Every value, integers included, is stored in the inner store as a **blob**:
//!
//! ```text
//! [version = 1][logical type][nonce: 12 bytes][ciphertext: n bytes][tag: 16 bytes]
//! ```
//!
//! ([`SEAL_OVERHEAD`] = 30 bytes.) The associated data binds the value to where it lives and
//! what it is: a fixed domain label, the version and type bytes, and the length-prefixed
//! namespace and key. Moving a sealed value to another key, renaming its namespace,
//! relabelling its type or truncating it all fail authentication. Names are *not*
//! encrypted and get no suffix: the inner store's 15-byte limit applies to the caller's names
//! unchanged.
//!
//! # Cipher and nonce policy
//!
//! **AES-256-GCM-SIV** (RFC 8452, the RustCrypto `aes-gcm-siv` crate) with a **fresh random
//! 96-bit nonce per write**, drawn from the [`Entropy`] source given to [`Sealed::new`] and
//! stored in front of the ciphertext.
//!
//! Why a misuse-resistant mode: the ESP32-C3's RNG is only truly random while the radio (or
//! the bootloader's SAR-ADC entropy source) is running; provisioning and early boot may run
//! without either, and a host test double may be seeded. With AES-GCM or ChaCha20-Poly1305 a
//! repeated nonce would leak the XOR of two plaintexts and let an attacker forge values.
//! With GCM-SIV a repeated nonce reveals only whether the *same* value was written to the
//! *same* name twice; confidentiality and integrity otherwise hold. With a good RNG, random
//! 96-bit nonces under GCM-SIV's per-nonce key derivation stay safe far beyond the number of
//! writes a flash partition survives. Software AES (`aes`, constant-time fixslicing) is used
//! on every target; the cost is a few milliseconds per certificate on an ESP32-C3.
//!
//! # What it does not protect against
//!
//! Per-entry authentication cannot see a *deleted* entry, nor an *older* sealed value put
//! back under the same name (rollback): both would need a store-wide MAC or counter.
//!
//! # Cost
//!
//! [`Kv::info`] and [`Kv::for_each_entry`] authenticate (decrypt) every entry they report,
//! so listings are trustworthy; a listing costs a full read of the namespace.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use aes_gcm_siv::aead::{AeadInOut, KeyInit};
use aes_gcm_siv::{Aes256GcmSiv, Nonce, Tag};
use at_hal::kv::{
    EntryInfo, Kv, KvError, MAX_BLOB_LEN, Protection, Value, ValueType, validate_name, validate_value,
};
use at_hal::system::Entropy;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::names::Name;

/// Bytes a sealed value occupies beyond its plaintext: version, type, nonce and tag.
pub const SEAL_OVERHEAD: usize = HEADER_LEN + TAG_LEN;
/// Longest blob [`Sealed`] accepts: the inner store's [`MAX_BLOB_LEN`] minus the overhead.
pub const MAX_SEALED_BLOB_LEN: usize = MAX_BLOB_LEN - SEAL_OVERHEAD;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 2 + NONCE_LEN;
const AD_LABEL: &[u8] = b"esp-at-rs sealed kv";
const AD_MAX: usize = AD_LABEL.len() + 2 + 2 * (1 + at_hal::kv::MAX_NAME_LEN);

/// A 256-bit sealing key. Zeroized on drop; `Debug` never shows it.
///
/// Where it comes from is the firmware's business: on an ESP32-C3, derived with the eFuse
/// HMAC peripheral (as NVS encryption does), never stored beside the data it protects.
#[derive(Clone)]
pub struct SealKey([u8; 32]);

impl SealKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> SealKey {
        SealKey(bytes)
    }

    /// A fresh random key.
    pub fn generate(rng: &mut impl Entropy) -> SealKey {
        let mut k = [0u8; 32];
        rng.fill_bytes(&mut k);
        SealKey(k)
    }
}

impl Drop for SealKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for SealKey {}

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealKey(<redacted>)")
    }
}

/// A [`Kv`] that stores every value of an inner [`Kv`] as AES-256-GCM-SIV ciphertext bound to
/// its namespace, key and type. See the [module docs](self) for format and nonce policy.
///
/// `protection()` is [`Protection::Authenticated`] whatever the inner store offers.
pub struct Sealed<K, E> {
    inner: K,
    /// Holds the expanded key; `aes` (feature `zeroize`) clears it on drop.
    cipher: Aes256GcmSiv,
    rng: E,
}

impl<K: fmt::Debug, E> fmt::Debug for Sealed<K, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed")
            .field("inner", &self.inner)
            .field("cipher", &"AES-256-GCM-SIV")
            .finish_non_exhaustive()
    }
}

/// A decrypted value.
struct Opened {
    value_type: ValueType,
    /// Plaintext, in `buf[HEADER_LEN..HEADER_LEN + len]`.
    buf: Zeroizing<Vec<u8>>,
    len: usize,
}

impl Opened {
    fn plaintext(&self) -> &[u8] {
        &self.buf[HEADER_LEN..HEADER_LEN + self.len]
    }

    fn info(&self) -> EntryInfo {
        EntryInfo { value_type: self.value_type, len: self.len }
    }
}

impl<K: Kv, E: Entropy> Sealed<K, E> {
    /// Seal `inner` with `key`, drawing nonces from `rng`. The key is consumed (and zeroized).
    pub fn new(inner: K, key: SealKey, rng: E) -> Self {
        // Borrow the key bytes as an `Array` (no copy left behind on the stack).
        let cipher = Aes256GcmSiv::new((&key.0).into());
        drop(key);
        Sealed { inner, cipher, rng }
    }

    /// The inner store (holding ciphertext).
    pub fn inner(&self) -> &K {
        &self.inner
    }

    /// The inner store, mutably. Writing to it directly is allowed (that is what tamper tests
    /// do); anything not sealed by this key fails authentication on read.
    pub fn inner_mut(&mut self) -> &mut K {
        &mut self.inner
    }

    /// Unwrap the inner store.
    pub fn into_inner(self) -> K {
        self.inner
    }

    /// Like [`Kv::for_each_entry`], but reports each entry's own result instead of failing the
    /// whole listing: for diagnosis (`at-mfg inspect`), to find *which* entry fails.
    pub fn for_each_entry_checked(
        &mut self,
        namespace: &str,
        f: &mut dyn FnMut(&str, Result<EntryInfo, KvError>),
    ) -> Result<(), KvError> {
        for key in self.keys(namespace)? {
            let r = self.open(namespace, key.as_str()).map(|o| o.info());
            f(key.as_str(), r);
        }
        Ok(())
    }

    fn keys(&mut self, namespace: &str) -> Result<Vec<Name>, KvError> {
        validate_name(namespace)?;
        let mut keys = Vec::new();
        let mut bad = false;
        self.inner.for_each_entry(namespace, &mut |k, _| match Name::new(k) {
            Some(n) => keys.push(n),
            None => bad = true,
        })?;
        if bad {
            return Err(KvError::InvalidName);
        }
        Ok(keys)
    }

    fn open(&mut self, namespace: &str, key: &str) -> Result<Opened, KvError> {
        validate_name(namespace)?;
        validate_name(key)?;
        let info = self.inner.info(namespace, key)?;
        if info.value_type != ValueType::Blob || info.len < SEAL_OVERHEAD {
            return Err(KvError::Authentication);
        }
        let mut buf = Zeroizing::new(vec![0u8; info.len]);
        let whole_blob =
            matches!(self.inner.get(namespace, key, &mut buf)?, Value::Blob(b) if b.len() == info.len);
        if !whole_blob {
            return Err(KvError::Authentication);
        }
        let (header, rest) = buf.split_at_mut(HEADER_LEN);
        let value_type = type_from_code(header[1]).ok_or(KvError::Authentication)?;
        if header[0] != VERSION {
            return Err(KvError::Authentication);
        }
        let (ad, ad_len) = associated_data(header[0], header[1], namespace, key);
        let nonce = Nonce::try_from(&header[2..]).map_err(|_| KvError::Authentication)?;
        let (ciphertext, tag) = rest.split_at_mut(rest.len() - TAG_LEN);
        let tag = Tag::try_from(&*tag).map_err(|_| KvError::Authentication)?;
        self.cipher
            .decrypt_inout_detached(&nonce, &ad[..ad_len], ciphertext.into(), &tag)
            .map_err(|_| KvError::Authentication)?;
        let len = ciphertext.len();
        if value_type.is_integer() && len != int_width(value_type) {
            return Err(KvError::Authentication);
        }
        Ok(Opened { value_type, buf, len })
    }
}

impl<K: Kv, E: Entropy> Kv for Sealed<K, E> {
    fn info(&mut self, namespace: &str, key: &str) -> Result<EntryInfo, KvError> {
        Ok(self.open(namespace, key)?.info())
    }

    fn get<'b>(&mut self, namespace: &str, key: &str, buf: &'b mut [u8]) -> Result<Value<'b>, KvError> {
        let opened = self.open(namespace, key)?;
        let p = opened.plaintext();
        let int = |n: usize| -> [u8; 8] {
            let mut a = [0u8; 8];
            a[..n].copy_from_slice(&p[..n]);
            a
        };
        Ok(match opened.value_type {
            ValueType::U8 => Value::U8(p[0]),
            ValueType::I8 => Value::I8(p[0] as i8),
            ValueType::U16 => Value::U16(u16::from_le_bytes([p[0], p[1]])),
            ValueType::I16 => Value::I16(i16::from_le_bytes([p[0], p[1]])),
            ValueType::U32 => Value::U32(u32::from_le_bytes([p[0], p[1], p[2], p[3]])),
            ValueType::I32 => Value::I32(i32::from_le_bytes([p[0], p[1], p[2], p[3]])),
            ValueType::U64 => Value::U64(u64::from_le_bytes(int(8))),
            ValueType::I64 => Value::I64(i64::from_le_bytes(int(8))),
            t @ (ValueType::Str | ValueType::Blob) => {
                let out = buf.get_mut(..p.len()).ok_or(KvError::BufferTooSmall { needed: p.len() })?;
                out.copy_from_slice(p);
                if t == ValueType::Str { Value::Str(out) } else { Value::Blob(out) }
            }
        })
    }

    fn set(&mut self, namespace: &str, key: &str, value: Value<'_>) -> Result<(), KvError> {
        validate_name(namespace)?;
        validate_name(key)?;
        validate_value(&value)?;
        let mut int = [0u8; 8];
        let plaintext: &[u8] = match value {
            Value::U8(v) => int_bytes(&mut int, &[v]),
            Value::I8(v) => int_bytes(&mut int, &v.to_le_bytes()),
            Value::U16(v) => int_bytes(&mut int, &v.to_le_bytes()),
            Value::I16(v) => int_bytes(&mut int, &v.to_le_bytes()),
            Value::U32(v) => int_bytes(&mut int, &v.to_le_bytes()),
            Value::I32(v) => int_bytes(&mut int, &v.to_le_bytes()),
            Value::U64(v) => int_bytes(&mut int, &v.to_le_bytes()),
            Value::I64(v) => int_bytes(&mut int, &v.to_le_bytes()),
            Value::Str(b) | Value::Blob(b) => b,
        };
        if plaintext.len() > MAX_SEALED_BLOB_LEN {
            return Err(KvError::ValueTooLong { max: MAX_SEALED_BLOB_LEN });
        }
        let code = type_code(value.value_type());
        let mut sealed = vec![0u8; plaintext.len() + SEAL_OVERHEAD];
        sealed[0] = VERSION;
        sealed[1] = code;
        self.rng.fill_bytes(&mut sealed[2..HEADER_LEN]);
        let (header, rest) = sealed.split_at_mut(HEADER_LEN);
        let (body, tag_out) = rest.split_at_mut(plaintext.len());
        body.copy_from_slice(plaintext);
        int.zeroize();
        let (ad, ad_len) = associated_data(VERSION, code, namespace, key);
        let nonce = Nonce::try_from(&header[2..]).map_err(|_| KvError::Authentication)?;
        let tag = self.cipher.encrypt_inout_detached(&nonce, &ad[..ad_len], body.into()).map_err(|_| {
            // Only possible beyond RFC 8452's 2^36-byte limit, far above MAX_BLOB_LEN.
            KvError::ValueTooLong { max: MAX_SEALED_BLOB_LEN }
        })?;
        tag_out.copy_from_slice(tag.as_slice());
        self.inner.set(namespace, key, Value::Blob(&sealed))
    }

    fn erase(&mut self, namespace: &str, key: &str) -> Result<(), KvError> {
        validate_name(namespace)?;
        validate_name(key)?;
        self.inner.erase(namespace, key)
    }

    fn erase_namespace(&mut self, namespace: &str) -> Result<(), KvError> {
        validate_name(namespace)?;
        self.inner.erase_namespace(namespace)
    }

    fn for_each_namespace(&mut self, f: &mut dyn FnMut(&str)) -> Result<(), KvError> {
        self.inner.for_each_namespace(f)
    }

    /// Authenticates every entry first; if any fails, returns that error without calling `f`
    /// (use [`Sealed::for_each_entry_checked`] to see which).
    fn for_each_entry(&mut self, namespace: &str, f: &mut dyn FnMut(&str, EntryInfo)) -> Result<(), KvError> {
        let keys = self.keys(namespace)?;
        let mut infos = Vec::with_capacity(keys.len());
        for key in &keys {
            infos.push(self.open(namespace, key.as_str())?.info());
        }
        for (key, info) in keys.iter().zip(infos) {
            f(key.as_str(), info);
        }
        Ok(())
    }

    fn protection(&self) -> Protection {
        Protection::Authenticated
    }
}

fn int_bytes<'a>(out: &'a mut [u8; 8], le: &[u8]) -> &'a [u8] {
    out[..le.len()].copy_from_slice(le);
    &out[..le.len()]
}

fn int_width(t: ValueType) -> usize {
    match t {
        ValueType::U8 | ValueType::I8 => 1,
        ValueType::U16 | ValueType::I16 => 2,
        ValueType::U32 | ValueType::I32 => 4,
        _ => 8,
    }
}

const TYPES: [ValueType; 10] = [
    ValueType::U8,
    ValueType::I8,
    ValueType::U16,
    ValueType::I16,
    ValueType::U32,
    ValueType::I32,
    ValueType::U64,
    ValueType::I64,
    ValueType::Str,
    ValueType::Blob,
];

/// Stable on-medium code of a logical type: 1..=10 in `TYPES` order.
fn type_code(t: ValueType) -> u8 {
    TYPES.iter().position(|&x| x == t).map_or(0, |i| i as u8 + 1)
}

fn type_from_code(code: u8) -> Option<ValueType> {
    TYPES.get(usize::from(code).checked_sub(1)?).copied()
}

/// `label || version || type || len(ns) || ns || len(key) || key`, in a stack buffer.
fn associated_data(version: u8, code: u8, namespace: &str, key: &str) -> ([u8; AD_MAX], usize) {
    let mut ad = [0u8; AD_MAX];
    let mut n = 0;
    let mut put = |bytes: &[u8]| {
        // Names are validated (<= 15 bytes) before this is called; `get_mut` keeps it total.
        if let Some(dst) = ad.get_mut(n..n + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
        n += bytes.len();
    };
    put(AD_LABEL);
    put(&[version, code]);
    put(&[namespace.len() as u8]);
    put(namespace.as_bytes());
    put(&[key.len() as u8]);
    put(key.as_bytes());
    (ad, n.min(AD_MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use at_hal::kv::MemKv;

    /// A deterministic test RNG (xorshift); never for real use.
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

    fn store() -> Sealed<MemKv, TestRng> {
        Sealed::new(MemKv::new(), SealKey::from_bytes([7; 32]), TestRng(0x1234_5678))
    }

    #[test]
    fn type_codes_round_trip() {
        for t in TYPES {
            assert_eq!(type_from_code(type_code(t)), Some(t));
        }
        assert_eq!(type_from_code(0), None);
        assert_eq!(type_from_code(11), None);
    }

    #[test]
    fn integers_are_sealed_blobs() {
        let mut kv = store();
        kv.set("ns", "n", Value::U32(0xdead_beef)).unwrap();
        let info = kv.inner_mut().info("ns", "n").unwrap();
        assert_eq!(info, EntryInfo { value_type: ValueType::Blob, len: 4 + SEAL_OVERHEAD });
        let mut raw = [0u8; 64];
        let Value::Blob(raw) = kv.inner_mut().get("ns", "n", &mut raw).unwrap() else { panic!("not a blob") };
        assert!(!raw.windows(4).any(|w| w == 0xdead_beef_u32.to_le_bytes()), "plaintext visible");
        assert_eq!(kv.info("ns", "n").unwrap(), EntryInfo { value_type: ValueType::U32, len: 4 });
    }

    #[test]
    fn nonces_differ_per_write() {
        let mut kv = store();
        kv.set("ns", "a", Value::Blob(b"same")).unwrap();
        let mut first = [0u8; 64];
        let first = kv.inner_mut().get("ns", "a", &mut first).unwrap().as_bytes().unwrap().to_vec();
        kv.set("ns", "a", Value::Blob(b"same")).unwrap();
        let mut second = [0u8; 64];
        let second = kv.inner_mut().get("ns", "a", &mut second).unwrap().as_bytes().unwrap().to_vec();
        assert_ne!(first[2..HEADER_LEN], second[2..HEADER_LEN], "nonce reused");
        assert_ne!(first, second);
    }

    #[test]
    fn unsealed_inner_values_fail_authentication() {
        let mut kv = store();
        kv.inner_mut().set("ns", "plain", Value::U8(1)).unwrap();
        kv.inner_mut().set("ns", "short", Value::Blob(&[1; SEAL_OVERHEAD - 1])).unwrap();
        kv.inner_mut().set("ns", "zeros", Value::Blob(&[0; 64])).unwrap();
        for k in ["plain", "short", "zeros"] {
            assert_eq!(kv.get("ns", k, &mut [0; 64]), Err(KvError::Authentication), "{k}");
            assert_eq!(kv.info("ns", k), Err(KvError::Authentication), "{k}");
        }
        assert_eq!(
            kv.for_each_entry("ns", &mut |_, _| panic!("must not list")),
            Err(KvError::Authentication)
        );
        let mut seen = Vec::new();
        kv.for_each_entry_checked("ns", &mut |k, r| seen.push((Name::new(k).unwrap(), r))).unwrap();
        assert_eq!(seen.len(), 3);
        assert!(seen.iter().all(|(_, r)| *r == Err(KvError::Authentication)));
    }

    #[test]
    fn too_long_for_the_overhead() {
        let mut kv = store();
        let big = vec![0u8; MAX_SEALED_BLOB_LEN + 1];
        assert_eq!(
            kv.set("ns", "b", Value::Blob(&big)),
            Err(KvError::ValueTooLong { max: MAX_SEALED_BLOB_LEN })
        );
    }

    #[test]
    fn key_material_is_zeroize_on_drop_by_type() {
        fn zeroize_on_drop<T: ZeroizeOnDrop>() {}
        zeroize_on_drop::<SealKey>();
        // The expanded key inside `Aes256GcmSiv` (needs `aes` feature `zeroize`).
        zeroize_on_drop::<aes::Aes256>();
    }

    #[test]
    fn debug_redacts() {
        let key = SealKey::from_bytes([0xab; 32]);
        assert_eq!(alloc::format!("{key:?}"), "SealKey(<redacted>)");
        let kv = store();
        let dbg = alloc::format!("{kv:?}");
        assert!(!dbg.contains("171") && !dbg.contains("ab"), "{dbg}");
        assert_eq!(kv.protection(), Protection::Authenticated);
    }
}
