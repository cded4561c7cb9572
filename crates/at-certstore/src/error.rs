//! [`CertError`]: why the cert store could not deliver an item.

use core::fmt;

use at_hal::kv::{KvError, Unreadable, ValueType};

use crate::format::FormatError;
use crate::names::{EntryName, IndexError, Item, PkiItem};

/// Why a certificate, key or CA could not be read, written or loaded. Small and `Copy`; every
/// variant names the entry concerned, so the AT layer can print it as is.
///
/// ESP-AT collapses all of these into a silent accept-close loop; the mapping from ESP-AT's
/// own log lines is: `cert_len=0` → [`Empty`](CertError::Empty); `NO CERT FOUND` /
/// `NO PRVT_KEY FOUND` / `NO CA FOUND` → [`Missing`](CertError::Missing); an mbedTLS parse
/// failure → [`Invalid`](CertError::Invalid); a flash-encrypted `mfg_nvs` read as plain →
/// [`Unreadable`](CertError::Unreadable) with
/// [`Unreadable::FlashEncryptedReadAsPlain`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertError {
    /// The entry does not exist.
    Missing {
        /// The entry looked for.
        entry: EntryName,
    },
    /// The entry exists and is empty (ESP-AT's `cert_len=0`).
    Empty {
        /// The entry.
        entry: EntryName,
    },
    /// The partition behind the store cannot be read at all. The diagnosis is the store's,
    /// unchanged; [`CertError::remedy`] gives the fix.
    Unreadable {
        /// The entry that was being accessed.
        entry: EntryName,
        /// What the store found.
        cause: Unreadable,
    },
    /// The store failed on this entry (an [`KvError::Authentication`] failure of a sealed store
    /// included).
    Store {
        /// The entry.
        entry: EntryName,
        /// The store's error (never `NotFound` or `Unreadable`: those have their own variants).
        error: KvError,
    },
    /// The entry holds an integer, not the string or blob a PEM/DER item needs.
    WrongType {
        /// The entry.
        entry: EntryName,
        /// The type found.
        found: ValueType,
    },
    /// The entry's bytes are not a valid PEM/DER item of the kind its name says.
    Invalid {
        /// The entry.
        entry: EntryName,
        /// What it should hold.
        item: Item,
        /// What is wrong with it.
        problem: FormatError,
    },
    /// The private key does not belong to the certificate (compared structurally, see
    /// [`key_matches_certificate`](crate::format::key_matches_certificate)): every handshake
    /// would fail.
    KeyMismatch {
        /// The certificate entry.
        cert: PkiItem,
        /// The key entry.
        key: PkiItem,
    },
    /// A PKI index out of range for its feature.
    Index(IndexError),
    /// `AT+SYSMFG` read of a private key, and the firmware did not opt in to key read-back.
    KeyReadbackRefused {
        /// The entry.
        entry: EntryName,
    },
}

impl CertError {
    /// Map a store error on `entry`: `NotFound` → [`Missing`](CertError::Missing),
    /// `Unreadable` → [`Unreadable`](CertError::Unreadable), anything else →
    /// [`Store`](CertError::Store).
    pub fn from_kv(entry: EntryName, error: KvError) -> CertError {
        match error {
            KvError::NotFound => CertError::Missing { entry },
            KvError::Unreadable(cause) => CertError::Unreadable { entry, cause },
            error => CertError::Store { entry, error },
        }
    }

    /// The entry concerned, if the error is about one (for a key mismatch, the key).
    pub fn entry(&self) -> Option<EntryName> {
        match *self {
            CertError::Missing { entry }
            | CertError::Empty { entry }
            | CertError::Unreadable { entry, .. }
            | CertError::Store { entry, .. }
            | CertError::WrongType { entry, .. }
            | CertError::Invalid { entry, .. }
            | CertError::KeyReadbackRefused { entry } => Some(entry),
            CertError::KeyMismatch { key, .. } => Some(key.entry()),
            CertError::Index(_) => None,
        }
    }

    /// What to do about it, when there is a known fix (an unreadable partition, an empty or
    /// encrypted item).
    pub fn remedy(&self) -> Option<&'static str> {
        match *self {
            CertError::Unreadable { cause, .. } => Some(cause.remedy()),
            CertError::Empty { .. } => Some(
                "write the item (AT+SYSMFG=2,...); if it was written, check that the partition is \
                 not flash-encrypted while read as plain",
            ),
            CertError::Invalid { problem: FormatError::EncryptedKey, .. } => {
                Some("store the key without a passphrase (openssl pkey -in key.pem -out plain.pem)")
            }
            CertError::Store { error: KvError::Authentication, .. } => {
                Some("the sealing key is wrong or the entry was modified: re-provision the entry")
            }
            _ => None,
        }
    }
}

impl fmt::Display for CertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertError::Missing { entry } => write!(f, "{entry}: not found"),
            CertError::Empty { entry } => write!(f, "{entry}: empty (length 0)"),
            CertError::Unreadable { entry, cause } => write!(f, "{entry}: store unreadable: {cause}"),
            CertError::Store { entry, error } => write!(f, "{entry}: {error}"),
            CertError::WrongType { entry, found } => {
                write!(f, "{entry}: holds a {found}, not a string or blob")
            }
            CertError::Invalid { entry, item, problem } => {
                write!(f, "{entry}: not a valid PEM/DER {}: {problem}", item.description())
            }
            CertError::KeyMismatch { cert, key } => {
                write!(f, "{key}: private key does not match the certificate in {cert}")
            }
            CertError::Index(e) => write!(f, "{e}"),
            CertError::KeyReadbackRefused { entry } => {
                write!(f, "{entry}: holds a private key; reading it back is disabled by the firmware")
            }
        }
    }
}

impl core::error::Error for CertError {}

impl From<IndexError> for CertError {
    fn from(e: IndexError) -> Self {
        CertError::Index(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn small_and_precise() {
        assert!(core::mem::size_of::<CertError>() <= 64, "{}", core::mem::size_of::<CertError>());
        let entry = EntryName::new("server_cert", "server_cert");
        let e = CertError::from_kv(entry, KvError::Unreadable(Unreadable::FlashEncryptedReadAsPlain));
        assert_eq!(
            e.to_string(),
            "server_cert/server_cert: store unreadable: partition is flash-encrypted but read as plain"
        );
        assert_eq!(e.remedy(), Some(Unreadable::FlashEncryptedReadAsPlain.remedy()));
        assert_eq!(CertError::from_kv(entry, KvError::NotFound), CertError::Missing { entry });
        assert_eq!(
            CertError::from_kv(entry, KvError::Flash).to_string(),
            "server_cert/server_cert: flash I/O error"
        );
    }
}
