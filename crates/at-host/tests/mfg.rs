//! `at-sim` with manufacturing data: the built-in store, partition images and whole flash
//! dumps — including the seed: a dump written with `idf.py encrypted-flash`.

mod common;

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use common::{Client, Sim, temp};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A temporary copy of a fixture (decompressed if `.gz`), so the test can check it is never
/// modified.
fn copy_fixture(rel: &str, name: &str) -> (PathBuf, Vec<u8>) {
    let raw = std::fs::read(root().join(rel)).unwrap();
    let bytes = if rel.ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out).unwrap();
        out
    } else {
        raw
    };
    let p = temp(name);
    std::fs::write(&p, &bytes).unwrap();
    (p, bytes)
}

fn session(args: &[&str]) -> (Sim, Client) {
    let sim = Sim::start(args);
    let mut c = sim.connect();
    c.until("ready\r\n", Duration::from_secs(5));
    assert_eq!(c.cmd("ATE0"), "ATE0\r\n\r\nOK\r\n");
    (sim, c)
}

#[test]
fn default_store_write_then_read_and_keys_refused() {
    let (_sim, mut c) = session(&[]);
    assert!(c.cmd("AT+GMR").contains("(MINI-1)"));
    let cert = std::fs::read(root().join("crates/at-certstore/demo/client_cert.pem")).unwrap();
    c.send(format!("AT+SYSMFG=2,\"client_cert\",\"client_cert.0\",8,{}\r\n", cert.len()).as_bytes());
    assert_eq!(c.until(">", Duration::from_secs(5)), "\r\nOK\r\n\r\n>");
    c.send(&cert);
    assert_eq!(c.until("OK\r\n", Duration::from_secs(5)), "\r\nOK\r\n");
    let got = c.cmd("AT+SYSMFG=1,\"client_cert\",\"client_cert.0\"");
    let head = format!("+SYSMFG:\"client_cert\",\"client_cert.0\",8,{},", cert.len());
    assert!(got.starts_with(&head), "{got}");
    assert_eq!(&got.as_bytes()[head.len()..head.len() + cert.len()], &cert[..]);
    c.cmd("AT+SYSLOG=1");
    let refused = c.cmd("AT+SYSMFG=1,\"server_key\",\"server_key\"");
    assert!(refused.contains("private keys are not readable over AT"), "{refused}");
    assert!(refused.ends_with("\r\nERROR\r\n") && !refused.contains("PRIVATE KEY"), "{refused}");
    assert_eq!(c.cmd("AT"), "\r\nOK\r\n");
}

#[test]
fn flash_encrypted_partition_image_is_refused_with_the_reason() {
    let (img, orig) = copy_fixture("fixtures/flash/mfg_nvs.fe_0x1f000.bin", "fe_mfg.bin");
    let (sim, mut c) = session(&["--mfg-nvs", img.to_str().unwrap()]);
    assert_eq!(c.cmd("AT+SYSMFG=1,\"server_cert\",\"server_cert\""), "\r\nERROR\r\n");
    c.cmd("AT+SYSLOG=1");
    let out = c.cmd("AT+SYSMFG=1,\"server_cert\",\"server_cert\"");
    assert!(out.contains("+ERRINFO:\"mfg_nvs: partition is flash-encrypted but read as plain"), "{out}");
    assert!(out.contains("ERR CODE:0x010a0103\r\n"), "{out}");
    assert_eq!(c.cmd("AT"), "\r\nOK\r\n");
    drop(c);
    drop(sim);
    assert!(std::fs::read(&img).unwrap() == orig, "image modified");
    std::fs::remove_file(img).unwrap();
}

#[test]
fn seed_dump_names_the_secondary_table_and_is_not_modified() {
    let (dump, orig) = copy_fixture("fixtures/flash/dumps/seed.bin.gz", "seed.bin");
    let (sim, mut c) = session(&["--flash", dump.to_str().unwrap()]);
    c.cmd("AT+SYSLOG=1");
    let out = c.cmd("AT+SYSMFG=1,\"server_cert\",\"server_cert\"");
    assert!(out.contains("secondary partition table (start of at_customize) is unreadable"), "{out}");
    assert!(out.contains("flash encryption"), "{out}");
    assert!(out.ends_with("ERR CODE:0x010a0102\r\n\r\nERROR\r\n"), "{out}");
    assert!(c.cmd("AT+SYSFLASH?").ends_with("\r\nERROR\r\n"));
    assert_eq!(c.cmd("AT"), "\r\nOK\r\n");
    drop(c);
    drop(sim);
    assert!(std::fs::read(&dump).unwrap() == orig, "dump modified");
    std::fs::remove_file(dump).unwrap();
}

#[test]
fn healthy_dump_reads_and_lists_user_partitions() {
    let (dump, _) = copy_fixture("fixtures/flash/dumps/healthy.bin.gz", "healthy.bin");
    let (_sim, mut c) = session(&["--flash", dump.to_str().unwrap()]);
    let out = c.cmd("AT+SYSMFG=1,\"server_cert\",\"server_cert\"");
    assert!(out.starts_with("+SYSMFG:\"server_cert\",\"server_cert\",8,"), "{out}");
    assert!(out.contains("-----BEGIN CERTIFICATE-----"), "{out}");
    assert_eq!(
        c.cmd("AT+SYSFLASH?"),
        "+SYSFLASH:\"mfg_nvs\",1,2,0x1f000,0x1f000\r\n+SYSFLASH:\"fs_storage\",1,255,0x47000,0x19000\r\n\r\nOK\r\n"
    );
    let out = c.cmd("AT+SYSFLASH=2,\"mfg_nvs\",0,32");
    assert!(out.starts_with("+SYSFLASH:32,"), "{out}");
    std::fs::remove_file(dump).unwrap();
}

#[test]
fn nvs_encrypted_image_needs_its_keys() {
    let (img, _) = copy_fixture("fixtures/nvs/mfg_nvs_nvsenc.bin", "nvsenc.bin");
    let keys = root().join("fixtures/nvs/keys/nvs_keys.bin");
    {
        let (_sim, mut c) = session(&["--mfg-nvs", img.to_str().unwrap()]);
        c.cmd("AT+SYSLOG=1");
        let out = c.cmd("AT+SYSMFG?");
        assert!(out.contains("NVS-encrypted and no NVS keys were given"), "{out}");
    }
    let (_sim, mut c) = session(&["--mfg-nvs", img.to_str().unwrap(), "--nvs-keys", keys.to_str().unwrap()]);
    assert!(c.cmd("AT+SYSMFG?").contains("+SYSMFG:\"server_cert\""));
    std::fs::remove_file(img).unwrap();
}
