//! # at-certstore: ESP-AT's certificate store, with every failure explicit
//!
//! ESP-AT keeps TLS certificates and keys in the `mfg_nvs` partition and reads them per
//! connection. When that partition was written with flash encryption but is read as plain,
//! ESP-AT sees `cert_len=0`, and its SSL server accepts and closes connections in a loop until
//! the watchdog resets the chip — no error ever reaches the AT host. This crate makes each of
//! those failures a value the AT layer can print.
//!
//! ## Layers
//!
//! * [`names`] — ESP-AT's PKI names, exactly: [`Feature`] × [`Item`] × index ↔ (namespace,
//!   key), e.g. `client_cert/client_cert.1`, `server_key/server_key`; and the secret policy
//!   [`holds_private_key`].
//! * [`format`] — structural PEM/DER checks ([`format::parse_certificates`],
//!   [`format::parse_private_key`], [`format::validate`]) that never panic on any input.
//! * [`CertStore`] — over any [`at_hal::kv::Kv`]: read, count, write, erase items; load
//!   everything a TLS server or client config needs ([`CertStore::load_server_credentials`],
//!   [`CertStore::load_client_credentials`]) as `rustls-pki-types` values, or a precise
//!   [`CertError`]; the `AT+SYSMFG` read path ([`CertStore::mfg_read`]) that refuses private
//!   keys unless the firmware opts in.
//! * [`sealed`] — [`Sealed`], a [`Kv`](at_hal::kv::Kv) that wraps any `Kv` and stores every
//!   value as AES-256-GCM-SIV ciphertext bound to its namespace, key and type: a wrong key or
//!   any tampering is [`KvError::Authentication`](at_hal::kv::KvError::Authentication).
//! * [`demo`] — public test credentials for the PC simulator, and a function that provisions
//!   them under ESP-AT's names.
//!
//! ## Feature `x509` (default)
//!
//! [`format`], [`CertStore`], [`CertError`] and the `rustls-pki-types` re-export parse
//! certificates and keys and need the X.509/PEM stack (`der`, `x509-cert`, `pkcs8`, `pkcs1`,
//! `sec1`, `pem-rfc7468`, `rustls-pki-types`); they exist only with the default feature `x509`.
//! Without it (`default-features = false`) the crate is [`names`] (with the secret policy
//! [`holds_private_key`]), [`sealed`] and [`demo`]: what the firmware core needs for its
//! `AT+SYSMFG` read policy, without linking a certificate parser.
//!
//! ## Example
//!
//! ```
//! # #[cfg(feature = "x509")]
//! # fn main() -> Result<(), Box<dyn core::error::Error>> {
//! use at_certstore::{AuthMode, CertError, CertStore, EntryName, demo};
//! use at_hal::kv::{Kv, MemKv, Value};
//!
//! let mut kv = MemKv::new();
//! demo::provision(&mut kv)?;
//! let mut store = CertStore::new(kv);
//!
//! // AT+CIPSERVER=1,443,"SSL",1: load before listening; an error becomes ERROR.
//! let server = store.load_server_credentials(true)?;
//! assert_eq!(server.cert_chain.len(), 1);
//!
//! // AT+CIPSSLCCONF=0,3,0,0 then AT+CIPSTART="SSL",...
//! let client = store.load_client_credentials(AuthMode::Mutual, 0, 0)?;
//! assert!(client.identity.is_some() && client.server_ca.is_some());
//!
//! // ESP-AT's cert_len=0, made explicit:
//! store.kv_mut().set("server_cert", "server_cert", Value::Blob(b""))?;
//! let err = store.load_server_credentials(false).unwrap_err();
//! assert_eq!(err, CertError::Empty { entry: EntryName::new("server_cert", "server_cert") });
//! assert_eq!(err.to_string(), "server_cert/server_cert: empty (length 0)");
//!
//! // AT+SYSMFG=1,"server_key","server_key" is refused unless the firmware opts in.
//! assert!(matches!(store.mfg_read("server_key", "server_key"), Err(CertError::KeyReadbackRefused { .. })));
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "x509"))]
//! # fn main() {}
//! ```
//!
//! ## Errors
//!
//! [`CertError`] is small and `Copy`, names the namespace/key concerned, and keeps a store's
//! [`Unreadable`](at_hal::kv::Unreadable) diagnosis unchanged (with
//! [`CertError::remedy`]). An empty entry (`cert_len=0`) is [`CertError::Empty`], not a parse
//! error.
//!
//! ## Secrets
//!
//! Every byte buffer read from the store is a [`SecretBytes`] and every key a
//! [`PrivateKey`]; both zeroize on drop (they implement [`zeroize::ZeroizeOnDrop`]) and their
//! `Debug` shows lengths only. [`SealKey`] likewise.
//!
//! ## Not implemented
//!
//! * No validity-date or signature checks (TLS does those). Key/certificate pairing is checked
//!   structurally ([`format::key_matches_certificate`]); a pairing it cannot decide without
//!   crypto (e.g. Ed25519 PKCS#8 v1) is left to rustls.
//! * ESP-AT's legacy `wpa2_*` namespaces (`CONFIG_AT_EAP_LEGACY_NAMESPACE_SUPPORT`) and
//!   legacy raw PKI partitions are not mapped (the secret policy still covers `wpa2_key`).
//! * [`Sealed`] does not detect deletion or rollback of whole entries.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// The crate docs describe the `x509` items, which are absent without the feature.
#![cfg_attr(not(feature = "x509"), allow(rustdoc::broken_intra_doc_links))]

extern crate alloc;

pub mod demo;
#[cfg(feature = "x509")]
mod error;
#[cfg(feature = "x509")]
pub mod format;
pub mod names;
pub mod sealed;
#[cfg(feature = "x509")]
mod store;

#[cfg(feature = "x509")]
pub use error::CertError;
#[cfg(feature = "x509")]
pub use format::{FormatError, KeyFormat, KeyMatch, PrivateKey};
pub use names::{EntryName, Feature, Item, PkiItem, holds_private_key};
pub use sealed::{SealKey, Sealed};
#[cfg(feature = "x509")]
pub use store::{
    AuthMode, CertStore, ClientCredentials, ClientIdentity, MfgValue, SecretBytes, ServerCredentials,
};

/// Re-exported: the types [`CertStore`] hands to the TLS layer.
#[cfg(feature = "x509")]
pub use rustls_pki_types;
