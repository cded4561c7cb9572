//! # at-mfg: build and inspect ESP-AT manufacturing partitions
//!
//! ```text
//! at-mfg generate CSV OUT SIZE [--keys FILE | --hmac-key FILE] [--version 1|2] [--base-dir DIR]
//! at-mfg inspect IMAGE [--nvs-keys FILE | --hmac-key FILE]
//!                      [--flash-encryption-key FILE [--offset 0xADDR]] [--dump | --partition] [--json]
//! ```
//!
//! * `generate` builds an NVS partition image (ESP-AT's `mfg_nvs`) from Espressif's CSV
//!   format, byte-identical to `esp-idf-nvs-partition-gen` (`at_nvs::csv`).
//! * `inspect` explains what a partition image or a whole-flash dump holds and why a device
//!   can or cannot read it (`at_nvs::classify`, `at_flash::diagnose`), and lists every entry
//!   it can read. It only ever opens IMAGE for reading. `inspect` judges and builds a
//!   `report::Report` (in the shared vocabulary: at-flash's `Finding` with at-nvs's `Verdict`
//!   inside, at-hal's `Unreadable`); `render::human` and `render::json` print it.
//!
//! Exit codes: 0 = done (for `inspect`: everything the device needs is readable); 1 =
//! `inspect` found a problem (the report says which and what to do); 2 = error (bad
//! arguments or input files; nothing was generated or inspected).
//!
//! See `crates/at-mfg/README.md` for the JSON shape and the classification strings.
#![forbid(unsafe_code)]

mod entries;
mod generate;
mod input;
mod inspect;
mod render;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Exit code of a successful run that found a problem (`inspect` only).
const EXIT_PROBLEM: u8 = 1;
/// Exit code of an error (bad arguments, unreadable input).
const EXIT_ERROR: u8 = 2;

/// Build and inspect ESP-AT manufacturing partitions (mfg_nvs) and whole-flash dumps.
#[derive(Debug, Parser)]
#[command(name = "at-mfg", version, about, long_about = None)]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Build an NVS partition image from an Espressif CSV (byte-identical to esp-idf-nvs-partition-gen).
    Generate(GenerateArgs),
    /// Explain a partition image or a whole-flash dump: what it holds, whether the device can
    /// read it, why not, the fix, and every readable entry.
    Inspect(InspectArgs),
}

/// Arguments of `at-mfg generate`.
#[derive(Debug, Args)]
#[command(after_help = "\
`file` rows of the CSV are resolved against the current directory, exactly like Espressif's \
esp-idf-nvs-partition-gen (run it from the directory the CSV's paths are relative to), or \
against --base-dir DIR.

Examples:
  cd fixtures/nvs && at-mfg generate csv/mfg_nvs.csv /tmp/mfg_nvs.bin 0x1F000
  at-mfg generate fixtures/nvs/csv/single_ns.csv out.bin 0x6000 --base-dir fixtures/nvs \\
      --keys fixtures/nvs/keys/nvs_keys.bin")]
struct GenerateArgs {
    /// The CSV (columns key,type,encoding,value; Espressif's format).
    csv: PathBuf,
    /// The image file to write.
    out: PathBuf,
    /// Partition size in bytes: decimal or 0x-hex, a multiple of 4096 (ESP-AT's C3 mfg_nvs: 0x1F000).
    #[arg(value_parser = input::parse_size)]
    size: usize,
    /// NVS-encrypt with the keys of this nvs_keys image (eky ‖ tky ‖ CRC, Espressif's `generate-key` output).
    #[arg(long, alias = "inputkey", value_name = "FILE", conflicts_with = "hmac_key")]
    keys: Option<PathBuf>,
    /// NVS-encrypt with keys derived from this 32-byte eFuse HMAC key, as the ESP32-C3 derives them.
    #[arg(long, value_name = "FILE")]
    hmac_key: Option<PathBuf>,
    /// NVS format version: 2 (multi-page blobs, the default) or 1 (single-page blobs).
    #[arg(id = "format_version", long = "version", value_name = "1|2", default_value = "2", value_parser = ["1", "2"])]
    version: String,
    /// Resolve the CSV's `file` rows against DIR instead of the current directory.
    #[arg(long, value_name = "DIR")]
    base_dir: Option<PathBuf>,
}

/// Arguments of `at-mfg inspect`.
#[derive(Debug, Args)]
#[command(after_help = "\
IMAGE is taken for a whole-flash dump if it holds a partition table at 0x8000 (stored plain, or \
decrypting with --flash-encryption-key) or is at least 1 MiB; otherwise for a partition image. \
--dump / --partition override this.

Exit status: 0 = readable / no problem, 1 = a problem was found (explained in the report), \
2 = error. With --json, stdout holds exactly one JSON document (messages go to stderr).

Examples:
  at-mfg inspect mfg_nvs.bin
  at-mfg inspect mfg_nvs_from_device.bin --flash-encryption-key fe_key.bin --offset 0x1f000
  at-mfg inspect flash_4mb.bin --json")]
struct InspectArgs {
    /// A partition image (e.g. mfg_nvs.bin) or a whole-flash dump (esptool read-flash 0 ALL). Only read.
    image: PathBuf,
    /// NVS-encryption keys: an nvs_keys partition image (eky ‖ tky ‖ CRC).
    #[arg(long, value_name = "FILE", conflicts_with = "hmac_key")]
    nvs_keys: Option<PathBuf>,
    /// NVS-encryption keys derived from this 32-byte eFuse HMAC key (ESP32-C3 scheme).
    #[arg(long, value_name = "FILE")]
    hmac_key: Option<PathBuf>,
    /// The 32-byte flash-encryption key file (espsecure / espefuse burn-key XTS_AES_128_KEY input).
    #[arg(long, value_name = "FILE")]
    flash_encryption_key: Option<PathBuf>,
    /// Flash address a partition image was written at (needed to decrypt it; ESP-AT's mfg_nvs: 0x1f000).
    /// A whole-flash dump starts at 0: for a dump, omit it or give 0.
    #[arg(long, value_name = "0xADDR", value_parser = input::parse_u32, requires = "flash_encryption_key")]
    offset: Option<u32>,
    /// Treat IMAGE as a whole-flash dump (starting at flash address 0).
    #[arg(long, conflicts_with = "partition")]
    dump: bool,
    /// Treat IMAGE as one partition's image.
    #[arg(long)]
    partition: bool,
    /// Print one JSON document on stdout instead of the human report.
    #[arg(long)]
    json: bool,
}

/// Write `s` to stdout; `false` if that failed (e.g. a closed pipe), which is not worth a panic.
fn print_stdout(s: &str) -> bool {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    out.write_all(s.as_bytes()).and_then(|()| out.flush()).is_ok()
}

/// A line on stderr; a closed stderr is not worth a panic.
fn eprintln_safe(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Generate(args) => match generate::run(&args) {
            Ok(msg) => {
                eprintln_safe(&msg);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln_safe(&format!("at-mfg generate: error: {e}"));
                ExitCode::from(EXIT_ERROR)
            }
        },
        Command::Inspect(args) => match inspect::run(&args) {
            Ok(report) => {
                let stdout = if args.json {
                    for n in report.notes() {
                        eprintln_safe(&format!("note: {n}"));
                    }
                    render::json::report(&report)
                } else {
                    render::human::report(&report)
                };
                if !print_stdout(&stdout) {
                    return ExitCode::from(EXIT_ERROR);
                }
                if report.problem() { ExitCode::from(EXIT_PROBLEM) } else { ExitCode::SUCCESS }
            }
            Err(e) => {
                eprintln_safe(&format!("at-mfg inspect: error: {e}"));
                if args.json {
                    print_stdout(&format!("{}\n", serde_json::json!({ "error": e })));
                }
                ExitCode::from(EXIT_ERROR)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
