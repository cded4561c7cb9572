//! Arbitrary bytes through the cert store's PEM/DER checks: they must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for item in at_certstore::Item::ALL {
        let _ = at_certstore::format::validate(item, data);
    }
    if let Ok(certs) = at_certstore::format::parse_certificates(data) {
        assert!(!certs.is_empty(), "Ok means at least one certificate");
    }
    let _ = at_certstore::format::parse_private_key(data);
});
