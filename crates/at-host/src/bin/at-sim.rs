//! `at-sim`: the ESP-AT firmware core on a PC.
//!
//! ```text
//! cargo run --release --bin at-sim                       # AT port on this terminal
//! cargo run --release --bin at-sim -- --uart tcp:127.0.0.1:3333
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use at_host::logger::{self, LogSink};
use at_host::mfg::MfgSource;
use at_host::sim::{SimConfig, TlsBackend, run};
use at_host::transport::UartMode;
use at_mock::SimAp;
use at_parser::Terminator;
use clap::Parser;

/// The ESP-AT firmware core on a PC: a simulated ESP32-C3 AT modem.
///
/// The AT port is this terminal (default), a TCP listener or a pseudo-terminal. The station
/// sees simulated access points; SNTP reports the PC's clock. Logs go to stderr (or --log),
/// never to the AT port.
#[derive(Debug, Parser)]
#[command(name = "at-sim", version)]
struct Cli {
    /// AT port: `stdio`, `tcp:ADDR:PORT` (one client at a time; e.g. tcp:127.0.0.1:3333), or
    /// `pty` (prints the /dev/pts path to connect a terminal program to).
    #[arg(long, default_value = "stdio", value_parser = parse_uart)]
    uart: UartMode,

    /// Command line terminator: `crlf` (ESP-AT's default), `lf`, `cr`, or a byte as `0xNN`.
    /// Default: `lf` on stdio (a bare LF ends a line, CR LF also works), `crlf` otherwise.
    #[arg(long, value_parser = parse_terminator)]
    terminator: Option<Terminator>,

    /// A simulated access point as SSID:PASSWORD (empty password: open network).
    /// Repeatable. Default: one AP "esp-at-sim" with password "12345678".
    #[arg(long = "ap", value_name = "SSID:PASSWORD", value_parser = parse_ap)]
    aps: Vec<SimAp>,

    /// Time a join takes, in milliseconds (AT+CWJAP is busy meanwhile).
    #[arg(long, default_value_t = 1000)]
    join_ms: u64,

    /// Settings file (an ESP-IDF NVS image, 56 KiB): AT+SYSSTORE=1 settings survive restarts
    /// of at-sim. Without it, settings live in memory.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,

    /// A whole flash dump (e.g. 4 MB from `esptool read-flash`): mfg_nvs is found through
    /// the partition tables as ESP-AT finds it. AT+SYSMFG/AT+SYSFLASH writes go to the file.
    #[arg(long, value_name = "FILE", conflicts_with = "mfg_nvs")]
    flash: Option<PathBuf>,

    /// The flash-encryption key file (32 bytes, as espsecure takes it), to read a dump of a
    /// chip with flash encryption as the chip reads it.
    #[arg(long, value_name = "FILE", requires = "flash")]
    flash_encryption_key: Option<PathBuf>,

    /// An mfg_nvs partition image (e.g. build/customized_partitions/mfg_nvs.bin).
    /// Without --flash or --mfg-nvs, a built-in store holds ESP-AT's factory_param and a
    /// self-signed demo server certificate.
    #[arg(long, value_name = "FILE")]
    mfg_nvs: Option<PathBuf>,

    /// NVS-encryption keys of mfg_nvs: an nvs_keys partition image.
    #[arg(long, value_name = "FILE", conflicts_with = "hmac_key")]
    nvs_keys: Option<PathBuf>,

    /// NVS-encryption keys of mfg_nvs, derived from this 32-byte eFuse HMAC key.
    #[arg(long, value_name = "FILE")]
    hmac_key: Option<PathBuf>,

    /// Address listening (AT+CIPSERVER) and UDP sockets bind to. Default: loopback only.
    #[arg(long, default_value = "127.0.0.1")]
    bind: std::net::IpAddr,

    /// Listen on PORT + N for AT+CIPSERVER=1,PORT (AT still reports PORT): for users who
    /// may not bind privileged ports such as ESP-AT's default 333.
    #[arg(long, default_value_t = 0, value_name = "N")]
    port_offset: u16,

    /// Each link's receive and send buffer in bytes (256..=1048576). The default is the
    /// device's; a larger one raises passthrough throughput on a PC.
    #[arg(long, default_value_t = at_links::MAX_IPD as u32, value_name = "BYTES",
          value_parser = clap::value_parser!(u32).range(256..=1_048_576))]
    link_buffer: u32,

    /// TLS of SSL links: `rustls` (the PC's) or `mbedtls` (the ESP32-C3's MbedTLS through
    /// mbedtls-rs: certificate dates are never checked, no AT+CIPSSLCCIPHER; see docs/compat.md).
    #[arg(long, default_value = "rustls", value_parser = parse_tls)]
    tls: TlsBackend,

    /// Write logs to FILE instead of stderr.
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,

    /// Log level: error, warn, info, debug, trace, off.
    #[arg(long, default_value = "info")]
    log_level: log::LevelFilter,
}

fn parse_tls(s: &str) -> Result<TlsBackend, String> {
    match s {
        "rustls" => Ok(TlsBackend::Rustls),
        "mbedtls" => Ok(TlsBackend::Mbedtls),
        _ => Err(format!("unknown TLS implementation {s:?} (rustls or mbedtls)")),
    }
}

fn parse_uart(s: &str) -> Result<UartMode, String> {
    match s {
        "stdio" => Ok(UartMode::Stdio),
        "pty" => Ok(UartMode::Pty),
        _ => {
            let addr = s.strip_prefix("tcp:").ok_or("expected stdio, pty or tcp:ADDR:PORT")?;
            addr.parse::<SocketAddr>().map(UartMode::Tcp).map_err(|e| format!("{addr}: {e}"))
        }
    }
}

fn parse_terminator(s: &str) -> Result<Terminator, String> {
    match s {
        "crlf" => Ok(Terminator::CrLf),
        "lf" => Ok(Terminator::Byte(b'\n')),
        "cr" => Ok(Terminator::Byte(b'\r')),
        _ => {
            let hex = s.strip_prefix("0x").ok_or("expected crlf, lf, cr or 0xNN")?;
            u8::from_str_radix(hex, 16).map(Terminator::Byte).map_err(|e| e.to_string())
        }
    }
}

fn parse_ap(s: &str) -> Result<SimAp, String> {
    let (ssid, pw) = s.split_once(':').ok_or("expected SSID:PASSWORD")?;
    if ssid.is_empty() || ssid.len() > 32 {
        return Err("SSID must be 1..=32 bytes".into());
    }
    if !pw.is_empty() && !(8..=64).contains(&pw.len()) {
        return Err("password must be empty (open) or 8..=64 bytes".into());
    }
    Ok(SimAp::new(ssid.as_bytes(), pw.as_bytes()))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let sink = match &cli.log {
        Some(p) => match std::fs::OpenOptions::new().create(true).append(true).open(p) {
            Ok(f) => LogSink::File(f),
            Err(e) => {
                eprintln!("at-sim: {}: {e}", p.display());
                return ExitCode::FAILURE;
            }
        },
        None => LogSink::Stderr,
    };
    if let Err(e) = logger::init(sink, cli.log_level) {
        eprintln!("at-sim: logger: {e}");
        return ExitCode::FAILURE;
    }
    let aps = if cli.aps.is_empty() { vec![SimAp::new(b"esp-at-sim", b"12345678")] } else { cli.aps };
    let cfg = SimConfig {
        uart: cli.uart,
        terminator: cli.terminator,
        aps,
        join: Duration::from_millis(cli.join_ms),
        state: cli.state,
        mfg: MfgSource {
            flash: cli.flash,
            mfg_nvs: cli.mfg_nvs,
            flash_encryption_key: cli.flash_encryption_key,
            nvs_keys: cli.nvs_keys,
            hmac_key: cli.hmac_key,
        },
        net: at_host::StdNetConfig { bind: cli.bind, port_offset: cli.port_offset },
        link_buffer: cli.link_buffer as usize,
        tls: cli.tls,
    };
    match run(cfg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("at-sim: {e}");
            ExitCode::FAILURE
        }
    }
}
