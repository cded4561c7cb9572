//! Basic commands: AT, ATE0/ATE1, AT+GMR, AT+RST, AT+RESTORE, AT+CMD, AT+SYSLOG, AT+SYSMSG,
//! AT+SYSSTORE, AT+UART_CUR/_DEF, AT+SYSRAM.

use at_hal::uart::UartConfig;
use at_parser::{Args, AtError, Call, ExecFail, Outcome, ok};

use crate::core::Core;
use crate::settings::{Key, Settings, uart_config};
use at_hal::Platform;

type Out<P> = Outcome<Core<P>>;

/// Highest baud rate of the ESP32-C3 UART (`SOC_UART_BITRATE_MAX`).
pub const MAX_BAUD: i64 = 5_000_000;
/// Lowest baud rate ESP-AT accepts.
pub const MIN_BAUD: i64 = 80;

pub(crate) fn at<P: Platform>(_: &mut Core<P>, _: &mut Call<'_>) -> Out<P> {
    ok()
}

pub(crate) fn echo_off<P: Platform>(c: &mut Core<P>, _: &mut Call<'_>) -> Out<P> {
    c.st.basic.echo = false;
    ok()
}

pub(crate) fn echo_on<P: Platform>(c: &mut Core<P>, _: &mut Call<'_>) -> Out<P> {
    c.st.basic.echo = true;
    ok()
}

pub(crate) fn gmr<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    let i = &c.st.basic.info;
    call.line(format_args!(
        "AT version:{}({} - {} - {} {})",
        i.at_version, i.build_id, i.chip, i.compile_date, i.compile_time
    ));
    call.line(format_args!("SDK version:{}", i.sdk_version));
    call.line(format_args!("compile time({}):{} {}", i.build_id, i.compile_date, i.compile_time));
    call.line(format_args!("Bin version:{}({})", i.bin_version, i.module_name));
    ok()
}

pub(crate) fn rst<P: Platform>(c: &mut Core<P>, _: &mut Call<'_>) -> Out<P> {
    c.deferred.restart = true;
    ok()
}

pub(crate) fn rst_set<P: Platform>(c: &mut Core<P>, _: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    a.expect_count(1, 1)?;
    match a.int_in(0, 0..=1)? {
        0 => {
            c.deferred.restart = true;
            ok()
        }
        _ => Err(AtError::exec(ExecFail::NoDownloadMode)),
    }
}

pub(crate) fn restore<P: Platform>(c: &mut Core<P>, _: &mut Call<'_>) -> Out<P> {
    Settings::erase_all(c.platform.settings()).map_err(|e| {
        log::error!("AT+RESTORE: erasing settings failed: {e}");
        AtError::exec(ExecFail::SettingsErase)
    })?;
    c.deferred.restart = true;
    ok()
}

pub(crate) fn syslog_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    call.line(format_args!("+SYSLOG:{}", u8::from(c.st.basic.syslog)));
    ok()
}

pub(crate) fn syslog_set<P: Platform>(c: &mut Core<P>, _: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    a.expect_count(1, 1)?;
    c.st.basic.syslog = a.int_in(0, 0..=1)? == 1;
    ok()
}

/// ESP-AT prints this line without `\r\n` (no blank line before `OK`).
pub(crate) fn sysmsg_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    call.text(format_args!("+SYSMSG:{}", c.st.settings.sysmsg));
    ok()
}

pub(crate) fn sysmsg_set<P: Platform>(c: &mut Core<P>, _: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    a.expect_count(1, 1)?;
    c.st.settings.sysmsg = a.int_in(0, 0..=7)? as u8;
    c.persist(Key::SysMsg, false)?;
    ok()
}

pub(crate) fn sysstore_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    call.line(format_args!("+SYSSTORE:{}", u8::from(c.st.basic.sysstore)));
    ok()
}

pub(crate) fn sysstore_set<P: Platform>(c: &mut Core<P>, _: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    a.expect_count(1, 1)?;
    c.st.basic.sysstore = a.int_in(0, 0..=1)? == 1;
    ok()
}

fn write_uart(call: &mut Call<'_>, name: &str, u: &UartConfig) {
    call.line(format_args!(
        "+{name}:{},{},{},{},{}",
        u.baudrate, u.data_bits, u.stop_bits as u8, u.parity as u8, u.flow_control as u8
    ));
}

fn parse_uart(a: &Args<'_>) -> Result<UartConfig, AtError> {
    a.expect_count(5, 5)?;
    let baud = a.int_in(0, MIN_BAUD..=MAX_BAUD)? as u32;
    let data = a.int_in(1, 5..=8)? as u8;
    let stop = a.int_in(2, 1..=3)? as u8;
    let parity = a.int_in(3, 0..=2)? as u8;
    let flow = a.int_in(4, 0..=3)? as u8;
    uart_config(baud, data, stop, parity, flow).ok_or(AtError::invalid(0, "invalid UART setting"))
}

pub(crate) fn uart_cur_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    write_uart(call, "UART_CUR", &c.st.basic.uart_cur);
    ok()
}

pub(crate) fn uart_def_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    write_uart(call, "UART_DEF", &c.st.settings.uart_def);
    ok()
}

/// `AT+UART` is ESP-AT's alias of AT+UART_DEF; its query prints the current setting.
pub(crate) fn uart_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    write_uart(call, "UART", &c.st.basic.uart_cur);
    ok()
}

pub(crate) fn uart_cur_set<P: Platform>(c: &mut Core<P>, _: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    let cfg = parse_uart(a)?;
    c.st.basic.uart_cur = cfg;
    c.deferred.uart = Some(cfg);
    ok()
}

pub(crate) fn uart_def_set<P: Platform>(c: &mut Core<P>, _: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    let cfg = parse_uart(a)?;
    c.st.settings.uart_def = cfg;
    c.persist(Key::UartDef, true)?;
    c.st.basic.uart_cur = cfg;
    c.deferred.uart = Some(cfg);
    ok()
}

/// ESP-AT prints this line without `\r\n` (no blank line before `OK`).
pub(crate) fn sysram_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    let h = c.platform.system().heap();
    call.text(format_args!("+SYSRAM:{},{}", h.free, h.min_free));
    ok()
}

/// `AT+SYSRAM=<caps>`: ESP-AT takes 1..=0xFFFFF (omitted: `MALLOC_CAP_8BIT`, 0x1000) and
/// prints the line without `\r\n`.
pub(crate) fn sysram_set<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    a.expect_count(1, 1)?;
    // One heap on this platform: every capability mask describes it.
    a.int_or(0, 1..=0xF_FFFF, 0x1000)?;
    let h = c.platform.system().heap();
    call.text(format_args!("+SYSRAM:{},{},{},{}", h.largest_free_block, h.free, h.min_free, h.total));
    ok()
}
