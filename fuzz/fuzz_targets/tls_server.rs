//! Arbitrary bytes from a "client" into the SSL server's session (at-tls-rustls over rustls),
//! in arbitrary chunks, with reads and writes in between: it must never panic, never hold more
//! than its fixed buffers, and end in an error or a working state, not a loop.
#![no_main]

use std::sync::OnceLock;

use at_hal::tls::{Identity, KeyEncoding, ServerParams, Tls};
use at_tls_rustls::{INCOMING_CAPACITY, OUTGOING_CAPACITY, RustlsTls};
use libfuzzer_sys::fuzz_target;

struct Creds {
    chain: Vec<Vec<u8>>,
    key: Vec<u8>,
}

fn creds() -> &'static Creds {
    static C: OnceLock<Creds> = OnceLock::new();
    C.get_or_init(|| Creds {
        chain: at_certstore::format::parse_certificates(at_certstore::demo::SERVER_CERT)
            .unwrap()
            .into_iter()
            .map(|c| c.to_vec())
            .collect(),
        key: at_certstore::format::parse_private_key(at_certstore::demo::SERVER_KEY).unwrap().secret_der().to_vec(),
    })
}

fuzz_target!(|data: &[u8]| {
    let c = creds();
    let chain: Vec<&[u8]> = c.chain.iter().map(Vec::as_slice).collect();
    let params = ServerParams {
        identity: Identity { chain: &chain, key: &c.key, key_encoding: KeyEncoding::Pkcs8 },
        client_ca: None,
        unix_time: None,
    };
    let mut acceptor = RustlsTls::default().server(&params).unwrap();
    let mut s = acceptor.accept(None).unwrap();
    // Each chunk: [len, op, bytes...]; op bit 0: try a write, bit 1: read.
    let mut rest = data;
    let mut buf = [0u8; 4096];
    while let [len, op, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (chunk, next) = tail.split_at(n);
        rest = next;
        let space = s.incoming_space();
        let k = chunk.len().min(space.len());
        space[..k].copy_from_slice(&chunk[..k]);
        s.received(k);
        if s.process().is_err() {
            return;
        }
        assert!(s.outgoing().len() <= OUTGOING_CAPACITY);
        let out = s.outgoing().len();
        s.sent(out);
        if op & 1 != 0 && s.write(b"reply").is_err() {
            return;
        }
        if op & 2 != 0 {
            let _ = s.read(&mut buf);
        }
        assert!(s.readable() <= INCOMING_CAPACITY);
    }
});
