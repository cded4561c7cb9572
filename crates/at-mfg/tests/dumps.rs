//! `inspect` on the four whole-flash dumps (`fixtures/flash/dumps/*.bin.gz`, decompressed into
//! a temporary directory): the diagnosis, the entries of readable NVS partitions, the human
//! explanation of the seed case, and the files left byte-identical.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value as Json;

fn partition<'a>(v: &'a Json, name: &str) -> &'a Json {
    v["partitions"]
        .as_array()
        .expect("partitions")
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no partition {name} in {v}"))
}

/// Inspect a dump with and without the key, JSON and human; check the file is unchanged and
/// that every partition object has the documented fields. Holds (no key, with key) JSON and
/// the human reports with whitespace flattened.
struct Reports {
    plain: (i32, Json),
    keyed: (i32, Json),
    human: String,
    human_keyed: String,
}

fn reports(path: &Path) -> Reports {
    let before = sha256_file(path);
    let key = fe_key();
    let k = ["--flash-encryption-key".as_ref(), key.as_os_str()];
    let plain = inspect_json(path, &[] as &[&str]);
    let keyed = inspect_json(path, &k);
    let human = run(&["inspect".as_ref(), path.as_os_str()], None);
    let human_keyed = run(&["inspect".as_ref(), path.as_os_str(), k[0], k[1]], None);
    assert_eq!(human.code, plain.0);
    assert_eq!(human_keyed.code, keyed.0);
    for (_, v) in [&plain, &keyed] {
        assert_eq!(v["mode"], "dump", "{v}");
        assert_eq!(v["size"], 4 << 20);
        for p in v["partitions"].as_array().unwrap() {
            for f in ["name", "offset", "size", "type", "subtype", "classification", "entries"] {
                assert!(p.get(f).is_some(), "partition lacks {f}: {p}");
            }
            entries(p); // well-formed
        }
        for p in v["problems"].as_array().unwrap() {
            assert!(p["remedy"].as_str().is_some_and(|r| !r.is_empty()), "{p}");
        }
    }
    assert_eq!(sha256_file(path), before, "{}: inspect changed the dump", path.display());
    Reports { plain, keyed, human: flat(&human.text()), human_keyed: flat(&human_keyed.text()) }
}

fn dumps() -> (tempfile::TempDir, Vec<(&'static str, PathBuf)>) {
    let dir = tempfile::tempdir().unwrap();
    let list = ["healthy", "seed", "second_hazard", "no_flash_encryption"]
        .into_iter()
        .map(|n| (n, dump(n, dir.path())))
        .collect();
    (dir, list)
}

#[test]
fn healthy_dump_lists_mfg_nvs_entries() {
    let dir = tempfile::tempdir().unwrap();
    let r = reports(&dump("healthy", dir.path()));
    for (code, v) in [&r.plain, &r.keyed] {
        assert_eq!(*code, 0, "{v}");
        assert_eq!(v["flash_encryption"], "on");
        assert_eq!(v["problems"], Json::Array(vec![]));
        assert_eq!(v["mfg_nvs"]["readable"], true);
        let m = partition(v, "mfg_nvs");
        assert_eq!(
            (&m["classification"], &m["offset"], &m["size"]),
            (&Json::from("plain"), &Json::from(0x1F000), &Json::from(0x1F000))
        );
        assert_eq!((&m["type"], &m["subtype"]), (&Json::from("data"), &Json::from("nvs")));
        assert_eq!(m["entries_source"], "as-read-by-device");
        assert_entries(m, &mfg_nvs(), "healthy mfg_nvs");
        assert_eq!(partition(v, "at_customize")["classification"], "secondary-table");
        assert_eq!(partition(v, "otadata")["classification"], "encrypted-as-expected");
    }
    // Without the key the primary table is ESP-AT's default, and says so.
    assert_eq!(r.plain.1["primary_table"]["assumed_default"], true);
    assert_eq!(r.keyed.1["primary_table"]["assumed_default"], false);
    assert_eq!(r.keyed.1["detected_by"], "a partition table at 0x8000, decrypted with the key");
    for t in [&r.human, &r.human_keyed] {
        assert!(t.contains("no problem found"), "{t}");
        assert!(t.contains("mfg_nvs @0x1f000 (plain): 19 entries in 7 namespaces"), "{t}");
        assert!(t.contains("uart_baudrate") && t.contains("server_cert"), "{t}");
    }
}

#[test]
fn seed_dump_names_the_secondary_table_and_flash_encryption() {
    let dir = tempfile::tempdir().unwrap();
    let r = reports(&dump("seed", dir.path()));
    for (code, v) in [&r.plain, &r.keyed] {
        assert_eq!(*code, 1, "{v}");
        let p = &v["problems"];
        assert_eq!(
            (&p[0]["partition"], &p[0]["offset"]),
            (&Json::from("at_customize"), &Json::from(0x1E000))
        );
        assert_eq!(p[0]["kind"], "SecondaryTableUnreadable");
        assert!(p[0]["remedy"].as_str().unwrap().contains("plaintext"));
        assert_eq!(
            (&p[1]["partition"], &p[1]["kind"]),
            (&Json::from("mfg_nvs"), &Json::from("FlashEncryptedReadAsPlain"))
        );
        assert_eq!(v["mfg_nvs"]["readable"], false);
        assert_eq!(v["mfg_nvs"]["problem"]["kind"], "SecondaryTableUnreadable");
        let atc = partition(v, "at_customize");
        assert_eq!(atc["classification"], "secondary-table-unreadable");
        assert_eq!(atc["readable"], false);
        assert_eq!(partition(v, "mfg_nvs")["classification"], "flash-encrypted");
        assert!(v["summary"].as_str().unwrap().contains("cannot read mfg_nvs"));
    }
    // Without the key: the key-less rule, locations assumed from ESP-AT's defaults.
    assert_eq!(r.plain.1["problems"][0]["assumed_location"], true);
    assert_eq!(partition(&r.plain.1, "mfg_nvs")["entries"], Json::Array(vec![]));
    // With the key the decrypted table locates mfg_nvs, and its (intact) contents are listed
    // as what the device would see once re-flashed in plaintext.
    let m = partition(&r.keyed.1, "mfg_nvs");
    assert_eq!(m["assumed_location"], false);
    assert_eq!(m["entries_source"], "decrypted-with-key");
    assert_entries(m, &mfg_nvs(), "seed mfg_nvs decrypted");

    // The human report is the point of the tool: cause, consequence and fix in words.
    for t in [&r.human, &r.human_keyed] {
        for needle in [
            "ESP-AT cannot read mfg_nvs",
            "at_customize at 0x1e000",
            "secondary partition table is flash-encrypted",
            "at param mode: 0",
            "cert_len=0",
            "idf.py encrypted-flash",
            "idf.py encrypted-app-flash",
            "write-flash 0x1e000 at_customize.bin 0x1f000 mfg_nvs.bin",
            "mfg_nvs at 0x1f000",
            "secondary-table-unreadable",
        ] {
            assert!(t.contains(needle), "seed report lacks {needle:?}:\n{t}");
        }
    }
    assert!(r.human.contains("judged without the key"), "{}", r.human);
    assert!(r.human_keyed.contains("confirmed: it decrypts with the key"), "{}", r.human_keyed);
    assert!(r.human_keyed.contains("decrypted with the key; the device itself reads ciphertext"));
}

#[test]
fn second_hazard_names_mfg_nvs_as_flash_encrypted() {
    let dir = tempfile::tempdir().unwrap();
    let r = reports(&dump("second_hazard", dir.path()));
    for (code, v) in [&r.plain, &r.keyed] {
        assert_eq!(*code, 1);
        let probs = v["problems"].as_array().unwrap();
        assert_eq!(probs.len(), 1, "{v}");
        assert_eq!(
            (&probs[0]["partition"], &probs[0]["offset"]),
            (&Json::from("mfg_nvs"), &Json::from(0x1F000))
        );
        assert_eq!(probs[0]["kind"], "FlashEncryptedReadAsPlain");
        assert_eq!(partition(v, "mfg_nvs")["classification"], "flash-encrypted");
        assert_eq!(partition(v, "at_customize")["classification"], "secondary-table");
        assert_eq!(v["mfg_nvs"]["problem"]["partition"], "mfg_nvs");
    }
    for t in [&r.human, &r.human_keyed] {
        assert!(t.contains("mfg_nvs at 0x1f000: mfg_nvs is flash-encrypted"), "{t}");
        assert!(!t.contains("secondary-table-unreadable"), "{t}");
    }
}

#[test]
fn no_flash_encryption_dump_is_plain_and_readable() {
    let dir = tempfile::tempdir().unwrap();
    let r = reports(&dump("no_flash_encryption", dir.path()));
    for (code, v) in [&r.plain, &r.keyed] {
        assert_eq!(*code, 0, "{v}");
        assert_eq!(v["flash_encryption"], "off");
        assert_eq!(v["detected_by"], "a partition table at 0x8000");
        assert_entries(partition(v, "mfg_nvs"), &mfg_nvs(), "no-FE mfg_nvs");
        assert!(v["partitions"].as_array().unwrap().iter().all(|p| p["read_decrypted"] == false));
    }
}

#[test]
fn forcing_the_mode_never_panics_and_dumps_stay_unchanged() {
    let (_dir, list) = dumps();
    for (name, path) in &list {
        let before = sha256_file(path);
        // A 4 MiB dump read as one partition: no NVS structure at its start.
        let (code, v) = inspect_json(path, &["--partition"]);
        assert!(code == 0 || code == 1, "{name}: {v}");
        assert_eq!(v["mode"], "partition");
        assert!(v["classification"].is_string());
        assert_eq!(sha256_file(path), before, "{name}");
    }
    // A partition image read as a dump: too small for tables; diagnosed, not a crash.
    let (code, v) = inspect_json(&nvs("mfg_nvs_plain.bin"), &["--dump"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["mode"], "dump");
    // --offset makes no sense for a dump.
    let key = fe_key();
    let r = run(
        &[
            "inspect".as_ref(),
            list[0].1.as_os_str(),
            "--flash-encryption-key".as_ref(),
            key.as_os_str(),
            "--offset".as_ref(),
            "0x1f000".as_ref(),
        ],
        None,
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--offset") && r.stderr.contains("--partition"), "{}", r.stderr);
}

#[test]
fn truncated_and_random_dumps_are_diagnosed_not_crashed_on() {
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::read(dump("healthy", dir.path())).unwrap();
    // The first MiB of a dump (esptool read-flash 0 0x100000): still a dump by size.
    let short = dir.path().join("short.bin");
    std::fs::write(&short, &full[..1 << 20]).unwrap();
    let (code, v) = inspect_json(&short, &[] as &[&str]);
    assert_eq!((code, &v["mode"]), (1, &Json::from("dump")), "{v}");
    assert_eq!(partition(&v, "ota_1")["classification"], "outside-flash");
    // mfg_nvs lies inside the first MiB and still reads.
    assert_entries(partition(&v, "mfg_nvs"), &mfg_nvs(), "short dump mfg_nvs");
    let r = run(&["inspect".as_ref(), short.as_os_str()], None);
    assert!(flat(&r.text()).contains("truncated dump"), "{}", r.text());
    assert!(flat(&r.text()).contains("read-flash 0 ALL"), "{}", r.text());

    // A MiB of noise: "flash encryption on, key unknown" by the key-less rule, every
    // partition of the assumed layout examined, nothing readable.
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let noise: Vec<u8> = (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let p = dir.path().join("noise.bin");
    std::fs::write(&p, &noise).unwrap();
    let (code, v) = inspect_json(&p, &[] as &[&str]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["flash_encryption"], "on");
    assert_eq!(v["mfg_nvs"]["readable"], false);
    assert_eq!(std::fs::read(&p).unwrap(), noise);
}

#[test]
fn offset_zero_is_accepted_for_a_dump() {
    // A whole dump starts at flash address 0: `--offset 0` states that and changes nothing.
    let dir = tempfile::tempdir().unwrap();
    let path = dump("seed", dir.path());
    let key = fe_key();
    let k = ["--flash-encryption-key".as_ref(), key.as_os_str()];
    let without = inspect_json(&path, &k);
    for zero in ["0", "0x0"] {
        let with = inspect_json(&path, &[k[0], k[1], "--offset".as_ref(), zero.as_ref()]);
        assert_eq!(with, without, "--offset {zero}");
        assert_eq!(with.1["mode"], "dump");
    }
    // Forced with --dump too.
    let forced = inspect_json(&path, &[k[0], k[1], "--dump".as_ref(), "--offset".as_ref(), "0".as_ref()]);
    assert_eq!(forced.1["detected_by"], "--dump");
    assert_eq!(forced.1["partitions"], without.1["partitions"]);
    // Any other address is still refused, naming the address.
    let r = run(
        &["inspect".as_ref(), path.as_os_str(), k[0], k[1], "--offset".as_ref(), "0x1000".as_ref()],
        None,
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("0x1000") && r.stderr.contains("--partition"), "{}", r.stderr);
}
