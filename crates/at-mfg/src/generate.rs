//! `at-mfg generate`: an NVS partition image from Espressif's CSV format, through
//! `at_nvs::csv` (byte-identical to `esp-idf-nvs-partition-gen` 0.3.0).
//!
//! Path rule: `file` rows are resolved against the **current directory**, as Espressif's tool
//! resolves them (or against `--base-dir`). The CSV, OUT and key paths are ordinary paths.

use std::path::Path;

use at_nvs::csv::{CsvError, Options, generate_files};
use at_nvs::image::FormatVersion;

use crate::GenerateArgs;
use crate::input;

/// Build the image and write it to OUT; the message says what was written.
pub fn run(args: &GenerateArgs) -> Result<String, String> {
    let keys = input::nvs_keys(args.keys.as_deref(), args.hmac_key.as_deref())?;
    let encrypted = keys.is_some();
    let version = if args.version == "1" { FormatVersion::V1 } else { FormatVersion::V2 };
    let opts = Options { size: args.size, version, keys };
    let base = args.base_dir.as_deref().unwrap_or(Path::new("."));
    if !base.is_dir() {
        return Err(format!("--base-dir {}: not a directory", base.display()));
    }
    if !args.csv.is_file() {
        // generate_files would say "No such file", but without saying it is the CSV.
        let why = if args.csv.exists() { "not a file" } else { "no such file" };
        return Err(format!("CSV {}: {why}", args.csv.display()));
    }
    let image = generate_files(&[args.csv.as_path()], base, &opts).map_err(|e| {
        let hint = match &e {
            CsvError::Io { path, .. } if path != &args.csv => format!(
                " (`file` rows are resolved against {}; run from the directory the CSV's paths are \
                 relative to, or give --base-dir)",
                if args.base_dir.is_some() { "--base-dir" } else { "the current directory" }
            ),
            _ => String::new(),
        };
        format!("{}: {e}{hint}", args.csv.display())
    })?;
    std::fs::write(&args.out, &image).map_err(|e| format!("cannot write {}: {e}", args.out.display()))?;
    Ok(format!(
        "wrote {} ({} bytes = {} pages, NVS format v{}{})",
        args.out.display(),
        image.len(),
        image.len() / 4096,
        args.version,
        if encrypted { ", NVS-encrypted" } else { "" }
    ))
}
