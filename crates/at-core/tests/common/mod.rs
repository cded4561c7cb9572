//! A device on the bench: the firmware on the mock platform, a manual clock, and helpers
//! that type commands and collect exactly what the AT port printed.
#![allow(dead_code)]

use std::time::Duration;

use at_core::{Firmware, Options};
use at_hal::kv::MemKv;
use at_hal::storage::MfgStore;
use at_hal::time::Instant;
use at_mock::{MockPlatform, SimAp};

/// A device with a manufacturing store of the test's choice, driven a command at a time.
pub struct Dev<M: MfgStore + 'static> {
    pub fw: Firmware<MockPlatform<MemKv, M>>,
    pub now: Instant,
}

impl<M: MfgStore + 'static> Dev<M> {
    pub fn new(mfg: M, options: Options) -> Self {
        let now = Instant::from_millis(0);
        let p = MockPlatform::with_stores(vec![SimAp::new(b"AP", b"")], MemKv::new(), mfg);
        let mut d = Dev { fw: Firmware::new(p, options, now), now };
        assert_eq!(d.out(), "\r\nready\r\n");
        d
    }

    pub fn out(&mut self) -> String {
        let mut b = vec![0u8; self.fw.tx_len()];
        let n = self.fw.transmit(&mut b);
        String::from_utf8_lossy(&b[..n]).into_owned()
    }

    /// Send bytes, let 10 ms pass, return what was printed.
    pub fn send(&mut self, bytes: &[u8]) -> String {
        let n = self.fw.receive(bytes, self.now);
        assert_eq!(n, bytes.len(), "firmware refused input");
        for _ in 0..10 {
            self.now = self.now + Duration::from_millis(1);
            self.fw.poll(self.now);
        }
        self.out()
    }
}

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
