//! SSL links on the simulated network with a rustls peer: exact bytes on the AT port.

use std::time::Duration;

use at_core::{Firmware, Options};
use at_hal::kv::MemKv;
use at_hal::net::{IpAddr, Ipv4Addr, SocketAddr};
use at_hal::time::Instant;
use at_hal::tls::{ClientParams, Tls, TlsSession};
use at_mock::{MockPlatform, PeerId, SimAp};
use at_tls_rustls::RustlsTls;

struct Dev {
    fw: Firmware<MockPlatform>,
    now: Instant,
    out: Vec<u8>,
}

impl Dev {
    fn new() -> Dev {
        let mut mfg = MemKv::new();
        at_certstore::demo::provision(&mut mfg).unwrap();
        let mut p = MockPlatform::with_stores(vec![SimAp::new(b"HomeAP", b"secret123")], MemKv::new(), mfg);
        p.tls = Box::new(RustlsTls::default());
        let mut d = Dev {
            fw: Firmware::new(p, Options::default(), Instant::ZERO),
            now: Instant::ZERO,
            out: vec![0; 1 << 16],
        };
        d.step(usize::MAX);
        assert!(d.cmd("ATE0").ends_with("OK\r\n"));
        assert!(d.cmd("AT+CWJAP=\"HomeAP\",\"secret123\"").ends_with("WIFI GOT IP\r\n\r\nOK\r\n"));
        d
    }

    /// 1 ms passes; the host reads at most `budget` bytes.
    fn step(&mut self, budget: usize) -> Vec<u8> {
        self.now = self.now + Duration::from_millis(1);
        self.fw.poll(self.now);
        let n = self.out.len().min(budget);
        let k = self.fw.transmit(&mut self.out[..n]);
        self.out[..k].to_vec()
    }

    fn cmd(&mut self, line: &str) -> String {
        self.fw.receive(format!("{line}\r\n").as_bytes(), self.now);
        let mut s = Vec::new();
        for _ in 0..3000 {
            s.extend(self.step(usize::MAX));
            if s.ends_with(b"OK\r\n") || s.ends_with(b"ERROR\r\n") {
                break;
            }
        }
        String::from_utf8_lossy(&s).into_owned()
    }
}

fn demo_ca() -> Vec<Vec<u8>> {
    at_certstore::format::parse_certificates(at_certstore::demo::CA_CERT)
        .unwrap()
        .into_iter()
        .map(|c| c.to_vec())
        .collect()
}

/// Exchange TLS bytes between the peer's session and the simulated connection.
fn shuttle(d: &mut Dev, peer: PeerId, client: &mut dyn TlsSession) {
    client.process().expect("peer TLS");
    if !client.outgoing().is_empty() {
        let n = d.fw.platform().net.peer_send(peer, client.outgoing());
        client.sent(n);
    }
    let got = d.fw.platform().net.peer_take(peer);
    let mut rest = &got[..];
    while !rest.is_empty() {
        let space = client.incoming_space();
        let n = rest.len().min(space.len());
        assert!(n > 0, "peer TLS buffer full");
        space[..n].copy_from_slice(&rest[..n]);
        client.received(n);
        rest = &rest[n..];
        client.process().expect("peer TLS");
    }
}

#[test]
fn a_quarter_megabyte_over_ssl_to_a_slow_host_arrives_whole_then_closed() {
    let mut d = Dev::new();
    assert_eq!(d.cmd("AT+CIPMUX=1"), "\r\nOK\r\n");
    assert_eq!(d.cmd("AT+CIPSERVER=1,443,\"SSL\",0"), "\r\nOK\r\n");
    let peer =
        d.fw.platform()
            .net
            .dial(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 40_000), 443)
            .unwrap();
    let ca = demo_ca();
    let ca: Vec<&[u8]> = ca.iter().map(Vec::as_slice).collect();
    let p = ClientParams {
        host: "localhost",
        sni: None,
        alpn: &[],
        identity: None,
        server_ca: Some(&ca),
        common_name: None,
        cipher_suites: None,
        unix_time: None,
    };
    let mut client = RustlsTls::default().client(&p).unwrap();
    let data: Vec<u8> = (0..256 * 1024u32).map(|i| (i * 31 + 7) as u8).collect();
    let mut sent = 0;
    let mut wire = Vec::new();
    let mut closed_sent = false;
    for _ in 0..200_000 {
        shuttle(&mut d, peer, &mut *client);
        if !client.is_handshaking() && sent < data.len() {
            sent += client.write(&data[sent..]).unwrap();
        } else if sent == data.len() && !closed_sent && client.outgoing().is_empty() {
            client.close();
            closed_sent = true;
        }
        // A host that reads 2 KiB per millisecond: the link's buffers fill and wait.
        wire.extend(d.step(2048));
        if wire.ends_with(b"0,CLOSED\r\n") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&wire);
    assert!(text.starts_with("0,CONNECT\r\n"), "{}", &text[..text.len().min(80)]);
    assert!(wire.ends_with(b"0,CLOSED\r\n"), "no CLOSED after close_notify: the last records stalled");
    // Strip the framing: every payload byte, in order.
    let mut payload = Vec::new();
    let mut rest = &wire["0,CONNECT\r\n".len()..wire.len() - "0,CLOSED\r\n".len()];
    while !rest.is_empty() {
        assert!(
            rest.starts_with(b"\r\n+IPD,0,"),
            "framing: {:?}",
            String::from_utf8_lossy(&rest[..rest.len().min(20)])
        );
        rest = &rest[9..];
        let colon = rest.iter().position(|&b| b == b':').unwrap();
        let len: usize = std::str::from_utf8(&rest[..colon]).unwrap().parse().unwrap();
        payload.extend_from_slice(&rest[colon + 1..colon + 1 + len]);
        rest = &rest[colon + 1 + len + 2..];
    }
    assert_eq!(payload.len(), data.len());
    assert!(payload == data, "bytes differ");
}

#[test]
fn ssl_server_needs_its_credentials_and_names_what_is_missing() {
    let mut p =
        MockPlatform::with_stores(vec![SimAp::new(b"HomeAP", b"secret123")], MemKv::new(), MemKv::new());
    p.tls = Box::new(RustlsTls::default());
    let mut d = Dev {
        fw: Firmware::new(p, Options::default(), Instant::ZERO),
        now: Instant::ZERO,
        out: vec![0; 4096],
    };
    d.step(usize::MAX);
    d.cmd("ATE0");
    d.cmd("AT+CWJAP=\"HomeAP\",\"secret123\"");
    d.cmd("AT+CIPMUX=1");
    d.cmd("AT+SYSLOG=1");
    assert_eq!(
        d.cmd("AT+CIPSERVER=1,443,\"SSL\",0"),
        "+ERRINFO:\"server_cert/server_cert: a certificate or key is not in mfg_nvs (write it with AT+SYSMFG)\"\r\n\
         ERR CODE:0x010a0140\r\n\r\nERROR\r\n"
    );
    assert_eq!(d.cmd("AT+CIPSERVER?"), "+CIPSERVER:0\r\n\r\nOK\r\n");
    assert_eq!(d.fw.platform().net.open_sockets(), 0, "no listener");
}
