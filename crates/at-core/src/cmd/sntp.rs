//! SNTP commands: AT+CIPSNTPCFG, AT+CIPSNTPTIME, AT+CIPSNTPINTV.

use alloc::string::String;

use at_hal::net::{Network, SntpConfig};
use at_parser::{Args, AtError, Call, ExecFail, Outcome, ok};

use crate::core::Core;
use at_hal::Platform;

type Out<P> = Outcome<Core<P>>;

/// ESP-AT's timezone parameter: whole hours in [-12,14], or `[+|-][hh]mm`.
/// Returns (minutes east of UTC, the value AT+CIPSNTPCFG? prints).
pub(crate) fn parse_timezone(v: i64) -> Option<(i32, i32)> {
    if (-12..=14).contains(&v) {
        return Some((v as i32 * 60, v as i32));
    }
    let (sign, abs) = if v < 0 { (-1, -v) } else { (1, v) };
    let (hh, mm) = (abs / 100, abs % 100);
    if mm > 59 || hh > 14 || (sign < 0 && hh > 12) {
        return None;
    }
    Some(((sign * (hh * 60 + mm)) as i32, (sign * hh) as i32))
}

pub(crate) fn cfg_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    let s = &c.st.sntp;
    call.line(format_args!(
        "+CIPSNTPCFG:{},{},\"{}\",\"{}\",\"{}\"",
        u8::from(s.enabled),
        s.tz_display,
        s.servers[0],
        s.servers[1],
        s.servers[2]
    ));
    ok()
}

pub(crate) fn cfg_set<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    a.expect_count(1, 5)?;
    let enable = a.int_in(0, 0..=1)? == 1;
    let tz = match a.opt_int(1)? {
        Some(v) => parse_timezone(v).ok_or(AtError::invalid(1, "timezone must be [-12,14] or [+|-]hhmm"))?,
        None => (0, 0),
    };
    let mut servers: [Option<String>; 3] = [None, None, None];
    for (i, slot) in servers.iter_mut().enumerate() {
        if let Some(s) = a.opt_str_len(2 + i, 1..=64)? {
            let s =
                core::str::from_utf8(s).map_err(|_| AtError::invalid(2 + i, "server name is not UTF-8"))?;
            *slot = Some(String::from(s));
        }
    }
    {
        let s = &c.st.sntp;
        let names = |i: usize| servers[i].as_deref().unwrap_or(s.servers[i].as_str());
        let cfg = SntpConfig { enabled: enable, servers: [names(0), names(1), names(2)], interval_s: s.interval_s };
        c.platform.net().configure_sntp(&cfg, call.now()).map_err(|e| {
            log::warn!("SNTP: {e}");
            AtError::exec(ExecFail::Network).with_detail(format_args!("SNTP: {e}"))
        })?;
    }
    c.st.sntp.enabled = enable;
    (c.st.sntp.tz_minutes, c.st.sntp.tz_display) = tz;
    if servers.iter().any(Option::is_some) {
        for (dst, src) in c.st.sntp.servers.iter_mut().zip(servers) {
            *dst = src.unwrap_or_default();
        }
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

pub(crate) fn time_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    let local = c.unix_now(call.now()) as i64 + i64::from(c.st.sntp.tz_minutes) * 60;
    let text = asctime(local).ok_or(AtError::exec(ExecFail::ClockRange))?;
    call.line(format_args!("+CIPSNTPTIME:{text}"));
    ok()
}

pub(crate) fn intv_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    call.line(format_args!("+CIPSNTPINTV:{}", c.st.sntp.interval_s));
    ok()
}

pub(crate) fn intv_set<P: Platform>(c: &mut Core<P>, _: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    a.expect_count(1, 1)?;
    c.st.sntp.interval_s = a.int_in(0, 15..=4_294_967)? as u32;
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
        assert_eq!(parse_timezone(8), Some((480, 8)));
        assert_eq!(parse_timezone(-5), Some((-300, -5)));
        assert_eq!(parse_timezone(800), Some((480, 8)));
        assert_eq!(parse_timezone(-500), Some((-300, -5)));
        assert_eq!(parse_timezone(1245), Some((765, 12)));
        assert_eq!(parse_timezone(530), Some((330, 5)));
        assert_eq!(parse_timezone(15), Some((15, 0)));
        assert_eq!(parse_timezone(1500), None);
        assert_eq!(parse_timezone(-1300), None);
        assert_eq!(parse_timezone(160), None);
    }
}
