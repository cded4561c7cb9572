//! The simulator loop: the firmware core on [`HostPlatform`], driven by a transport.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::{Duration, Instant as StdInstant};

use at_core::{Firmware, FirmwareInfo, Options};
use at_hal::kv::{Kv, MemKv};
use at_hal::time::Instant;
use at_mock::SimAp;
use at_parser::Terminator;

use crate::flash::FileFlash;
use crate::mfg::{self, MfgSource};
use crate::platform::HostPlatform;
use crate::transport::{self, Incoming, Sink, UartMode};

/// Size of the settings image (`--state`): ESP-AT's `nvs` partition on the ESP32-C3.
pub const STATE_SIZE: u32 = 0xE000;

/// Everything `at-sim` is configured with.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The AT port.
    pub uart: UartMode,
    /// Line terminator; default: LF on stdio (so a person can type), CR LF elsewhere.
    pub terminator: Option<Terminator>,
    /// Access points the simulated station sees.
    pub aps: Vec<SimAp>,
    /// Join latency.
    pub join: Duration,
    /// Settings image file (NVS format); `None` keeps settings in memory.
    pub state: Option<PathBuf>,
    /// Manufacturing data (`mfg_nvs`).
    pub mfg: MfgSource,
}

fn options(cfg: &SimConfig) -> Options {
    let terminator = cfg.terminator.unwrap_or(match cfg.uart {
        UartMode::Stdio => Terminator::Byte(b'\n'),
        _ => Terminator::CrLf,
    });
    Options {
        info: FirmwareInfo {
            build_id: format!("at-sim {}", env!("CARGO_PKG_VERSION")),
            sdk_version: format!("at-sim-v{} (host simulator)", env!("CARGO_PKG_VERSION")),
            bin_version: format!("at-sim-{}", env!("CARGO_PKG_VERSION")),
            ..FirmwareInfo::default()
        },
        terminator,
        ..Options::default()
    }
}

/// Open the settings store: an NVS partition image in `path`, or memory.
pub fn open_settings(path: Option<&PathBuf>) -> std::io::Result<Box<dyn Kv + Send>> {
    let Some(path) = path else { return Ok(Box::new(MemKv::new())) };
    let flash = FileFlash::open(path, STATE_SIZE)?;
    let nvs = at_nvs::Nvs::mount(flash, None).map_err(|e| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {e}", path.display()))
    })?;
    Ok(Box::new(nvs))
}

/// Tell the person starting the simulator what the firmware will find in `mfg_nvs`.
fn report_mfg(mfg: &mfg::HostMfg) {
    use at_hal::storage::MfgStore;
    match mfg.unreadable() {
        None => log::info!("mfg_nvs: {}", mfg.detail()),
        Some(u) => {
            log::error!("mfg_nvs unreadable: {}", mfg.detail());
            eprintln!("at-sim: mfg_nvs unreadable ({u}): {}", mfg.detail());
            eprintln!("at-sim: AT+SYSMFG and TLS will answer ERROR with this reason (AT+SYSLOG=1 shows it)");
        }
    }
}

/// Run until the input ends (stdio EOF) or forever (TCP, PTY).
pub fn run(cfg: SimConfig) -> std::io::Result<()> {
    let (to_loop, from_io) = channel();
    let port = transport::open(&cfg.uart, to_loop)?;
    let mut sink: Option<Sink> = port.sink.clone();
    let settings = open_settings(cfg.state.as_ref())?;
    let mfg = mfg::open(&cfg.mfg)?;
    report_mfg(&mfg);
    let platform = HostPlatform::new(cfg.aps.clone(), cfg.join, settings, mfg);
    let start = StdInstant::now();
    let now = || Instant::from_micros(u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX));
    let mut fw = Firmware::new(platform, options(&cfg), now());
    // Output waits for the first host to attach (so it sees `ready`); after that, output
    // while nobody is attached goes nowhere, as on a real serial line.
    let mut ever_attached = sink.is_some();
    let mut input: VecDeque<u8> = VecDeque::new();
    let mut input_closed = false;
    loop {
        // Feed input (the firmware may take less when its output is backed up).
        while !input.is_empty() {
            let (a, _) = input.as_slices();
            let n = fw.receive(a, now());
            input.drain(..n);
            if n == 0 {
                break;
            }
        }
        let deadline = fw.poll(now());
        // Drain output.
        let mut out_blocked = false;
        while fw.tx_len() > 0 {
            let chunk = fw.tx_front().to_vec();
            match &sink {
                Some(s) => match s.try_send(chunk) {
                    Ok(()) => fw.tx_consume(fw.tx_front().len()),
                    Err(_) => {
                        out_blocked = true;
                        break;
                    }
                },
                None if ever_attached => fw.tx_consume(fw.tx_front().len()),
                None => break,
            }
        }
        if fw.has_deferred() && fw.tx_len() == 0 {
            continue;
        }
        if input_closed && input.is_empty() && !fw.is_busy() && fw.tx_len() == 0 {
            // Let the writer thread finish: dropping the sink closes its queue.
            drop(sink.take());
            std::thread::sleep(Duration::from_millis(50));
            return Ok(());
        }
        // Sleep until input, the firmware's deadline, or a retry of blocked output.
        let t = now();
        let mut wait = deadline.map(|d| d.saturating_since(t));
        if out_blocked || (!input.is_empty() && fw.wants_input()) {
            wait = Some(wait.map_or(Duration::from_millis(5), |w| w.min(Duration::from_millis(5))));
        }
        let msg = match wait {
            Some(w) => match from_io.recv_timeout(w) {
                Ok(m) => Some(m),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => Some(Incoming::Closed),
            },
            None => Some(from_io.recv().unwrap_or(Incoming::Closed)),
        };
        let mut next = msg;
        // Take everything already waiting, without sleeping again.
        while let Some(m) = next.take() {
            match m {
                Incoming::Bytes(b) => input.extend(b),
                Incoming::Attached(s) => {
                    sink = Some(s);
                    ever_attached = true;
                }
                Incoming::Detached => sink = None,
                Incoming::Closed => input_closed = true,
            }
            next = from_io.try_recv().ok();
        }
        if input_closed && !matches!(cfg.uart, UartMode::Stdio) {
            return Ok(());
        }
    }
}
