//! `generate` reproduces every committed fixture image byte for byte from its CSV (plain, v1,
//! NVS-encrypted with `keys/nvs_keys.bin`, HMAC-derived keys), and rejects bad input with a
//! precise message, a non-zero exit and no output file.

mod common;

use std::path::Path;

use common::*;

/// (CSV, committed image, SIZE, extra arguments) — the commands of `fixtures/gen-nvs.sh`.
const FIXTURES: &[(&str, &str, &str, &[&str])] = &[
    ("csv/single_ns.csv", "single_ns_plain.bin", "0x6000", &[]),
    ("csv/single_ns.csv", "single_ns_plain_v1.bin", "0x6000", &["--version", "1"]),
    ("csv/multipage.csv", "multipage_plain.bin", "0x6000", &[]),
    ("csv/all_types.csv", "all_types_plain.bin", "0x6000", &[]),
    ("csv/all_types.csv", "all_types_v1.bin", "0x6000", &["--version", "1"]),
    ("csv/mfg_nvs.csv", "mfg_nvs_plain.bin", "0x6000", &[]),
    ("csv/mfg_nvs.csv", "mfg_nvs_plain_124k.bin", "0x1F000", &[]),
    ("csv/single_ns.csv", "single_ns_nvsenc.bin", "0x6000", &["--keys", "keys/nvs_keys.bin"]),
    ("csv/multipage.csv", "multipage_nvsenc.bin", "0x6000", &["--keys", "keys/nvs_keys.bin"]),
    ("csv/all_types.csv", "all_types_nvsenc.bin", "0x6000", &["--keys", "keys/nvs_keys.bin"]),
    ("csv/mfg_nvs.csv", "mfg_nvs_nvsenc.bin", "0x6000", &["--keys", "keys/nvs_keys.bin"]),
    ("csv/single_ns.csv", "single_ns_nvsenc_hmac.bin", "0x6000", &["--hmac-key", "keys/hmac_key.bin"]),
    // Espressif's spelling of the keys option, and its keys file for the HMAC scheme.
    ("csv/single_ns.csv", "single_ns_nvsenc_hmac.bin", "24576", &["--inputkey", "keys/nvs_keys_hmac.bin"]),
];

fn same_file(a: &Path, b: &Path) -> bool {
    std::fs::read(a).unwrap() == std::fs::read(b).unwrap()
}

#[test]
fn reproduces_every_fixture_from_the_fixture_directory() {
    // Run like the Python tool: from fixtures/nvs, `file` rows relative to the current directory.
    let out = tempfile::tempdir().unwrap();
    for (csv, image, size, extra) in FIXTURES {
        let dst = out.path().join(image);
        let mut args = vec!["generate", csv, dst.to_str().unwrap(), size];
        args.extend_from_slice(extra);
        let r = run(&args, Some(&nvs_dir()));
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "generate prints to stderr only");
        assert!(same_file(&dst, &nvs(image)), "{args:?}: differs from fixtures/nvs/{image}");
    }
}

#[test]
fn reproduces_with_base_dir_from_elsewhere() {
    let out = tempfile::tempdir().unwrap();
    for (csv, image, size, extra) in FIXTURES {
        let dst = out.path().join(image);
        let csv = nvs(csv);
        let mut args: Vec<String> =
            vec!["generate".into(), csv.display().to_string(), dst.display().to_string()];
        args.push(size.to_string());
        let mut it = extra.iter();
        while let Some(a) = it.next() {
            args.push(a.to_string());
            if let Some(v) = it.next() {
                // Key files are ordinary paths (relative to the current directory).
                args.push(if a.starts_with("--") && *a != "--version" {
                    nvs(v).display().to_string()
                } else {
                    v.to_string()
                });
            }
        }
        args.extend(["--base-dir".into(), nvs_dir().display().to_string()]);
        let r = run(&args, Some(out.path()));
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        assert!(same_file(&dst, &nvs(image)), "{args:?}: differs from fixtures/nvs/{image}");
    }
}

/// Run `generate` in `cwd`, expect failure with every `needles` in stderr and no OUT written.
fn fails(args: &[&str], cwd: &Path, needles: &[&str]) {
    let out = cwd.join("out.bin");
    let _ = std::fs::remove_file(&out);
    let mut full = vec!["generate"];
    full.extend_from_slice(args);
    let r = run(&full, Some(cwd));
    assert_ne!(r.code, 0, "{full:?} succeeded");
    for n in needles {
        assert!(r.stderr.contains(n), "{full:?}: stderr lacks {n:?}: {}", r.stderr);
    }
    assert!(!out.exists(), "{full:?}: wrote an output despite the error");
}

#[test]
fn bad_input_is_a_precise_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let nvsd = nvs_dir();
    let csv = nvs("csv/mfg_nvs.csv");
    let csv = csv.to_str().unwrap();
    let base = ["--base-dir", nvsd.to_str().unwrap()];

    fails(&["missing.csv", "out.bin", "0x6000"], d, &["missing.csv", "no such file"]);
    for size in ["0x6001", "0", "abc", "0x", "4096.0", "0x100000000000"] {
        fails(&[csv, "out.bin", size], d, &["SIZE", size]);
    }
    // Data larger than the partition.
    fails(&[csv, "out.bin", "0x1000", base[0], base[1]], d, &["less than the size of the data"]);
    // A `file` row that does not resolve: the path rule is in the message.
    fails(&[csv, "out.bin", "0x6000"], d, &["pem/server_cert.pem", "current directory", "--base-dir"]);
    // CSV errors carry at-nvs's record number.
    std::fs::write(
        d.join("long.csv"),
        "key,type,encoding,value\nns,namespace,,\na,data,u8,3\nthis_key_is_far_too_long,data,u8,1\n",
    )
    .unwrap();
    fails(&["long.csv", "out.bin", "0x3000"], d, &["long.csv", "record 4", "this_key_is_far_too_long"]);
    std::fs::write(d.join("range.csv"), "key,type,encoding,value\nns,namespace,,\na,data,u8,300\n").unwrap();
    fails(&["range.csv", "out.bin", "0x3000"], d, &["range.csv", "out of range", "`a`"]);
    std::fs::write(d.join("header.csv"), "key,type\n").unwrap();
    fails(&["header.csv", "out.bin", "0x3000"], d, &["encoding"]);
    std::fs::write(d.join("binary.csv"), [0xFF, 0xFE, 0x00, 0x80]).unwrap();
    fails(&["binary.csv", "out.bin", "0x3000"], d, &["UTF-8"]);
    // Key files: wrong kind, missing, both given.
    let hmac = nvs("keys/hmac_key.bin");
    let keys = nvs("keys/nvs_keys.bin");
    let (hmac, keys) = (hmac.to_str().unwrap(), keys.to_str().unwrap());
    fails(&[csv, "out.bin", "0x6000", base[0], base[1], "--keys", hmac], d, &["NVS keys file", "68"]);
    fails(&[csv, "out.bin", "0x6000", base[0], base[1], "--hmac-key", keys], d, &["HMAC key file", "32"]);
    fails(&[csv, "out.bin", "0x6000", base[0], base[1], "--keys", "nope.bin"], d, &["nope.bin"]);
    fails(&[csv, "out.bin", "0x6000", "--keys", keys, "--hmac-key", hmac], d, &["cannot be used with"]);
    // A keys image whose CRC does not match.
    let mut bad = std::fs::read(nvs("keys/nvs_keys.bin")).unwrap();
    bad[0] ^= 1;
    std::fs::write(d.join("badcrc.bin"), bad).unwrap();
    fails(&[csv, "out.bin", "0x6000", base[0], base[1], "--keys", "badcrc.bin"], d, &["CRC"]);
    fails(&[csv, "out.bin", "0x6000", "--version", "3"], d, &["--version"]);
    fails(&[csv, "out.bin", "0x6000", "--base-dir", "no/such/dir"], d, &["no/such/dir", "not a directory"]);
}

#[test]
fn help_is_available_for_each_subcommand() {
    for args in [&["--help"][..], &["generate", "--help"], &["inspect", "--help"]] {
        let r = run(args, None);
        assert_eq!(r.code, 0, "{args:?}");
        assert!(r.text().contains("Usage: at-mfg"), "{args:?}: {}", r.text());
    }
    assert!(run(&["generate", "--help"], None).text().contains("current directory"));
    assert!(run(&["inspect", "--help"], None).text().contains("0x8000"));
    let r = run(&["--version"], None);
    assert!(r.code == 0 && r.text().starts_with("at-mfg "), "{r:?}");
    let r = run(&[] as &[&str], None);
    assert_eq!(r.code, 2);
}
