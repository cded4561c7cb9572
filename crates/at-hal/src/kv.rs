//! The key-value storage boundary: NVS-shaped, typed, sensitive and bounded.
//!
//! Certificates, private keys, Wi-Fi credentials and the persisted AT settings all live behind
//! [`Kv`]. Its shape is ESP-IDF NVS's, so an NVS partition written by Espressif's tools can back
//! it directly:
//!
//! * a **namespace** and a **key** are each 1..=15 bytes of ASCII without NUL
//!   ([`MAX_NAME_LEN`]);
//! * a value is one of [`ValueType`]: integers `u8`..`i64`, a string (bytes, no NUL, at most
//!   [`MAX_STR_LEN`]) or a blob (at most [`MAX_BLOB_LEN`]);
//! * writing a key replaces its old value *and type*.
//!
//! **The data is sensitive.** Implementations must not log values, and callers that copy
//! secret values out (private keys) are responsible for zeroizing their copies.
//!
//! **The data is bounded.** Every method does work proportional to the store's size, never
//! more; no method blocks on anything but the flash itself.
//!
//! [`MemKv`] (feature `alloc`) is the in-memory implementation; `conformance` (feature
//! `conformance`) is the behaviour suite every implementation runs in its tests.

use core::fmt;

/// Longest namespace or key name, in bytes (ESP-IDF `NVS_KEY_NAME_MAX_SIZE - 1`).
pub const MAX_NAME_LEN: usize = 15;
/// Longest string value in bytes, *excluding* the NUL NVS stores after it (NVS: 4000 with it).
pub const MAX_STR_LEN: usize = 3999;
/// Longest blob value in bytes (NVS's API limit; a given partition may hold less).
pub const MAX_BLOB_LEN: usize = 508_000;

/// The type of a stored value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// `u8`
    U8,
    /// `i8`
    I8,
    /// `u16`
    U16,
    /// `i16`
    I16,
    /// `u32`
    U32,
    /// `i32`
    I32,
    /// `u64`
    U64,
    /// `i64`
    I64,
    /// A string: bytes without NUL (NVS adds the terminator on flash).
    Str,
    /// A blob of bytes.
    Blob,
}

impl ValueType {
    /// Whether this is one of the integer types.
    pub const fn is_integer(self) -> bool {
        !matches!(self, ValueType::Str | ValueType::Blob)
    }

    /// Lower-case name as used in ESP-IDF CSV files and `at-mfg` JSON (`u8`, `string`, `blob`...).
    pub const fn name(self) -> &'static str {
        match self {
            ValueType::U8 => "u8",
            ValueType::I8 => "i8",
            ValueType::U16 => "u16",
            ValueType::I16 => "i16",
            ValueType::U32 => "u32",
            ValueType::I32 => "i32",
            ValueType::U64 => "u64",
            ValueType::I64 => "i64",
            ValueType::Str => "string",
            ValueType::Blob => "blob",
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A value, borrowed: what [`Kv::set`] takes and [`Kv::get`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// `u8`
    U8(u8),
    /// `i8`
    I8(i8),
    /// `u16`
    U16(u16),
    /// `i16`
    I16(i16),
    /// `u32`
    U32(u32),
    /// `i32`
    I32(i32),
    /// `u64`
    U64(u64),
    /// `i64`
    I64(i64),
    /// A string (no NUL inside).
    Str(&'a [u8]),
    /// A blob.
    Blob(&'a [u8]),
}

impl<'a> Value<'a> {
    /// The type of this value.
    pub const fn value_type(&self) -> ValueType {
        match self {
            Value::U8(_) => ValueType::U8,
            Value::I8(_) => ValueType::I8,
            Value::U16(_) => ValueType::U16,
            Value::I16(_) => ValueType::I16,
            Value::U32(_) => ValueType::U32,
            Value::I32(_) => ValueType::I32,
            Value::U64(_) => ValueType::U64,
            Value::I64(_) => ValueType::I64,
            Value::Str(_) => ValueType::Str,
            Value::Blob(_) => ValueType::Blob,
        }
    }

    /// The integer, widened, if this is an integer value. Lets readers be tolerant of the
    /// integer width a generator chose (ESP-AT's `factory_param` mixes `u8`, `i8` and `i32`).
    pub const fn as_integer(&self) -> Option<i128> {
        Some(match *self {
            Value::U8(v) => v as i128,
            Value::I8(v) => v as i128,
            Value::U16(v) => v as i128,
            Value::I16(v) => v as i128,
            Value::U32(v) => v as i128,
            Value::I32(v) => v as i128,
            Value::U64(v) => v as i128,
            Value::I64(v) => v as i128,
            Value::Str(_) | Value::Blob(_) => return None,
        })
    }

    /// The bytes of a string or blob value.
    pub const fn as_bytes(&self) -> Option<&'a [u8]> {
        match *self {
            Value::Str(b) | Value::Blob(b) => Some(b),
            _ => None,
        }
    }

    /// Length in bytes: the byte length of a string (without NUL) or blob, the width of an
    /// integer.
    pub const fn len(&self) -> usize {
        match *self {
            Value::U8(_) | Value::I8(_) => 1,
            Value::U16(_) | Value::I16(_) => 2,
            Value::U32(_) | Value::I32(_) => 4,
            Value::U64(_) | Value::I64(_) => 8,
            Value::Str(b) | Value::Blob(b) => b.len(),
        }
    }

    /// Whether this is an empty string or blob.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What [`Kv::info`] and the listing methods report about one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryInfo {
    /// The stored type.
    pub value_type: ValueType,
    /// Length in bytes, as [`Value::len`].
    pub len: usize,
}

/// Why a store (or the partition behind it) cannot be read at all.
///
/// This is the diagnosis the seed bug never gave: it names the cause and the fix, and a store
/// in any of these states is left exactly as it is — never formatted, never erased.
///
/// It is the top, firmware-facing layer of the partition-state vocabulary; the layers below
/// derive it, each in one place: at-nvs's `Verdict::unreadable` for NVS content (classify and
/// mount alike), at-flash's `Finding::unreadable` for a partition as the chip reads it (which
/// embeds the verdict).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreadable {
    /// The partition the store lives in is not in the partition table(s).
    PartitionNotFound,
    /// ESP-AT's secondary partition table (at the start of `at_customize`) does not parse.
    /// If flash encryption is on, it was most likely written encrypted (`idf.py
    /// encrypted-flash`) while the firmware reads it plain.
    SecondaryTableUnreadable,
    /// The partition holds ciphertext of the chip's flash encryption but is read as plain:
    /// it was written with `idf.py encrypted-flash` / `esptool write-flash --encrypt` while the
    /// partition is not flagged `encrypted` in its table.
    FlashEncryptedReadAsPlain,
    /// Valid NVS page headers, but no entry checks out: NVS encryption is on and no
    /// `nvs_keys` (or HMAC key) was given.
    NvsKeysMissing,
    /// NVS-encrypted and the given keys do not decrypt it.
    NvsKeysWrong,
    /// The NVS pages carry a format version newer than this reader knows.
    NvsNewerVersion,
    /// Neither blank, nor NVS, nor recognisable ciphertext.
    Garbage,
}

impl Unreadable {
    /// What to do about it, in one sentence for a production engineer.
    pub const fn remedy(self) -> &'static str {
        match self {
            Unreadable::PartitionNotFound => {
                "add the partition to the partition table (ESP-AT: mfg_nvs in at_customize.csv)"
            }
            Unreadable::SecondaryTableUnreadable => {
                "re-flash at_customize.bin in plaintext (idf.py encrypted-app-flash for the app, \
                 esptool write-flash without --encrypt for data), or flag at_customize encrypted"
            }
            Unreadable::FlashEncryptedReadAsPlain => {
                "re-flash the partition image in plaintext (use idf.py encrypted-app-flash, not \
                 encrypted-flash); for confidential NVS data use NVS encryption (nvs_keys or \
                 HMAC), not flash encryption, which NVS cannot be updated under"
            }
            Unreadable::NvsKeysMissing => {
                "provide the nvs_keys partition (or the eFuse HMAC key) the image was encrypted with"
            }
            Unreadable::NvsKeysWrong => {
                "the NVS encryption keys do not match this image: provide the keys it was generated with"
            }
            Unreadable::NvsNewerVersion => "update the firmware: the NVS format is newer than it reads",
            Unreadable::Garbage => "erase the partition and write a fresh image (nothing readable is left)",
        }
    }
}

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unreadable::PartitionNotFound => "partition not found",
            Unreadable::SecondaryTableUnreadable => {
                "secondary partition table unreadable (flash-encrypted but read as plain?)"
            }
            Unreadable::FlashEncryptedReadAsPlain => "partition is flash-encrypted but read as plain",
            Unreadable::NvsKeysMissing => "partition is NVS-encrypted and no NVS keys were given",
            Unreadable::NvsKeysWrong => "NVS keys do not decrypt the partition",
            Unreadable::NvsNewerVersion => "NVS format version is newer than supported",
            Unreadable::Garbage => "partition holds neither NVS nor recognisable ciphertext",
        })
    }
}

/// How well a store protects what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Protection {
    /// Plaintext on the medium.
    None,
    /// Encrypted (e.g. NVS encryption, XTS): confidential, but a flipped bit goes unnoticed
    /// beyond what CRCs catch.
    Confidential,
    /// Authenticated encryption: confidential, and a wrong key or tampering is detected.
    Authenticated,
}

/// Errors of [`Kv`] operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvError {
    /// No such namespace or key.
    NotFound,
    /// A namespace or key name is empty, longer than [`MAX_NAME_LEN`], not ASCII, or holds NUL.
    InvalidName,
    /// The value is longer than the store accepts for its type.
    ValueTooLong {
        /// The limit for this type, in bytes.
        max: usize,
    },
    /// A string value contains a NUL byte.
    InvalidString,
    /// The caller's buffer is too small; `needed` bytes are required.
    BufferTooSmall {
        /// Bytes the value occupies.
        needed: usize,
    },
    /// The store is full.
    NoSpace,
    /// The store (or this namespace) is read-only.
    ReadOnly,
    /// The whole store cannot be read; see [`Unreadable`].
    Unreadable(Unreadable),
    /// This entry failed an integrity check (CRC) and was not returned.
    Corrupt,
    /// Authentication failed: wrong key, or the stored value was tampered with.
    Authentication,
    /// The underlying flash driver reported an error.
    Flash,
}

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvError::NotFound => f.write_str("not found"),
            KvError::InvalidName => f.write_str("invalid namespace or key name (1..=15 ASCII bytes)"),
            KvError::ValueTooLong { max } => write!(f, "value too long (max {max} bytes)"),
            KvError::InvalidString => f.write_str("string value contains NUL"),
            KvError::BufferTooSmall { needed } => write!(f, "buffer too small ({needed} bytes needed)"),
            KvError::NoSpace => f.write_str("no space left in store"),
            KvError::ReadOnly => f.write_str("store is read-only"),
            KvError::Unreadable(u) => write!(f, "{u}"),
            KvError::Corrupt => f.write_str("entry failed integrity check"),
            KvError::Authentication => f.write_str("authentication failed (wrong key or tampered data)"),
            KvError::Flash => f.write_str("flash I/O error"),
        }
    }
}

impl core::error::Error for KvError {}

/// Check a namespace or key name against NVS's rules.
pub fn validate_name(name: &str) -> Result<(), KvError> {
    let b = name.as_bytes();
    if b.is_empty() || b.len() > MAX_NAME_LEN || b.iter().any(|&c| c == 0 || !c.is_ascii()) {
        return Err(KvError::InvalidName);
    }
    Ok(())
}

/// Check a value against the type limits every store shares.
pub fn validate_value(value: &Value<'_>) -> Result<(), KvError> {
    match value {
        Value::Str(s) => {
            if s.len() > MAX_STR_LEN {
                return Err(KvError::ValueTooLong { max: MAX_STR_LEN });
            }
            if s.contains(&0) {
                return Err(KvError::InvalidString);
            }
        }
        Value::Blob(b) if b.len() > MAX_BLOB_LEN => {
            return Err(KvError::ValueTooLong { max: MAX_BLOB_LEN });
        }
        _ => {}
    }
    Ok(())
}

/// A typed, namespaced key-value store (the shape of ESP-IDF NVS).
///
/// All names are validated with [`validate_name`] and all values with [`validate_value`] by
/// implementations; invalid input is an error, never a panic.
pub trait Kv {
    /// Type and length of an entry.
    fn info(&mut self, namespace: &str, key: &str) -> Result<EntryInfo, KvError>;

    /// Read an entry. String and blob bytes are copied into `buf` and borrowed from it;
    /// integers need no buffer. `BufferTooSmall { needed }` if `buf` is short.
    fn get<'b>(&mut self, namespace: &str, key: &str, buf: &'b mut [u8]) -> Result<Value<'b>, KvError>;

    /// Write an entry, creating the namespace if needed and replacing any old value and type.
    /// On a flash backend a power cut during `set` leaves the old or the new value.
    fn set(&mut self, namespace: &str, key: &str, value: Value<'_>) -> Result<(), KvError>;

    /// Remove an entry. `NotFound` if it does not exist.
    fn erase(&mut self, namespace: &str, key: &str) -> Result<(), KvError>;

    /// Remove every entry of a namespace (the namespace itself may stay registered, as in NVS).
    /// Erasing a namespace that holds nothing is `Ok`.
    fn erase_namespace(&mut self, namespace: &str) -> Result<(), KvError>;

    /// Call `f` with the name of every namespace that holds at least one entry, in a stable
    /// order.
    fn for_each_namespace(&mut self, f: &mut dyn FnMut(&str)) -> Result<(), KvError>;

    /// Call `f` with the key and info of every entry of `namespace`, in a stable order.
    fn for_each_entry(&mut self, namespace: &str, f: &mut dyn FnMut(&str, EntryInfo)) -> Result<(), KvError>;

    /// How this store protects its contents.
    fn protection(&self) -> Protection {
        Protection::None
    }
}

/// `Kv` for a pointer type that derefs to a `Kv`, by delegation.
macro_rules! delegate_kv {
    ($($ptr:tt)*) => {
        impl<K: Kv + ?Sized> Kv for $($ptr)* {
            fn info(&mut self, namespace: &str, key: &str) -> Result<EntryInfo, KvError> {
                (**self).info(namespace, key)
            }
            fn get<'b>(&mut self, namespace: &str, key: &str, buf: &'b mut [u8]) -> Result<Value<'b>, KvError> {
                (**self).get(namespace, key, buf)
            }
            fn set(&mut self, namespace: &str, key: &str, value: Value<'_>) -> Result<(), KvError> {
                (**self).set(namespace, key, value)
            }
            fn erase(&mut self, namespace: &str, key: &str) -> Result<(), KvError> {
                (**self).erase(namespace, key)
            }
            fn erase_namespace(&mut self, namespace: &str) -> Result<(), KvError> {
                (**self).erase_namespace(namespace)
            }
            fn for_each_namespace(&mut self, f: &mut dyn FnMut(&str)) -> Result<(), KvError> {
                (**self).for_each_namespace(f)
            }
            fn for_each_entry(&mut self, namespace: &str, f: &mut dyn FnMut(&str, EntryInfo)) -> Result<(), KvError> {
                (**self).for_each_entry(namespace, f)
            }
            fn protection(&self) -> Protection {
                (**self).protection()
            }
        }
    };
}

delegate_kv!(&mut K);
#[cfg(feature = "alloc")]
delegate_kv!(alloc::boxed::Box<K>);

#[cfg(feature = "alloc")]
mod mem;
#[cfg(feature = "alloc")]
pub use mem::MemKv;

#[cfg(feature = "conformance")]
pub mod conformance;
