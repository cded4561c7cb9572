//! SNTP commands: AT+CIPSNTPCFG, AT+CIPSNTPTIME, AT+CIPSNTPINTV.

use alloc::string::String;

use at_hal::net::{Network, SntpConfig};
use at_parser::{Args, AtError, Call, ExecFail, Outcome, ok};

use crate::core::Core;
use at_hal::Platform;

type Out<P> = Outcome<Core<P>>;

/// Longest SNTP server name ESP-AT takes (`at_setup_cmd_cipsntpcfg`: `strlen > 32` fails).
pub const MAX_SERVER_LEN: usize = 32;

/// ESP-AT's timezone parameter: whole hours in [-12,14], or `[+|-]hhmm` with hours in
/// [-12,14] and minutes ≤ 59. Returns minutes east of UTC. Never overflows: any `i64` is
/// either in range or rejected.
pub(crate) fn parse_timezone(v: i64) -> Option<i32> {
    if (-12..=14).contains(&v) {
        return Some(v as i32 * 60);
    }
    let abs = v.unsigned_abs();
    let (hh, mm) = (abs / 100, abs % 100);
    let hours_ok = if v < 0 { hh <= 12 } else { hh <= 14 };
    if mm > 59 || !hours_ok {
        return None;
    }
    let minutes = (hh * 60 + mm) as i32;
    Some(if v < 0 { -minutes } else { minutes })
}

/// `+CIPSNTPCFG:1,<tz>,"s1",...` when any server is set (ESP-AT derives the flag from the
/// server names), else `+CIPSNTPCFG:0,<tz>`. `<tz>` is the value as it was given.
pub(crate) fn cfg_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    let s = &c.st.sntp;
    let set: alloc::vec::Vec<&String> = s.servers.iter().filter(|n| !n.is_empty()).collect();
    if set.is_empty() {
        call.line(format_args!("+CIPSNTPCFG:0,{}", s.tz_display));
    } else {
        call.text(format_args!("+CIPSNTPCFG:1,{}", s.tz_display));
        for n in set {
            call.text(format_args!(",\"{n}\""));
        }
        call.write(b"\r\n");
    }
    ok()
}

/// `AT+CIPSNTPCFG=<enable>[,<timezone>][,"<server1>"[,"<server2>"[,"<server3>"]]]`, with the
/// firmware's rules: `=1` alone keeps the timezone; an omitted timezone or server (`,,`) is an
/// error; servers are non-empty, at most 32 bytes, and only allowed with enable 1.
pub(crate) fn cfg_set<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    a.expect_count(1, 5)?;
    let enable = a.int_in(0, 0..=1)? == 1;
    let tz = if a.len() >= 2 {
        let raw = a.int(1)?;
        let minutes =
            parse_timezone(raw).ok_or(AtError::invalid(1, "timezone must be [-12,14] or [+|-]hhmm"))?;
        // Displayed as given; the range check above bounds it to an i32.
        Some((minutes, i32::try_from(raw).unwrap_or_default()))
    } else {
        None
    };
    if !enable && a.len() > 2 {
        return Err(AtError::count(2, a.len(), "servers are only given with enable 1"));
    }
    let mut servers: [Option<String>; 3] = [None, None, None];
    for (i, slot) in servers.iter_mut().enumerate().take(a.len().saturating_sub(2)) {
        let name = a.str_len(2 + i, 1..=MAX_SERVER_LEN)?;
        let name =
            core::str::from_utf8(name).map_err(|_| AtError::invalid(2 + i, "server name is not UTF-8"))?;
        *slot = Some(String::from(name));
    }
    let names: [String; 3] = if !enable {
        Default::default()
    } else if servers.iter().any(Option::is_some) {
        servers.map(Option::unwrap_or_default)
    } else {
        crate::core::SNTP_DEFAULT_SERVERS.map(String::from)
    };
    {
        let cfg = SntpConfig {
            enabled: enable,
            servers: [names[0].as_str(), names[1].as_str(), names[2].as_str()],
            interval_s: c.st.sntp.interval_s,
        };
        c.platform.net().configure_sntp(&cfg, call.now()).map_err(|e| {
            log::warn!("SNTP: {e}");
            AtError::exec(ExecFail::Network).with_detail(format_args!("SNTP: {e}"))
        })?;
    }
    let s = &mut c.st.sntp;
    s.enabled = enable;
    s.servers = names;
    if let Some((minutes, display)) = tz {
        s.tz_minutes = minutes;
        s.tz_display = display;
    }
    ok()
}

/// `Tue Oct 19 17:47:56 2021` (C `asctime` without its newline).
pub(crate) fn asctime(unix: i64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(unix).ok()?;
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    Some(alloc::format!(
        "{} {}{:3} {:02}:{:02}:{:02} {}",
        DAYS[usize::from(t.weekday().number_days_from_monday())],
        MONTHS[usize::from(u8::from(t.month()) - 1)],
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.year()
    ))
}

/// ESP-AT prints this line without `\r\n` (asctime's newline is cut).
pub(crate) fn time_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    let unix = i64::try_from(c.unix_now(call.now())).unwrap_or(i64::MAX);
    let local = unix.saturating_add(i64::from(c.st.sntp.tz_minutes) * 60);
    let text = asctime(local).ok_or(AtError::exec(ExecFail::ClockRange))?;
    call.text(format_args!("+CIPSNTPTIME:{text}"));
    ok()
}

pub(crate) fn intv_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    call.line(format_args!("+CIPSNTPINTV:{}", c.st.sntp.interval_s));
    ok()
}

/// `AT+CIPSNTPINTV=<s>`: the new interval reaches the SNTP client at once (ESP-AT calls
/// `sntp_set_sync_interval`, firmware notes in docs/compat.md).
pub(crate) fn intv_set<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    a.expect_count(1, 1)?;
    let interval_s = a.int_in(0, 15..=4_294_967)? as u32;
    let s = &c.st.sntp;
    let cfg = SntpConfig {
        enabled: s.enabled,
        servers: [s.servers[0].as_str(), s.servers[1].as_str(), s.servers[2].as_str()],
        interval_s,
    };
    c.platform.net().configure_sntp(&cfg, call.now()).map_err(|e| {
        log::warn!("SNTP: {e}");
        AtError::exec(ExecFail::Network).with_detail(format_args!("SNTP: {e}"))
    })?;
    c.st.sntp.interval_s = interval_s;
    ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asctime_matches_c() {
        // 2021-10-19 17:47:56 UTC, the ESP-AT doc example.
        assert_eq!(asctime(1_634_665_676).unwrap(), "Tue Oct 19 17:47:56 2021");
        assert_eq!(asctime(0).unwrap(), "Thu Jan  1 00:00:00 1970");
    }

    #[test]
    fn timezones() {
        assert_eq!(parse_timezone(8), Some(480));
        assert_eq!(parse_timezone(-5), Some(-300));
        assert_eq!(parse_timezone(800), Some(480));
        assert_eq!(parse_timezone(-500), Some(-300));
        assert_eq!(parse_timezone(1245), Some(765));
        assert_eq!(parse_timezone(530), Some(330));
        assert_eq!(parse_timezone(15), Some(15));
        assert_eq!(parse_timezone(1500), None);
        assert_eq!(parse_timezone(-1300), None);
        assert_eq!(parse_timezone(160), None);
        assert_eq!(parse_timezone(60), None);
        // No overflow anywhere in the range of i64.
        for v in [i64::MIN, i64::MIN + 1, i64::MAX, -1_000_000_000_000, 4_294_967_296] {
            assert_eq!(parse_timezone(v), None);
        }
    }
}
