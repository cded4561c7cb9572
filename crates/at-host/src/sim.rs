//! The simulator loop: the firmware core on [`HostPlatform`], driven by a transport.

use std::path::PathBuf;
use std::time::{Duration, Instant as StdInstant};

use at_core::runner::{Pending, pump};
use at_core::{Firmware, FirmwareInfo, Options};
use at_hal::kv::{Kv, MemKv};
use at_hal::time::Instant;
use at_mock::SimAp;
use at_parser::Terminator;

use crate::flash::FileFlash;
use crate::mfg::{self, MfgSource};
use crate::net::StdNetConfig;
use crate::platform::HostPlatform;
use crate::tcp_port::TcpPort;
use crate::transport::{HostPort, UartMode};

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
    /// Sockets: bind address and listening port offset.
    pub net: StdNetConfig,
    /// Each link's receive and send buffer, in bytes (the device's default: 2920).
    pub link_buffer: usize,
    /// The TLS implementation of SSL links.
    pub tls: TlsBackend,
}

/// Which TLS implementation SSL links use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TlsBackend {
    /// rustls (ring), the PC's (`at-tls-rustls`).
    #[default]
    Rustls,
    /// MbedTLS through mbedtls-rs, the ESP32-C3's (`at-tls-mbedtls`; MbedTLS built from C for
    /// the PC): SSL links through the same TLS code the chip runs.
    Mbedtls,
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
        capacities: at_core::Capacities {
            links: at_links::Buffers { rx: cfg.link_buffer, tx: cfg.link_buffer },
            ..at_core::Capacities::default()
        },
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

/// Run until the input ends (stdio EOF or the quit key) or forever (TCP, PTY).
///
/// One loop, the device's: `at_core::runner::pump` moves bytes between the port and the
/// firmware and polls it; then the loop sleeps in the network backend until a socket is
/// ready, the port's threads wake it, or the firmware's next deadline.
pub fn run(cfg: SimConfig) -> std::io::Result<()> {
    let settings = open_settings(cfg.state.as_ref())?;
    let mfg = mfg::open(&cfg.mfg)?;
    let mut platform = HostPlatform::new(cfg.aps.clone(), cfg.join, settings, mfg, cfg.net)?;
    if cfg.tls == TlsBackend::Mbedtls {
        platform.tls = Box::new(at_tls_mbedtls::MbedTls::host());
    }
    // The port's address is the first line on stderr (tools wait for it); the mfg_nvs report
    // follows.
    let mut port = match &cfg.uart {
        // TCP: non-blocking sockets in the loop's own poll, no threads.
        UartMode::Tcp(addr) => AtPort::Tcp(TcpPort::bind(*addr, platform.net.registry()?)?),
        other => AtPort::Threads(HostPort::open(other, platform.net.waker())?),
    };
    report_mfg(&platform.mfg);
    let start = StdInstant::now();
    let now = || Instant::from_micros(u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX));
    let mut fw = Firmware::new(platform, options(&cfg), now());
    // Host ports deliver more than a UART FIFO: take up to 16 KiB per step.
    let mut pending: Pending<16384> = Pending::default();
    loop {
        let next = match pump(&mut fw, &mut port, &mut pending, now()) {
            Ok(next) => next,
            Err(never) => match never {},
        };
        if port.quit_requested() {
            return Ok(());
        }
        // The input ended and everything was taken: stop once the work it started is done
        // and answered. A data phase (or passthrough) waiting for bytes that can no longer
        // come does not hold the simulator open.
        let input_over = port.is_closed() && !pending.has_input();
        if input_over && (fw.in_data_phase() || (!fw.is_busy() && fw.tx_len() == 0)) {
            // Let the writer thread finish what it holds.
            for _ in 0..100 {
                if !port.output_pending() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            return Ok(());
        }
        // More input the firmware can take, or deferred work after drained output: go on at
        // once. Otherwise sleep until I/O or the deadline (no spinning on a stalled host:
        // its output waits in the port, whose writer wakes us when room frees).
        // Readiness of the AT port's sockets the firmware's network poll picked up.
        deliver_port_events(&mut fw, &mut port);
        let more_input =
            pending.has_input() || embedded_io::ReadReady::read_ready(&mut port).unwrap_or(false);
        let go_on = (more_input && fw.wants_input()) || (fw.has_deferred() && fw.tx_len() == 0);
        let timeout = if go_on { Some(Duration::ZERO) } else { next.map(|d| d.saturating_since(now())) };
        fw.platform().net.wait(timeout);
        deliver_port_events(&mut fw, &mut port);
    }
}

/// Hand the AT port the readiness of its sockets (a TCP port lives in the network's poll).
fn deliver_port_events(fw: &mut Firmware<HostPlatform>, port: &mut AtPort) {
    let external = fw.platform().net.take_external();
    if let AtPort::Tcp(p) = port {
        for (token, readable, writable) in external {
            p.on_ready(token, readable, writable);
        }
    }
}

/// The AT port: a TCP socket in the loop's poll, or the thread-backed stdio/PTY port.
enum AtPort {
    Tcp(TcpPort),
    Threads(HostPort),
}

impl AtPort {
    fn is_closed(&self) -> bool {
        match self {
            AtPort::Tcp(_) => false,
            AtPort::Threads(p) => p.is_closed(),
        }
    }
    fn quit_requested(&self) -> bool {
        match self {
            AtPort::Tcp(_) => false,
            AtPort::Threads(p) => p.quit_requested(),
        }
    }
    fn output_pending(&self) -> bool {
        match self {
            AtPort::Tcp(p) => p.output_pending(),
            AtPort::Threads(p) => p.output_pending(),
        }
    }
}

impl embedded_io::ErrorType for AtPort {
    type Error = core::convert::Infallible;
}

impl embedded_io::Read for AtPort {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        match self {
            AtPort::Tcp(p) => p.read(buf),
            AtPort::Threads(p) => p.read(buf),
        }
    }
}

impl embedded_io::ReadReady for AtPort {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        match self {
            AtPort::Tcp(p) => p.read_ready(),
            AtPort::Threads(p) => p.read_ready(),
        }
    }
}

impl embedded_io::Write for AtPort {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        match self {
            AtPort::Tcp(p) => p.write(buf),
            AtPort::Threads(p) => p.write(buf),
        }
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        match self {
            AtPort::Tcp(p) => p.flush(),
            AtPort::Threads(p) => p.flush(),
        }
    }
}

impl embedded_io::WriteReady for AtPort {
    fn write_ready(&mut self) -> Result<bool, Self::Error> {
        match self {
            AtPort::Tcp(p) => p.write_ready(),
            AtPort::Threads(p) => p.write_ready(),
        }
    }
}
