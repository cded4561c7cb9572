//! Bad input never panics: missing files, empty and truncated images, random and structured
//! garbage, corrupted fixtures, wrong key files. Each gives a clear error (exit 2, message on
//! stderr, one JSON error document with --json) or a classification such as "garbage".

mod common;

use std::path::Path;

use common::*;
use serde_json::Value as Json;

/// A small deterministic generator (xorshift64*), so that failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn inspect(path: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["inspect".as_ref(), path.as_os_str()];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    run(&args, None)
}

#[test]
fn missing_empty_directory_and_short_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("empty.bin"), b"").unwrap();
    std::fs::write(d.join("short.bin"), vec![0xFF; 3000]).unwrap();
    for (path, needle) in [
        (d.join("missing.bin"), "missing.bin"),
        (d.join("empty.bin"), "0 bytes"),
        (d.join("short.bin"), "3000 bytes"),
        (d.to_path_buf(), "directory"),
    ] {
        let r = inspect(&path, &[]);
        assert_eq!(r.code, 2, "{}: {r:?}", path.display());
        assert!(r.stderr.contains(needle), "{}: {}", path.display(), r.stderr);
        assert!(r.stdout.is_empty(), "human mode prints errors to stderr only");
        // With --json, stdout is still exactly one JSON document.
        let r = inspect(&path, &["--json"]);
        assert_eq!(r.code, 2);
        let v = r.json();
        assert!(v["error"].as_str().is_some_and(|e| e.contains(needle)), "{v}");
    }
}

#[test]
fn key_file_errors() {
    let img = nvs("single_ns_nvsenc.bin");
    let hmac = nvs("keys/hmac_key.bin");
    let keys = nvs("keys/nvs_keys.bin");
    let fe = fe_key();
    let cases: [(&[&str], &str); 6] = [
        (&["--nvs-keys", hmac.to_str().unwrap()], "68"),
        (&["--hmac-key", keys.to_str().unwrap()], "expected 32"),
        (&["--flash-encryption-key", keys.to_str().unwrap(), "--offset", "0x1000"], "32 bytes"),
        (&["--nvs-keys", "/no/such/keys.bin"], "/no/such/keys.bin"),
        (&["--flash-encryption-key", fe.to_str().unwrap()], "--offset"),
        (&["--flash-encryption-key", fe.to_str().unwrap(), "--offset", "0x1f008"], "multiple of 16"),
    ];
    for (extra, needle) in cases {
        let r = inspect(&img, extra);
        assert_eq!(r.code, 2, "{extra:?}: {r:?}");
        assert!(r.stderr.contains(needle), "{extra:?}: {}", r.stderr);
    }
    // An nvs_keys partition that is blank, and clap-level conflicts.
    let dir = tempfile::tempdir().unwrap();
    let blank = dir.path().join("blank_keys.bin");
    std::fs::write(&blank, vec![0xFF; 4096]).unwrap();
    let r = inspect(&img, &["--nvs-keys", blank.to_str().unwrap()]);
    assert!(r.code == 2 && r.stderr.contains("blank"), "{}", r.stderr);
    let r = inspect(&img, &["--nvs-keys", keys.to_str().unwrap(), "--hmac-key", hmac.to_str().unwrap()]);
    assert!(r.code == 2 && r.stderr.contains("cannot be used with"), "{}", r.stderr);
    let r = inspect(&img, &["--offset", "0x1000"]);
    assert!(r.code == 2 && r.stderr.contains("--flash-encryption-key"), "{}", r.stderr);
    let r = inspect(&img, &["--dump", "--partition"]);
    assert_eq!(r.code, 2);
}

#[test]
fn garbage_is_classified_not_crashed_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x5EED);
    // Random bytes look like ciphertext (the key-less rule cannot tell them apart).
    let random = dir.path().join("random.bin");
    std::fs::write(&random, rng.bytes(0x6000)).unwrap();
    let (code, v) = inspect_json(&random, &[] as &[&str]);
    assert_eq!((code, &v["classification"]), (1, &Json::from("flash-encrypted")));
    // Structured low-entropy junk is garbage.
    let junk = dir.path().join("junk.bin");
    std::fs::write(&junk, (0..0x6000u32).map(|i| (i % 13) as u8 * 7).collect::<Vec<_>>()).unwrap();
    let (code, v) = inspect_json(&junk, &[] as &[&str]);
    assert_eq!((code, &v["classification"]), (1, &Json::from("garbage")));
    assert_eq!(v["problem"]["kind"], "Garbage");
    // Garbage stays garbage when "decrypted".
    let key = fe_key();
    let (_, v) = inspect_json(
        &junk,
        &["--flash-encryption-key".as_ref(), key.as_os_str(), "--offset".as_ref(), "0x1f000".as_ref()],
    );
    assert_eq!(v["classification"], "garbage");
    // All-FF is blank, and an empty store is readable.
    let blank = dir.path().join("blank.bin");
    std::fs::write(&blank, vec![0xFF; 0x6000]).unwrap();
    let (code, v) = inspect_json(&blank, &[] as &[&str]);
    assert_eq!((code, &v["classification"], &v["entries"]), (0, &Json::from("blank"), &Json::Array(vec![])));
}

#[test]
fn truncated_images_are_read_as_far_as_they_go() {
    let full = std::fs::read(nvs("mfg_nvs_plain.bin")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("trunc.bin");
    for len in [4096, 5000, 8192, 0x2800, 0x4000, 0x5FFF] {
        std::fs::write(&p, &full[..len]).unwrap();
        let (code, v) = inspect_json(&p, &[] as &[&str]);
        assert!(code == 0 || code == 1, "{len}: {v}");
        assert!(v["classification"].is_string(), "{len}: {v}");
        if len % 4096 != 0 {
            assert!(v["notes"].to_string().contains("not a multiple of 4096"), "{len}: {v}");
        }
        // What is listed is a subset of the real contents, values intact.
        let want: std::collections::BTreeMap<_, _> =
            entries(&inspect_json(&nvs("mfg_nvs_plain.bin"), &[] as &[&str]).1);
        for (k, e) in entries(&v) {
            assert_eq!(want.get(&k), Some(&e), "{len}: {k:?}");
        }
    }
}

#[test]
fn corrupted_fixtures_never_panic_and_stay_one_json_document() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("mutant.bin");
    let mut rng = Rng(42);
    let sources = [
        nvs("mfg_nvs_plain.bin"),
        nvs("multipage_plain.bin"),
        nvs("all_types_nvsenc.bin"),
        flash("mfg_nvs.fe_0x1f000.bin"),
    ];
    let keys = nvs("keys/nvs_keys.bin");
    for i in 0..48 {
        let mut img = std::fs::read(&sources[i % sources.len()]).unwrap();
        let len = img.len();
        for _ in 0..1 + rng.next() % 64 {
            let at = (rng.next() as usize) % len;
            img[at] = rng.next() as u8;
        }
        // Sometimes smash a whole entry or page header.
        if i % 3 == 0 {
            let at = (rng.next() as usize % (len / 32)) * 32;
            img[at..at + 32].copy_from_slice(&rng.bytes(32));
        }
        std::fs::write(&p, &img).unwrap();
        let extra: Vec<&std::ffi::OsStr> =
            if i % 2 == 0 { vec![] } else { vec!["--nvs-keys".as_ref(), keys.as_os_str()] };
        let (code, v) = inspect_json(&p, &extra);
        assert!(code == 0 || code == 1, "mutant {i}: {v}");
        assert!(v["classification"].is_string(), "mutant {i}: {v}");
        // The human form survives the same input.
        let mut args = vec!["inspect".as_ref(), p.as_os_str()];
        args.extend(extra);
        assert!(run(&args, None).code <= 1, "mutant {i}");
    }
}
