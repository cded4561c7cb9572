//! Arbitrary bytes through the cert store's PEM/DER checks and the key/certificate
//! comparison: they must never panic.
#![no_main]

use at_certstore::{demo, format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for item in at_certstore::Item::ALL {
        let _ = format::validate(item, data);
    }
    if let Ok(certs) = format::parse_certificates(data) {
        assert!(!certs.is_empty(), "Ok means at least one certificate");
        if let Ok(key) = format::parse_private_key(demo::SERVER_KEY) {
            let _ = format::key_matches_certificate(&key, &certs[0]);
        }
    }
    if let Ok(key) = format::parse_private_key(data) {
        if let Ok(certs) = format::parse_certificates(demo::SERVER_CERT) {
            let _ = format::key_matches_certificate(&key, &certs[0]);
        }
    }
});
