//! A demo credential set for the PC simulator's built-in default store.
//!
//! **Public test credentials** (`demo/` in this crate; its README says the same): anyone can
//! read these keys, so they authenticate nothing. They exist so that `at-sim` answers
//! `AT+CIPSERVER=1,443,"SSL"` out of the box and `openssl s_client -CAfile demo/ca.pem
//! -connect localhost:443` (or `curl --cacert`) verifies.
//!
//! All P-256 (ECDSA), valid for 20 years from 2026-11-23, signed by one self-signed CA:
//! * server: CN `esp-at-sim`, SAN `DNS:esp-at-sim`, `DNS:localhost`, `IP:127.0.0.1`,
//!   extended key usage serverAuth;
//! * client: CN `esp-at-sim-client`, extended key usage clientAuth.

use at_hal::kv::{Kv, KvError, Value};

/// The demo CA certificate (PEM).
pub const CA_CERT: &[u8] = include_bytes!("../demo/ca.pem");
/// The server certificate (PEM), CN `esp-at-sim`.
pub const SERVER_CERT: &[u8] = include_bytes!("../demo/server_cert.pem");
/// The server's private key (PEM, PKCS#8). Public: see the module docs.
pub const SERVER_KEY: &[u8] = include_bytes!("../demo/server_key.pem");
/// The client certificate (PEM), CN `esp-at-sim-client`.
pub const CLIENT_CERT: &[u8] = include_bytes!("../demo/client_cert.pem");
/// The client's private key (PEM, PKCS#8). Public: see the module docs.
pub const CLIENT_KEY: &[u8] = include_bytes!("../demo/client_key.pem");

/// The entries [`provision`] writes: `(namespace, key, bytes)`, under ESP-AT's names.
pub const ENTRIES: [(&str, &str, &[u8]); 6] = [
    ("server_cert", "server_cert", SERVER_CERT),
    ("server_key", "server_key", SERVER_KEY),
    ("server_ca", "server_ca", CA_CERT),
    ("client_cert", "client_cert.0", CLIENT_CERT),
    ("client_key", "client_key.0", CLIENT_KEY),
    ("client_ca", "client_ca.0", CA_CERT),
];

/// Write the demo set into `kv` as blobs: `server_cert`, `server_key`, `server_ca`,
/// `client_cert.0`, `client_key.0`, `client_ca.0` (the CA verifies both sides).
pub fn provision<K: Kv + ?Sized>(kv: &mut K) -> Result<(), KvError> {
    for (ns, key, bytes) in ENTRIES {
        kv.set(ns, key, Value::Blob(bytes))?;
    }
    Ok(())
}
