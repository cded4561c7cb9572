//! The device's heap during a realistic session, for `ram-budget.sh` (valgrind massif).
//!
//! Runs the ESP32-C3 firmware's stack on the host: `at_core::Firmware` over a platform made
//! of at-mock's simulated Wi-Fi station, **`SmolNet` over smoltcp's `Loopback`** (default
//! [`Settings`], the firmware's), in-memory settings / `mfg_nvs` stores and
//! **`at_tls_mbedtls::MbedTls`** as the TLS of SSL links. A host script on the AT port joins
//! Wi-Fi, sets `AT+CIPMUX=1` and opens five links to five peers: four TCP, and link 4 as an
//! SSL client whose peer runs an MbedTLS server session. The host reads the AT port at
//! 115200 baud (11.52 bytes per ms of virtual time), so the links' receive buffers and the
//! sockets' windows fill as on a device. Each peer first sends [`PUSH`] bytes, then echoes
//! what it receives; the host sends [`ROUNDS`] × [`CHUNK`] bytes on every link
//! (`AT+CIPSEND`). The run fails unless every link delivered exactly the expected bytes as
//! `+IPD` (so the measurement cannot silently measure a session that did not happen).
//!
//! The peers are more smoltcp sockets in the same socket set (driven by the device's stack)
//! and all their code is in the `peer` module, whose functions are never inlined: the
//! script attributes every allocation with a `device_heap::peer::` frame on its stack to the
//! peers, not to the device.
//!
//! `cargo run --release -p at-smoltcp --example device_heap`; `tests/device_stack.rs` runs
//! the same session as a test.

use std::time::Duration;

use at_core::{Firmware, Options};
use at_hal::kv::MemKv;
use at_hal::time::Instant;
use at_hal::{Parts, Platform};
use at_mock::{MockSystem, MockUartControl, SeededEntropy, SimAp, SimWifi};
use at_smoltcp::smoltcp::phy::{Loopback, Medium};
use at_smoltcp::smoltcp::wire::HardwareAddress;
use at_smoltcp::{Settings, SmolNet};
use at_tls_mbedtls::MbedTls;

/// Links opened (ESP-AT's maximum); the last one is SSL.
const LINKS: usize = 5;
/// First peer port; peer `i` listens on `PORT + i`.
const PORT: u16 = 7000;
/// Bytes each peer sends on its own as soon as its connection is up.
const PUSH: usize = 4096;
/// Bytes per `AT+CIPSEND`.
const CHUNK: usize = 2048;
/// `AT+CIPSEND`s per link.
const ROUNDS: usize = 4;
/// AT port output kept by the host (all of it; about 70 KB are written).
const WIRE_CAPACITY: usize = 128 * 1024;
/// AT port output read per ms of virtual time, in 1/100 bytes: 115200 baud, 8N1.
const READ_CENTIBYTES_PER_MS: usize = 1152;

/// The device: the simulated station, smoltcp on the loopback device, in-memory stores and
/// MbedTLS.
struct Device {
    wifi: SimWifi,
    net: SmolNet<Loopback>,
    settings: MemKv,
    mfg: MemKv,
    system: MockSystem,
    uart: MockUartControl,
    entropy: SeededEntropy,
    tls: MbedTls,
}

impl Platform for Device {
    type Wifi = SimWifi;
    type Net = SmolNet<Loopback>;
    type Settings = MemKv;
    type Mfg = MemKv;

    fn parts(&mut self) -> Parts<'_, Self> {
        Parts {
            wifi: &mut self.wifi,
            net: &mut self.net,
            settings: &mut self.settings,
            mfg: &mut self.mfg,
            system: &mut self.system,
            uart: &mut self.uart,
            entropy: &mut self.entropy,
            tls: &mut self.tls,
        }
    }
}

/// The byte `i` of what the host sends on link `link`.
fn host_byte(link: usize, i: usize) -> u8 {
    b'a' + ((i * 7 + link * 3) % 26) as u8
}

/// The byte `i` of what peer `link` pushes on its own.
fn push_byte(link: usize, i: usize) -> u8 {
    b'a' + ((i * 11 + link * 5 + 1) % 26) as u8
}

/// The remote hosts: one smoltcp socket each in the device's socket set; the last one speaks
/// TLS (an MbedTLS server session). Everything here is the peers' memory, not the device's.
mod peer {
    use std::collections::VecDeque;

    use at_certstore::format;
    use at_hal::tls::{Identity, KeyEncoding, ServerParams, TlsSession};
    use at_smoltcp::SmolNet;
    use at_smoltcp::smoltcp::iface::SocketHandle;
    use at_smoltcp::smoltcp::phy::Loopback;
    use at_smoltcp::smoltcp::socket::tcp;
    use at_tls_mbedtls::MbedTls;

    /// One remote host.
    pub struct Peer {
        socket: SocketHandle,
        tls: Option<Box<dyn TlsSession>>,
        /// The connection was seen up (and the push queued).
        pub up: bool,
        /// What it sends on its own once the connection is up.
        push: Vec<u8>,
        /// Plaintext to send: the push, then the echo (allocated up front: the peers' memory
        /// stays constant while the device's is measured).
        out: VecDeque<u8>,
        /// Plaintext received (and echoed), in bytes.
        pub received: usize,
    }

    /// All the peers.
    pub struct Peers {
        /// By link id.
        pub peers: Vec<Peer>,
    }

    /// Listening sockets on `port..port + n`; the last peer with an MbedTLS server session
    /// (the public demo certificate of at-certstore). Peer `i` pushes `push(i)`, and holds up
    /// to `queue` bytes to send.
    #[inline(never)]
    pub fn listen(
        net: &mut SmolNet<Loopback>,
        port: u16,
        n: usize,
        tls: &mut MbedTls,
        push: impl Fn(usize) -> Vec<u8>,
        queue: usize,
    ) -> Peers {
        let chain: Vec<Vec<u8>> = format::parse_certificates(at_certstore::demo::SERVER_CERT)
            .expect("demo certificate")
            .into_iter()
            .map(|c| c.to_vec())
            .collect();
        let key = format::parse_private_key(at_certstore::demo::SERVER_KEY).expect("demo key");
        let key_encoding = match key.format() {
            at_certstore::KeyFormat::Pkcs1 => KeyEncoding::Pkcs1,
            at_certstore::KeyFormat::Pkcs8 => KeyEncoding::Pkcs8,
            at_certstore::KeyFormat::Sec1 => KeyEncoding::Sec1,
        };
        let chain_refs: Vec<&[u8]> = chain.iter().map(Vec::as_slice).collect();
        let params = ServerParams {
            identity: Identity { chain: &chain_refs, key: key.secret_der(), key_encoding },
            client_ca: None,
            unix_time: None,
        };
        let mut acceptor = tls.acceptor(&params).expect("peer TLS server");
        let (_, sockets) = net.stack_mut();
        let peers = (0..n)
            .map(|i| {
                let mut s = tcp::Socket::new(
                    tcp::SocketBuffer::new(vec![0u8; 5760]),
                    tcp::SocketBuffer::new(vec![0u8; 5744]),
                );
                s.set_ack_delay(None);
                s.listen(port + i as u16).expect("listen");
                let tls: Option<Box<dyn TlsSession>> = (i == n - 1).then(|| {
                    Box::new(acceptor.accept_session().expect("peer TLS session")) as Box<dyn TlsSession>
                });
                Peer {
                    socket: sockets.add(s),
                    tls,
                    up: false,
                    push: push(i),
                    out: VecDeque::with_capacity(queue),
                    received: 0,
                }
            })
            .collect();
        Peers { peers }
    }

    impl Peers {
        /// The TLS peer's negotiated version and suite, once its handshake finished.
        pub fn tls_negotiated(&self) -> Option<(u16, u16)> {
            self.peers.iter().find_map(|p| p.tls.as_ref()).and_then(|t| t.negotiated())
        }

        /// Move bytes: socket → (TLS) → echo queue → (TLS) → socket.
        #[inline(never)]
        pub fn step(&mut self, net: &mut SmolNet<Loopback>) {
            let (_, sockets) = net.stack_mut();
            let mut buf = [0u8; 1024];
            for p in &mut self.peers {
                let s = sockets.get_mut::<tcp::Socket>(p.socket);
                if !s.may_send() && !s.may_recv() {
                    continue;
                }
                let secure = p.tls.as_ref().is_none_or(|t| !t.is_handshaking());
                if !p.up && secure && s.may_send() {
                    p.up = true;
                    p.out.extend(&p.push);
                }
                match &mut p.tls {
                    None => {
                        while let Ok(n) = s.recv_slice(&mut buf) {
                            if n == 0 {
                                break;
                            }
                            p.received += n;
                            p.out.extend(&buf[..n]);
                        }
                        while !p.out.is_empty() && s.can_send() {
                            let (a, _) = p.out.as_slices();
                            let n = s.send_slice(a).unwrap_or(0);
                            if n == 0 {
                                break;
                            }
                            p.out.drain(..n);
                        }
                    }
                    Some(t) => {
                        loop {
                            let space = t.incoming_space();
                            if space.is_empty() {
                                break;
                            }
                            match s.recv_slice(space) {
                                Ok(n) if n > 0 => t.received(n),
                                _ => break,
                            }
                            t.process().expect("peer TLS");
                        }
                        t.process().expect("peer TLS");
                        loop {
                            let n = t.read(&mut buf);
                            if n == 0 {
                                break;
                            }
                            p.received += n;
                            p.out.extend(&buf[..n]);
                        }
                        if !t.is_handshaking() {
                            while !p.out.is_empty() {
                                let (a, _) = p.out.as_slices();
                                let n = t.write(a).expect("peer TLS write");
                                if n == 0 {
                                    break;
                                }
                                p.out.drain(..n);
                            }
                        }
                        if !t.outgoing().is_empty() && s.can_send() {
                            let n = s.send_slice(t.outgoing()).unwrap_or(0);
                            t.sent(n);
                        }
                    }
                }
            }
        }
    }
}

/// The host on the AT port, the device, the peers and virtual time.
struct Rig {
    fw: Firmware<Device>,
    peers: peer::Peers,
    now: Instant,
    /// Everything the device wrote on the AT port.
    wire: Vec<u8>,
    /// Where the last command's answer starts in `wire`.
    mark: usize,
    /// Read credit, in 1/100 bytes.
    credit: usize,
}

impl Rig {
    /// One ms of virtual time: the device and the network run, the host reads at 115200 baud.
    fn step(&mut self) {
        self.now = self.now + Duration::from_millis(1);
        for _ in 0..3 {
            self.fw.poll(self.now);
            self.peers.step(&mut self.fw.platform().net);
        }
        self.credit += READ_CENTIBYTES_PER_MS;
        let mut buf = [0u8; 64];
        let n = (self.credit / 100).min(buf.len());
        let k = self.fw.transmit(&mut buf[..n]);
        self.credit = if k < n { 0 } else { self.credit - k * 100 };
        assert!(self.wire.len() + k <= WIRE_CAPACITY, "WIRE_CAPACITY too small");
        self.wire.extend_from_slice(&buf[..k]);
    }

    /// Offer `bytes` on the AT port until the device took them all.
    fn write(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        for _ in 0..100_000 {
            let n = self.fw.receive(rest, self.now);
            rest = &rest[n..];
            if rest.is_empty() {
                return;
            }
            self.step();
        }
        panic!("the device stopped taking input");
    }

    /// Step until the output since the last mark contains `want` (or `ERROR`).
    fn wait_for(&mut self, want: &str, what: &str) {
        for _ in 0..200_000 {
            let since = &self.wire[self.mark..];
            if let Some(i) = find(since, want.as_bytes()) {
                self.mark += i + want.len();
                return;
            }
            if find(since, b"ERROR\r\n").is_some() || find(since, b"SEND FAIL").is_some() {
                break;
            }
            self.step();
        }
        panic!("{what}: no {want:?} in {:?}", String::from_utf8_lossy(&self.wire[self.mark..]));
    }

    fn cmd(&mut self, line: &str, want: &str) {
        self.write(format!("{line}\r\n").as_bytes());
        self.wait_for(want, line);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The link's `+IPD` payload bytes in `wire` so far, each checked against what the link must
/// deliver: its peer's push, then the echo of what the host sent. No allocation (the harness's
/// memory stays constant during the session).
fn ipd_received(wire: &[u8]) -> [usize; LINKS] {
    let mut got = [0usize; LINKS];
    let mut rest = wire;
    while let Some(i) = find(rest, b"+IPD,") {
        rest = &rest[i + 5..];
        // The last frame may still be arriving.
        let Some(colon) = rest.iter().position(|&b| b == b':') else { break };
        let head = std::str::from_utf8(&rest[..colon]).expect("+IPD header");
        let (link, len) = head.split_once(',').expect("+IPD,<link>,<len>");
        let (link, len): (usize, usize) = (link.parse().unwrap(), len.parse().unwrap());
        if rest.len() < colon + 1 + len {
            break;
        }
        for &b in &rest[colon + 1..colon + 1 + len] {
            let at = got[link];
            let want = if at < PUSH { push_byte(link, at) } else { host_byte(link, at - PUSH) };
            assert_eq!(b, want, "link {link}: +IPD byte {at} differs");
            got[link] += 1;
        }
        rest = &rest[colon + 1 + len..];
    }
    got
}

/// The session (panics when any check fails).
pub fn main() {
    let now = Instant::from_millis(1);
    let mut tls = MbedTls::host();
    let mut net =
        SmolNet::new(Loopback::new(Medium::Ip), HardwareAddress::Ip, 0x5eed, Settings::default(), now);
    let push = |link| (0..PUSH).map(|i| push_byte(link, i)).collect();
    let peers = peer::listen(&mut net, PORT, LINKS, &mut tls, push, PUSH + ROUNDS * CHUNK);
    let platform = Device {
        wifi: SimWifi::new(vec![SimAp::new(b"HomeAP", b"secret123")]),
        net,
        settings: MemKv::new(),
        mfg: MemKv::new(),
        system: MockSystem::default(),
        uart: MockUartControl::default(),
        entropy: SeededEntropy::new(1),
        tls,
    };
    let mut rig = Rig {
        fw: Firmware::new(platform, Options::default(), now),
        peers,
        now,
        // Never grows: the harness's memory stays constant during the session.
        wire: Vec::with_capacity(WIRE_CAPACITY),
        mark: 0,
        credit: 0,
    };
    rig.step();
    rig.cmd("ATE0", "OK\r\n");
    rig.cmd("AT+CWMODE=1", "OK\r\n");
    // The loopback device's address (no DHCP server on it).
    rig.cmd("AT+CIPSTA=\"127.0.0.1\",\"127.0.0.1\",\"255.0.0.0\"", "OK\r\n");
    rig.cmd("AT+CWJAP=\"HomeAP\",\"secret123\"", "WIFI GOT IP\r\n\r\nOK\r\n");
    rig.cmd("AT+CIPMUX=1", "OK\r\n");
    for link in 0..LINKS {
        let kind = if link == LINKS - 1 { "SSL" } else { "TCP" };
        let port = PORT + link as u16;
        rig.cmd(
            &format!("AT+CIPSTART={link},\"{kind}\",\"127.0.0.1\",{port}"),
            &format!("{link},CONNECT\r\n"),
        );
        rig.wait_for("OK\r\n", "CIPSTART");
    }
    for round in 0..ROUNDS {
        for link in 0..LINKS {
            rig.cmd(&format!("AT+CIPSEND={link},{CHUNK}"), ">");
            let data: Vec<u8> = (0..CHUNK).map(|i| host_byte(link, round * CHUNK + i)).collect();
            rig.write(&data);
            rig.wait_for("SEND OK\r\n", "CIPSEND data");
        }
    }
    // Every byte back as +IPD: the push, then the echo.
    let want = PUSH + ROUNDS * CHUNK;
    for _ in 0..1000 {
        if ipd_received(&rig.wire) == [want; LINKS] {
            break;
        }
        for _ in 0..100 {
            rig.step();
        }
    }
    let got = ipd_received(&rig.wire);
    for (link, p) in rig.peers.peers.iter().enumerate() {
        assert!(p.up, "link {link}: the peer's connection never came up");
        assert_eq!(p.received, ROUNDS * CHUNK, "link {link}: bytes the peer received");
        assert_eq!(got[link], want, "link {link}: +IPD bytes");
    }
    let ssl = rig.peers.tls_negotiated().expect("the SSL link's handshake finished");
    assert!(find(&rig.wire, b"4,CONNECT\r\n").is_some());
    rig.cmd("AT+CIPCLOSE=5", "OK\r\n");
    println!(
        "session: {LINKS} links (0-{} TCP, {} SSL over MbedTLS, TLS version {:#06x}), each \
         sent {} B and received {} B as +IPD, verified; {} ms of virtual time",
        LINKS - 2,
        LINKS - 1,
        ssl.0,
        ROUNDS * CHUNK,
        PUSH + ROUNDS * CHUNK,
        rig.now.as_micros() / 1000,
    );
}
