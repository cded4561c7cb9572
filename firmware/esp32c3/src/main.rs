//! esp-at-rs on the ESP32-C3 — milestone 3: the AT core with the Wi-Fi station, the IP stack and
//! TLS.
//!
//! * AT port: UART1 on `factory_param`'s pins when they are valid for this firmware, else
//!   ESP-AT's ESP32-C3-MINI-1 pins (TX GPIO7, RX GPIO6, CTS GPIO5, RTS GPIO4); 115200 8N1 at
//!   boot, then `AT+UART_DEF` / `factory_param` as the core decides; receive interrupt-driven
//!   ([`uart`]).
//! * Logs: UART0 (the ROM console, GPIO21 TX, 115200), never the AT port.
//! * Settings in ESP-AT's `nvs` partition, manufacturing data in `mfg_nvs`, both NVS on the chip's
//!   flash ([`storage`]).
//! * Wi-Fi station: esp-radio ([`radio::Radio`]), on esp-rtos's scheduler; IP stack: smoltcp
//!   through at-smoltcp ([`radio::Net`]) on esp-radio's station interface.
//! * TLS: MbedTLS 3.6.5 (prebuilt, through mbedtls-rs 0.3.0) behind `at_hal::tls`
//!   ([`at_tls_mbedtls::MbedTls`]), hashing, AES and RSA on the chip's SHA/AES/RSA units
//!   ([`start_tls`]).
//!
//! The main loop is the device loop the core was designed for: `at_core::runner::pump` (one
//! bounded step: UART → firmware → poll → UART), feed the watchdog, then sleep in esp-rtos
//! until the core's next deadline (at most 1 ms), forever. esp-rtos turns
//! it into its main task; esp-radio's Wi-Fi task runs beside it, preemptively scheduled.
//!
//! Unsafe code: `deny(unsafe_code)`; two exceptions of our own, each with its SAFETY comment:
//! [`flash::ChipFlash`]'s encrypted program (esp-storage's `ll` calls into the ROM) and
//! registering MbedTLS's hardware-acceleration hooks ([`start_tls`]). The rest lives in
//! the expansions of esp-alloc's `heap_allocator!` (registering a `static mut` region),
//! esp-bootloader-esp-idf's `esp_app_desc!` (`export_name`/`link_section` attributes) and
//! `#[esp_hal::main]` (the entry symbol); the lint does not look into external macros.
#![no_std]
#![no_main]
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

mod flash;
mod hmac;
mod platform;
mod radio;
mod storage;
mod system;
mod uart;

use alloc::string::String;

use alloc::boxed::Box;
use at_core::runner::{Pending, pump};
use at_core::{Firmware, FirmwareInfo, Options};
use at_tls_mbedtls::MbedTls;
use esp_hal::gpio::AnyPin;
use esp_hal::rng::Trng;
use esp_hal::time::Duration;
use esp_hal::timer::timg::{MwdtStage, TimerGroup};
use esp_hal::uart::Uart;
use esp_storage::FlashStorage;
use mbedtls_rs::sys::hook::backend::esp::EspAccel;

use crate::platform::Esp32c3;
use crate::radio::{Net, Radio};
use crate::system::{ChipClock, ChipSystem, HwEntropy};
use at_hal::system::Entropy;
use at_hal::time::Clock;

// Panic and exception handler: prints the backtrace on UART0, then halts (the watchdog resets).
use esp_backtrace as _;

// The ESP-IDF 2nd-stage bootloader's application descriptor.
esp_bootloader_esp_idf::esp_app_desc!();

/// Heap in the RAM the 2nd-stage bootloader used (`dram2_seg`: 0x3FCCE400..0x3FCDE710 on the
/// C3, free once the app runs; esp-hal's `#[ram(reclaimed)]`).
const HEAP_RECLAIMED: usize = 66_320;
/// Heap in ordinary DRAM (`.bss`).
const HEAP_MAIN: usize = 192 * 1024;
// Sizing (README "RAM"): the core's own share peaks at 18 KiB (tests/ram_budget.rs), a TCP link
// adds ≈ 6.2 KiB plus its smoltcp socket (5760 + 2920 bytes of buffers); the radio (esp-radio
// Wi-Fi, ≈ 70–100 KiB of heap in esp-rs examples; not yet measured on a board) shares this heap,
// and so does each SSL link (≈ 40 KiB: MbedTLS's 2 × 16.6 KiB record buffers and contexts plus
// at-tls-mbedtls's 10 KiB of buffers, see that crate's docs).
// The C3's 313 KiB of DRAM also holds .data/.bss and the stack; `ci.sh` prints them.

/// How long the main loop may stall before the watchdog resets the chip. Every poll step is
/// bounded (a 4 KiB flash erase is the slowest, tens of milliseconds).
const WATCHDOG_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest sleep of the main loop between steps when nothing is due (the AT port's latency
/// when idle).
const MAX_IDLE_SLEEP: core::time::Duration = core::time::Duration::from_millis(1);

fn clock_now() -> at_hal::time::Instant {
    ChipClock.now()
}

#[esp_hal::main]
fn main() -> ! {
    esp_println::logger::init_logger_from_env();
    let peripherals = esp_hal::init(esp_hal::Config::default());
    // esp-alloc's macro declares a `static mut` byte array and hands it to the global heap
    // (`unsafe { HEAP.add_region(..) }`), sound because nothing else can name that array.
    esp_alloc::heap_allocator!(#[esp_hal::ram(reclaimed)] size: HEAP_RECLAIMED);
    esp_alloc::heap_allocator!(size: HEAP_MAIN);
    log::info!(
        "esp-at-rs {} on ESP32-C3 (milestone 3: Wi-Fi + smoltcp + MbedTLS); reset reason {:?}; heap {} bytes",
        env!("CARGO_PKG_VERSION"),
        esp_hal::system::reset_reason(),
        esp_alloc::HEAP.free()
    );

    // esp-rtos: its scheduler ticks on TIMG0's timer 0 and switches tasks with the FROM_CPU_INTR0
    // software interrupt; this function becomes its main task. esp-radio needs it running.
    let timg0 = TimerGroup::new(peripherals.TIMG0);
    esp_rtos::start(timg0.timer0, peripherals.FROM_CPU_INTR0);

    // Watchdog: TIMG0's MWDT resets the system if the loop stops feeding it.
    let mut wdt = timg0.wdt;
    wdt.set_timeout(MwdtStage::Stage0, WATCHDOG_TIMEOUT);
    wdt.enable();

    let nvs_keys = hmac::nvs_keys(peripherals.HMAC);
    let mut stores = storage::open(FlashStorage::new(peripherals.FLASH), nvs_keys);
    wdt.feed();

    // The AT port: UART1 on factory_param's pins when they are usable, else ESP32-C3-MINI-1's.
    // CTS/RTS pins are connected always; flow control is used only when AT+UART_CUR/DEF asks
    // for it (ESP-AT's default is none).
    let at_pins = storage::factory_uart_pins(&mut stores.mfg);
    // Every GPIO `at_esp32c3::factory::usable_for_at_port` admits, to be taken by number.
    let mut pool: [Option<AnyPin<'static>>; 22] = [
        Some(peripherals.GPIO0.into()),
        Some(peripherals.GPIO1.into()),
        Some(peripherals.GPIO2.into()),
        Some(peripherals.GPIO3.into()),
        Some(peripherals.GPIO4.into()),
        Some(peripherals.GPIO5.into()),
        Some(peripherals.GPIO6.into()),
        Some(peripherals.GPIO7.into()),
        Some(peripherals.GPIO8.into()),
        Some(peripherals.GPIO9.into()),
        Some(peripherals.GPIO10.into()),
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        Some(peripherals.GPIO18.into()),
        Some(peripherals.GPIO19.into()),
        None,
        None,
    ];
    // The pins are distinct and usable (checked by `for_at_port`), so each is still in the pool.
    let mut take = |gpio: u8| match pool.get_mut(usize::from(gpio)).and_then(Option::take) {
        Some(p) => p,
        None => panic!("GPIO{gpio} not available for the AT port"),
    };
    let at_default = at_hal::uart::UartConfig::default();
    let uart_config = match uart::esp_config(&at_default) {
        Ok(c) => c,
        Err(e) => panic!("115200 8N1 rejected: {e}"),
    };
    let mut at_uart = match Uart::new(peripherals.UART1, uart_config) {
        Ok(u) => u,
        Err(e) => panic!("UART1 init failed: {e}"),
    }
    .with_tx(take(at_pins.tx))
    .with_rx(take(at_pins.rx));
    if let Some(cts) = at_pins.cts {
        at_uart = at_uart.with_cts(take(cts));
    }
    if let Some(rts) = at_pins.rts {
        at_uart = at_uart.with_rts(take(rts));
    }
    let (mut port, uart_control) = uart::split(at_uart, at_default);

    let mut entropy = HwEntropy::new(peripherals.RNG, peripherals.ADC1);
    let tls = start_tls(peripherals.SHA, peripherals.RSA, peripherals.AES, entropy.trng());

    // Wi-Fi: the controller (station mode, esp-radio's default buffers) and the station
    // interface, which the IP stack sends and receives through.
    let controller = match esp_radio::wifi::WifiController::new(peripherals.WIFI, Default::default()) {
        Ok(c) => c,
        Err(e) => panic!("Wi-Fi init failed: {e:?}"),
    };
    let station = esp_radio::wifi::Interface::station();
    let mac = station.mac_address();
    let device = at_smoltcp::DriverDevice::new(station);
    let hw =
        at_smoltcp::smoltcp::wire::HardwareAddress::Ethernet(at_smoltcp::smoltcp::wire::EthernetAddress(mac));
    let mut seed = [0u8; 8];
    entropy.fill_bytes(&mut seed);
    let net: Net =
        at_smoltcp::SmolNet::new(device, hw, u64::from_le_bytes(seed), Default::default(), clock_now());
    wdt.feed();
    log::info!("Wi-Fi up (station {:02x?}); heap free {} bytes", mac, esp_alloc::HEAP.free());

    let platform = Esp32c3 {
        wifi: Radio::new(controller, mac),
        net,
        settings: stores.settings,
        mfg: stores.mfg,
        system: ChipSystem,
        uart: uart_control,
        entropy,
        tls,
    };
    let clock = ChipClock;
    let options = Options {
        info: FirmwareInfo {
            sdk_version: String::from(concat!(
                "esp-at-rs-v",
                env!("CARGO_PKG_VERSION"),
                " (esp-hal 1.2.2, esp-radio 1.0.0-beta.1, smoltcp 0.14, MbedTLS 3.6.5)"
            )),
            ..FirmwareInfo::default()
        },
        ..Options::default()
    };
    // Boots the core (reads factory_param and the stored settings, applies AT+UART_DEF) and
    // queues `ready`, which the first pump writes to the AT port.
    let mut fw = Firmware::new(platform, options, clock.now());
    log::info!("AT core up; heap free {} bytes", esp_alloc::HEAP.free());

    let mut pending: Pending = Pending::default();
    loop {
        let now = clock.now();
        let next = match pump(&mut fw, &mut port, &mut pending, now) {
            Ok(next) => next,
            Err(e) => {
                log::warn!("{e} ({} receive errors since boot)", port.rx_errors());
                Some(now)
            }
        };
        wdt.feed();
        // Sleep until the core's next deadline, at most MAX_IDLE_SLEEP (received bytes wait in
        // the interrupt-filled ring), and no longer than the TX FIFO takes to empty while
        // output is queued; not at all while input waits that the core can take now. The sleep
        // blocks this task in esp-rtos, so the Wi-Fi task and the idle hook run.
        let mut wait = match next {
            Some(t) => t.saturating_since(now),
            None => MAX_IDLE_SLEEP,
        }
        .min(MAX_IDLE_SLEEP);
        if fw.tx_len() > 0 {
            wait = wait.min(uart::tx_fifo_time());
        }
        let input_waiting = fw.wants_input() && (port.has_input() || pending.has_input());
        if !wait.is_zero() && !input_waiting {
            esp_rtos::CurrentThreadHandle::get().delay(Duration::from_micros(wait.as_micros() as u64));
        }
    }
}

/// MbedTLS for the SSL links: the C3's SHA, AES and RSA units serve MbedTLS's hashing, AES and
/// modular exponentiation (mbedtls-rs-sys's ESP backends; elliptic-curve arithmetic stays in
/// software: the C3 has no ECC unit), and the TRNG is its random source.
fn start_tls(
    sha: esp_hal::peripherals::SHA<'static>,
    rsa: esp_hal::peripherals::RSA<'static>,
    aes: esp_hal::peripherals::AES<'static>,
    trng: Trng,
) -> MbedTls {
    // The accelerators' work queues are serviced for the rest of the program: the backends and
    // their running drivers are never dropped.
    let accel: &'static mut EspAccel<'static> =
        Box::leak(Box::new(EspAccel::new().with_sha(sha).with_rsa(rsa).with_aes(aes)));
    let queues = Box::leak(Box::new(accel.start()));
    // SAFETY: `hook` routes MbedTLS's SHA, AES and exp-mod to the work queues `queues` services.
    // Its contract: (1) call it before any MbedTLS function uses those algorithms — no MbedTLS
    // state exists yet (MbedTls::new below only stores the RNG; sessions, DRBGs and PSA are
    // created later, per connection); (2) the queues must be serviced as long as MbedTLS may
    // call them — `queues` is leaked, so forever; (3) the returned guard must not be dropped
    // while state created under the hooks lives — it is forgotten, so the hooks stay for good.
    #[allow(unsafe_code)]
    let hooks = unsafe { queues.hook() };
    core::mem::forget(hooks);
    let rng: &'static mut Trng = Box::leak(Box::new(trng));
    match MbedTls::new(rng) {
        Ok(tls) => tls,
        // Unreachable: this is the only place MbedTLS is started.
        Err(e) => panic!("MbedTLS: {e}"),
    }
}
