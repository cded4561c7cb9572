//! Heap a TCP link costs, idle and busy, counted with dhat's allocator (so it is its own
//! bench binary: the counting would distort timings).
//!
//! `cargo bench -p at-benches --bench link_heap`

#[path = "rig.rs"]
mod rig;

use std::time::Duration;

use rig::Rig;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let _profiler = dhat::Profiler::builder().testing().build();
    heap_report();
}

/// Heap per link, idle and busy, with everything else held constant.
fn heap_report() {
    let live = || dhat::HeapStats::get().curr_bytes;
    let base = {
        let r = Rig::new(0);
        let h = live();
        drop(r);
        h
    };
    let idle = {
        let r = Rig::new(5);
        let h = live();
        drop(r);
        h
    };
    // Busy: the peers push more than the links hold and nobody reads the AT port; the links
    // also hold unsent bytes (the peers stop reading).
    let busy = {
        let mut r = Rig::new(5);
        let payload = vec![0x11; 16 * 1024];
        for &p in &r.peers.clone() {
            r.fw.platform().net.peer_send(p, &payload);
        }
        for _ in 0..50 {
            r.now = r.now + Duration::from_millis(1);
            r.fw.poll(r.now);
        }
        let h = live();
        drop(r);
        h
    };
    let per = |h: usize| (h.saturating_sub(base)) as f64 / 5.0;
    println!("heap: device with server, no links {base} B (firmware, mock platform and simulated stack)");
    println!("heap: per idle TCP link   {:>8.0} B (link buffers are allocated when it opens)", per(idle));
    println!(
        "heap: per busy TCP link   {:>8.0} B (receive buffer full, AT port not read; includes the \
         simulated stack's queued bytes)",
        per(busy)
    );
}
