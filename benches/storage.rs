//! Manufacturing storage: mounting ESP-AT's 124 KiB `mfg_nvs`, reading a certificate, and
//! what a certificate update costs the flash.
//!
//! The image is `fixtures/nvs/mfg_nvs_plain_124k.bin`, made by Espressif's
//! `esp-idf-nvs-partition-gen` from an ESP-AT-style CSV (per-cert namespaces and
//! `factory_param`). The flash is the emulated NOR flash of `at-mock`.

use at_certstore::{CertStore, Feature, Item, PkiItem};
use at_hal::kv::Value;

/// Two different certificates of the same size (NVS skips writing a value equal to the
/// stored one, so an update must change something).
fn two_certs() -> [Vec<u8>; 2] {
    let a = at_certstore::demo::SERVER_CERT.to_vec();
    let mut b = a.clone();
    let i = b.len() / 2;
    b[i] = if b[i] == b'A' { b'B' } else { b'A' };
    [a, b]
}
use at_mock::flash::MockFlash;
use at_nvs::Nvs;
use divan::counter::BytesCount;
use divan::{Bencher, black_box};

fn main() {
    report_update_cost();
    divan::main();
}

const IMAGE: &[u8] = include_bytes!("../fixtures/nvs/mfg_nvs_plain_124k.bin");

/// Mount read-only (what `at-mfg inspect` and a device boot do first).
#[divan::bench]
fn mount_124k_read_only(b: Bencher<'_, '_>) {
    b.counter(BytesCount::new(IMAGE.len()))
        .with_inputs(|| MockFlash::from_image(IMAGE.to_vec()))
        .bench_local_values(|flash| {
            let nvs = Nvs::mount_read_only(flash, None).expect("mount");
            black_box(nvs.stats())
        });
}

/// Mount read-write (applies ESP-IDF's load-time repairs; nothing to repair here).
#[divan::bench]
fn mount_124k_read_write(b: Bencher<'_, '_>) {
    b.counter(BytesCount::new(IMAGE.len()))
        .with_inputs(|| MockFlash::from_image(IMAGE.to_vec()))
        .bench_local_values(|flash| {
            let nvs = Nvs::mount(flash, None).expect("mount");
            black_box(nvs.stats())
        });
}

/// Reference for the mount figures: copying the same bytes out of the flash once.
#[divan::bench]
fn read_124k_raw(b: Bencher<'_, '_>) {
    use embedded_storage::nor_flash::ReadNorFlash;
    let mut flash = MockFlash::from_image(IMAGE.to_vec());
    let mut buf = vec![0u8; IMAGE.len()];
    b.counter(BytesCount::new(IMAGE.len())).bench_local(|| {
        flash.read(0, &mut buf).expect("read");
        black_box(buf[0])
    });
}

/// Read the server certificate's bytes (what ESP-AT does per accepted SSL connection).
#[divan::bench]
fn cert_read(b: Bencher<'_, '_>) {
    let mut store = CertStore::new(Nvs::mount(MockFlash::from_image(IMAGE.to_vec()), None).expect("mount"));
    let item = PkiItem::new(Feature::Server, Item::Cert, 0).expect("item");
    b.bench_local(|| black_box(store.read(item).expect("server cert").len()));
}

/// Load and check everything a TLS server needs (certificate chain, key, CA).
#[divan::bench]
fn server_credentials_load(b: Bencher<'_, '_>) {
    let mut store = CertStore::new(Nvs::mount(MockFlash::from_image(IMAGE.to_vec()), None).expect("mount"));
    b.bench_local(|| black_box(store.load_server_credentials(true).expect("credentials").cert_chain.len()));
}

/// Replace the server certificate with a different one of the same size.
#[divan::bench]
fn cert_update(b: Bencher<'_, '_>) {
    let mut nvs = Nvs::mount(MockFlash::from_image(IMAGE.to_vec()), None).expect("mount");
    let certs = two_certs();
    let mut i = 0;
    b.bench_local(|| {
        i ^= 1;
        nvs.set("server_cert", "server_cert", Value::Blob(black_box(&certs[i]))).expect("set")
    });
}

/// Flash traffic of one certificate update, averaged over 1000 updates (so page reclaims are
/// included at their real rate). Printed once; the README quotes it.
fn report_update_cost() {
    let mut nvs = Nvs::mount(MockFlash::from_image(IMAGE.to_vec()), None).expect("mount");
    let certs = two_certs();
    let before = nvs.flash().stats();
    let n = 1000u64;
    for i in 0..n {
        nvs.set("server_cert", "server_cert", Value::Blob(&certs[(i % 2) as usize])).expect("set");
    }
    let after = nvs.flash().stats();
    println!(
        "cert update ({} B blob): {} bytes programmed, {} write calls, {:.2} sector erases per update",
        certs[0].len(),
        (after.bytes_written - before.bytes_written) / n,
        (after.writes - before.writes) / n,
        (after.erases - before.erases) as f64 / n as f64
    );
}
