//! The heap the firmware core uses during a scripted session, measured with a counting
//! allocator, against the budget the README's RAM table gives it on the ESP32-C3 (≈ 160 KiB
//! free with Wi-Fi up, shared with the link manager, TLS and the Wi-Fi driver).
//!
//! One test in this binary, so no other test thread allocates meanwhile.

use std::time::Duration;

use at_core::{Firmware, Options};
use at_hal::kv::{Kv, MemKv, Value};
use at_hal::time::Instant;
use at_mock::{MockPlatform, SimAp};

// dhat's allocator counts every allocation (its testing mode reports the peak), without any
// unsafe code here.
#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// The core's share of the ESP32-C3 heap (README, "RAM budget"): transmit queue 8 KiB, an
/// 8 KiB AT+SYSMFG value while it is written or read, state and settings.
const CORE_BUDGET: usize = 24 * 1024;

#[test]
fn scripted_session_stays_in_budget() {
    let mut mfg = MemKv::new();
    mfg.set("factory_param", "module_name", Value::Str(b"MINI-1")).unwrap();
    let platform = MockPlatform::with_stores(
        vec![SimAp::new(b"HomeAP", b"secret123"), SimAp::new(b"Open", b"")],
        MemKv::new(),
        mfg,
    );
    let blob: Vec<u8> = (0..8000u32).map(|i| i as u8).collect();
    let mut out = vec![0u8; 512];
    let _profiler = dhat::Profiler::builder().testing().build();
    let base = dhat::HeapStats::get().curr_bytes;
    let mut now = Instant::from_millis(0);
    let mut fw = Firmware::new(platform, Options::default(), now);
    println!("after boot: {} B", dhat::HeapStats::get().curr_bytes - base);
    let mut step = |fw: &mut Firmware<MockPlatform<MemKv, MemKv>>, input: &[u8], ms: u64| {
        let mut rest = input;
        while !rest.is_empty() {
            let n = fw.receive(rest, now);
            rest = &rest[n..];
            while fw.transmit(&mut out) > 0 {}
        }
        for _ in 0..ms {
            now = now + Duration::from_millis(1);
            fw.poll(now);
            // A host reading at ~115200 baud: 512 bytes per 40 ms is slower; read every poll.
            while fw.transmit(&mut out) > 0 {}
        }
        let h = dhat::HeapStats::get();
        let what = String::from_utf8_lossy(&input[..input.len().min(24)]).into_owned();
        println!("heap now {:>6} B, peak {:>6} B after {what:?}", h.curr_bytes - base, h.max_bytes - base);
    };
    step(&mut fw, b"AT\r\nAT+GMR\r\nAT+CMD?\r\nAT+CWMODE=1\r\n", 5);
    step(&mut fw, b"AT+CWJAP=\"HomeAP\",\"secret123\"\r\n", 1500);
    step(&mut fw, b"AT+CIPSNTPCFG=1,8\r\nAT+CWLAP\r\n", 1000);
    let cmd = format!("AT+SYSMFG=2,\"client_cert\",\"client_cert.0\",8,{}\r\n", blob.len());
    step(&mut fw, cmd.as_bytes(), 1);
    step(&mut fw, &blob, 1);
    step(&mut fw, b"AT+SYSMFG=1,\"client_cert\",\"client_cert.0\"\r\n", 200);
    step(&mut fw, b"AT+SYSLOG=1\r\nAT+FAKE\r\nAT+CIPSTA?\r\nAT+CWJAP?\r\n", 10);
    let stats = dhat::HeapStats::get();
    // dhat's peak covers the whole run; `base` (the platform built before) is part of it.
    let peak = stats.max_bytes.saturating_sub(base);
    let after = stats.curr_bytes.saturating_sub(base);
    println!("core heap: peak {peak} B, after the session {after} B (budget {CORE_BUDGET} B)");
    // The mock `mfg_nvs` lives in this heap too and holds the 8 KB value written (on the chip
    // it is flash): it is not the core's.
    let core_peak = peak - blob.len();
    println!("core's own peak: {core_peak} B");
    assert!(core_peak <= CORE_BUDGET, "the core's peak {core_peak} B is over its {CORE_BUDGET} B budget");
    drop(fw);
}
