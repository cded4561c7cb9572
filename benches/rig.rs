//! A device on the simulated network with a server and connected peers (shared by the link
//! benches).
#![allow(dead_code)]

use std::time::Duration;

use at_core::{Firmware, Options};
use at_hal::net::{IpAddr, Ipv4Addr, SocketAddr};
use at_hal::time::Instant;
use at_mock::{MockPlatform, PeerId, SimAp};

/// A device with a server on 333, `links` clients connected, AT port drained.
pub struct Rig {
    pub fw: Firmware<MockPlatform>,
    pub now: Instant,
    pub peers: Vec<PeerId>,
    out: Vec<u8>,
}

impl Rig {
    pub fn new(links: usize) -> Rig {
        let mut r = Rig {
            fw: Firmware::new(
                MockPlatform::new(vec![SimAp::new(b"HomeAP", b"secret123")]),
                Options::default(),
                Instant::ZERO,
            ),
            now: Instant::ZERO,
            peers: Vec::new(),
            out: vec![0u8; 1 << 16],
        };
        r.cmd(b"ATE0\r\n");
        r.cmd(b"AT+CWJAP=\"HomeAP\",\"secret123\"\r\n");
        r.run(Duration::from_secs(5));
        r.cmd(b"AT+CIPMUX=1\r\n");
        r.cmd(b"AT+CIPSERVER=1,333\r\n");
        for i in 0..links {
            let from = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 40_000 + i as u16);
            r.peers.push(r.fw.platform().net.dial(from, 333).expect("dial"));
        }
        r.run(Duration::from_millis(50));
        r
    }

    pub fn cmd(&mut self, line: &[u8]) {
        assert_eq!(self.fw.receive(line, self.now), line.len());
        self.run(Duration::from_millis(10));
    }

    /// Let `d` pass in 1 ms polls, draining the AT port; returns the bytes printed.
    pub fn run(&mut self, d: Duration) -> usize {
        let mut printed = 0;
        let end = self.now + d;
        while self.now < end {
            self.now = self.now + Duration::from_millis(1);
            self.fw.poll(self.now);
            printed += self.drain();
        }
        printed
    }

    pub fn drain(&mut self) -> usize {
        let mut printed = 0;
        loop {
            let n = self.fw.transmit(&mut self.out);
            if n == 0 {
                return printed;
            }
            printed += n;
        }
    }

    /// Every peer sends its share of `total` bytes (as fast as the simulated stack's window
    /// takes them); poll until at least that many bytes were printed.
    pub fn deliver(&mut self, payload: &[u8], total: usize) {
        let per = total / self.peers.len();
        let mut left = vec![per; self.peers.len()];
        let mut printed = 0;
        let mut polls = 0;
        // `printed` counts `+IPD` headers too, so reaching `total` means the payload is (at
        // least nearly) out; the next iteration starts by draining whatever remains.
        while printed < total {
            for (k, &p) in self.peers.iter().enumerate() {
                if left[k] > 0 {
                    let n = left[k].min(payload.len());
                    left[k] -= self.fw.platform().net.peer_send(p, &payload[..n]);
                }
            }
            self.now = self.now + Duration::from_micros(100);
            self.fw.poll(self.now);
            printed += self.drain();
            polls += 1;
            assert!(polls < 100_000, "delivery stalled at {printed} of {total}");
        }
    }
}
