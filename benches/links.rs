//! `+IPD` delivery on the simulated network, and the heap a link costs.
//!
//! * `ipd/5_links` vs `ipd/1_link`: the same bytes (5 × 2920 per iteration) arrive on five
//!   server links at once, or on one; the firmware turns them into `+IPD` frames on the AT
//!   port. The one-link case is the reference: the ratio shows what fairness across links
//!   (round robin, one frame per link per poll) costs.
//!
//! `cargo bench -p at-benches --bench links` (heap per link: `--bench link_heap`)

#[path = "rig.rs"]
mod rig;

use divan::Bencher;
use divan::counter::BytesCount;
use rig::Rig;

const CHUNK: usize = 2920;

fn main() {
    divan::main();
}

#[divan::bench(name = "ipd/5_links")]
fn ipd_5_links(b: Bencher<'_, '_>) {
    let payload = vec![0x5a; CHUNK];
    let mut rig = Rig::new(5);
    b.counter(BytesCount::new(5 * CHUNK)).bench_local(|| rig.deliver(&payload, 5 * CHUNK));
}

#[divan::bench(name = "ipd/1_link")]
fn ipd_1_link(b: Bencher<'_, '_>) {
    let payload = vec![0x5a; CHUNK];
    let mut rig = Rig::new(1);
    b.counter(BytesCount::new(5 * CHUNK)).bench_local(|| rig.deliver(&payload, 5 * CHUNK));
}
