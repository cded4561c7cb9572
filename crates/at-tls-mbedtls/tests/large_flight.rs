//! A handshake flight larger than the outgoing buffer (an ~8.9 KiB server chain), delivered
//! to the client in every chunk size from 1 to 1500 bytes, must complete. mbedtls-rs's MBio
//! stages one byte (`write_byte`) and reports it as sent whenever the stream takes less than
//! asked; on the last record of a flight that byte stayed staged while the handshake waited to
//! read, and both peers waited forever (found by a review). The adapter's stream now takes
//! every write whole.

use at_certstore::format;
use at_hal::tls::{ClientParams, Identity, KeyEncoding, ServerParams, TlsSession};
use at_tls_mbedtls::MbedTls;
use std::path::Path;

fn demo(file: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../at-certstore/demo").join(file)).unwrap()
}

/// Returns true if the handshake finished.
fn run(tls: &mut MbedTls, chain: &[&[u8]], key: &[u8], enc: KeyEncoding, chunk: usize) -> bool {
    let id = Identity { chain, key, key_encoding: enc };
    let mut acc = tls.acceptor(&ServerParams { identity: id, client_ca: None, unix_time: None }).unwrap();
    let mut server = acc.accept_session().unwrap();
    let mut client = tls
        .client_session(&ClientParams {
            host: "esp-at-sim",
            sni: None,
            alpn: &[],
            identity: None,
            server_ca: None,
            common_name: None,
            cipher_suites: None,
            unix_time: None,
        })
        .unwrap();
    let mut idle = 0;
    for _ in 0..200_000 {
        client.process().unwrap();
        server.process().unwrap();
        if !client.is_handshaking() && !server.is_handshaking() {
            return true;
        }
        let mut moved = 0;
        // server -> client, at most `chunk` bytes a step (a slow socket)
        let n = server.outgoing().len().min(chunk);
        let space = client.incoming_space();
        let n = n.min(space.len());
        let data = server.outgoing()[..n].to_vec();
        client.incoming_space()[..n].copy_from_slice(&data);
        client.received(n);
        server.sent(n);
        moved += n;
        // client -> server, all
        let n = client.outgoing().len().min(server.incoming_space().len());
        let data = client.outgoing()[..n].to_vec();
        server.incoming_space()[..n].copy_from_slice(&data);
        server.received(n);
        client.sent(n);
        moved += n;
        if moved == 0 {
            idle += 1;
            if idle > 50 {
                eprintln!(
                    "chunk {chunk}: stalled, client handshaking {} server handshaking {} (outgoing c={} s={})",
                    client.is_handshaking(),
                    server.is_handshaking(),
                    client.outgoing().len(),
                    server.outgoing().len()
                );
                return false;
            }
        } else {
            idle = 0;
        }
    }
    eprintln!("chunk {chunk}: step limit");
    false
}

#[test]
fn handshake_never_stalls_on_a_staged_byte() {
    let mut tls = MbedTls::host();
    let server = format::parse_certificates(&demo("server_cert.pem")).unwrap();
    let ca = format::parse_certificates(&demo("ca.pem")).unwrap();
    let key = format::parse_private_key(&demo("server_key.pem")).unwrap();
    let enc = match key.format() {
        at_certstore::KeyFormat::Pkcs1 => KeyEncoding::Pkcs1,
        at_certstore::KeyFormat::Pkcs8 => KeyEncoding::Pkcs8,
        at_certstore::KeyFormat::Sec1 => KeyEncoding::Sec1,
    };
    // A long chain (the CA repeated) so that the server's flight is larger than
    // OUTGOING_CAPACITY.
    let mut chain: Vec<&[u8]> = vec![server[0].as_ref()];
    for _ in 0..16 {
        chain.push(ca[0].as_ref());
    }
    let total: usize = chain.iter().map(|c| c.len()).sum();
    eprintln!("chain bytes: {total}");
    let mut stalled = Vec::new();
    for chunk in 1..=1500 {
        if !run(&mut tls, &chain, key.secret_der(), enc, chunk) {
            stalled.push(chunk);
            if stalled.len() >= 8 {
                break;
            }
        }
    }
    assert!(stalled.is_empty(), "handshake stalled with socket chunk sizes {stalled:?}");
}
