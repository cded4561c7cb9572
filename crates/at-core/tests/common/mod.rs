//! A device on the bench: the firmware on the mock platform, a manual clock, and helpers
//! that type commands and collect exactly what the AT port printed.
#![allow(dead_code)]

use std::time::Duration;

use at_core::{Firmware, Options};
use at_hal::kv::MemKv;
use at_hal::time::Instant;
use at_mock::{MockPlatform, SimAp};

pub struct Bench {
    pub fw: Firmware<MockPlatform>,
    pub now: Instant,
}

/// Step size of simulated time while waiting.
const STEP: Duration = Duration::from_millis(5);

impl Bench {
    pub fn new() -> Self {
        Self::with(MockPlatform::new(vec![SimAp::new(b"HomeAP", b"secret123"), SimAp::new(b"Open", b"")]))
    }

    pub fn with(platform: MockPlatform) -> Self {
        let now = Instant::from_millis(1_000);
        let mut b = Bench { fw: Firmware::new(platform, Options::default(), now), now };
        assert_eq!(b.take(), "\r\nready\r\n", "boot banner");
        b
    }

    /// Reboot with the same settings store (power cycle).
    pub fn power_cycle(self) -> Self {
        let settings: MemKv = self.fw_settings();
        let mut p = MockPlatform::with_settings(vec![SimAp::new(b"HomeAP", b"secret123")], settings);
        p.wifi = at_mock::SimWifi::new(vec![SimAp::new(b"HomeAP", b"secret123"), SimAp::new(b"Open", b"")]);
        Bench::with(p)
    }

    fn fw_settings(mut self) -> MemKv {
        self.fw.platform().settings.clone()
    }

    /// Everything printed so far, as text (bytes escaped if not UTF-8).
    pub fn take(&mut self) -> String {
        let mut out = vec![0u8; self.fw.tx_len()];
        let n = self.fw.transmit(&mut out);
        out.truncate(n);
        String::from_utf8(out.clone()).unwrap_or_else(|_| out.escape_ascii().to_string())
    }

    /// Send raw bytes at the current time.
    pub fn send(&mut self, bytes: &[u8]) {
        let n = self.fw.receive(bytes, self.now);
        assert_eq!(n, bytes.len(), "firmware refused input");
        self.fw.poll(self.now);
    }

    /// Let `d` pass, polling in small steps.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.now = (self.now + STEP).min(end);
            self.fw.poll(self.now);
        }
    }

    /// Send a command line (CR LF added), wait until it has finished (at most 30 s of
    /// simulated time), and return everything printed meanwhile.
    pub fn cmd(&mut self, line: &str) -> String {
        self.send(line.as_bytes());
        self.send(b"\r\n");
        self.settle()
    }

    /// Wait until no command runs, then return the output.
    pub fn settle(&mut self) -> String {
        let mut waited = Duration::ZERO;
        while self.fw.is_busy() && waited < Duration::from_secs(30) {
            self.advance(STEP);
            waited += STEP;
        }
        self.fw.poll(self.now);
        self.take()
    }
}
