//! Build NVS images with `at_nvs` from the command line (used by `fixtures/gen-nvs.sh`).
//!
//! ```text
//! nvs_image csv <input.csv> <output.bin> <size> [--base-dir DIR] [--version 1|2]
//!               [--keys nvs_keys.bin | --hmac-key hmac_key.bin]
//! nvs_image writer-demo <plain.bin> <encrypted.bin> --keys nvs_keys.bin
//! ```
//!
//! `csv` mirrors `python -m esp_idf_nvs_partition_gen generate|encrypt` (size may be hex
//! `0x…`; relative key-file paths are resolved against the base directory). `writer-demo`
//! runs a fixed sequence of `Kv` operations (sets, overwrites, erases, blob updates, page
//! reclaims) through the NVS *runtime* writer twice, plain and NVS-encrypted, so that the
//! tool's `decrypt` can be checked against the plain twin.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use at_hal::kv::Value;
use at_mock::flash::MockFlash;
use at_nvs::csv::{Options, generate_files};
use at_nvs::image::FormatVersion;
use at_nvs::{Nvs, NvsKeys};

fn parse_size(s: &str) -> Result<usize, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => usize::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|_| format!("bad size `{s}`"))
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn csv(args: &[String]) -> Result<(), String> {
    let [input, output, size, rest @ ..] = args else {
        return Err("usage: nvs_image csv <input.csv> <output.bin> <size> [options]".into());
    };
    let mut opts = Options { size: parse_size(size)?, ..Options::default() };
    let mut base = PathBuf::from(".");
    let mut keys_file = None;
    let mut hmac_file = None;
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--base-dir" => base = PathBuf::from(val()?),
            "--version" => {
                opts.version = match val()?.as_str() {
                    "1" => FormatVersion::V1,
                    "2" => FormatVersion::V2,
                    v => return Err(format!("bad version {v}")),
                }
            }
            "--keys" => keys_file = Some(val()?),
            "--hmac-key" => hmac_file = Some(val()?),
            _ => return Err(format!("unknown option {a}")),
        }
    }
    if let Some(k) = keys_file {
        // Like the tool: the first 64 bytes of the keys file, CRC not checked.
        let b = read(&base.join(k))?;
        let key: [u8; 64] =
            b.get(..64).and_then(|s| s.try_into().ok()).ok_or("keys file shorter than 64 bytes")?;
        opts.keys = Some(NvsKeys::from_bytes(&key));
    }
    if let Some(h) = hmac_file {
        opts.keys = Some(NvsKeys::from_hmac_key(&read(&base.join(h))?));
    }
    let image = generate_files(&[Path::new(input)], &base, &opts).map_err(|e| e.to_string())?;
    std::fs::write(output, image).map_err(|e| format!("{output}: {e}"))
}

/// A fixed workload on a 4-page partition that reclaims pages several times.
fn workload(keys: Option<&NvsKeys>) -> Result<Vec<u8>, String> {
    let mut flash = MockFlash::new(4 * 4096);
    {
        let mut nvs = Nvs::mount(&mut flash, keys).map_err(|e| e.to_string())?;
        let big: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        let e = |e: at_hal::kv::KvError| e.to_string();
        nvs.set("pki", "bundle", Value::Blob(&big)).map_err(e)?;
        for round in 0..6u32 {
            nvs.set("cfg", "round", Value::U32(round)).map_err(e)?;
            nvs.set("cfg", "name", Value::Str(format!("round {round}").as_bytes())).map_err(e)?;
            nvs.set("pki", "bundle", Value::Blob(&big[..4000 + 150 * round as usize])).map_err(e)?;
            for i in 0..20u32 {
                nvs.set("churn", &format!("k{i}"), Value::I64(i64::from(round * 100 + i))).map_err(e)?;
            }
            nvs.erase("churn", "k3").map_err(e)?;
        }
        nvs.erase_namespace("churn").map_err(e)?;
    }
    if flash.stats().erases == 0 {
        return Err("the workload did not reclaim any page".into());
    }
    Ok(flash.into_inner())
}

fn writer_demo(args: &[String]) -> Result<(), String> {
    let [plain, enc, flag, keys] = args else {
        return Err("usage: nvs_image writer-demo <plain.bin> <encrypted.bin> --keys <nvs_keys.bin>".into());
    };
    if flag != "--keys" {
        return Err("expected --keys".into());
    }
    let k = NvsKeys::from_partition(&read(Path::new(keys))?).map_err(|e| e.to_string())?;
    std::fs::write(plain, workload(None)?).map_err(|e| e.to_string())?;
    std::fs::write(enc, workload(Some(&k))?).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args.first().map(String::as_str) {
        Some("csv") => csv(&args[1..]),
        Some("writer-demo") => writer_demo(&args[1..]),
        _ => Err("usage: nvs_image csv|writer-demo ...".into()),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nvs_image: {e}");
            ExitCode::FAILURE
        }
    }
}
