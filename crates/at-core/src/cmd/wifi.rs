//! Wi-Fi station commands: AT+CWMODE, AT+CWJAP, AT+CWQAP, AT+CWLAP, AT+CWLAPOPT, AT+CWSTATE,
//! AT+CWAUTOCONN, AT+CWRECONNCFG, AT+CWHOSTNAME, AT+CWDHCP, AT+CIPSTA, AT+CIPSTAMAC, AT+CIFSR.

use alloc::string::String;
use alloc::vec::Vec;

use at_hal::net::{IpConfig, Ipv4Addr, Network, parse_ipv4};
use at_hal::wifi::{ApInfo, MacAddr, ScanMode, ScanParams, Ssid, WifiMode, WifiStation};
use at_parser::{Args, AtError, Call, ErrorCode, ExecFail, Outcome, Reply, ok};
use core::time::Duration;

use crate::core::{Core, LapOpt, StaStatus};
use crate::settings::{Key, Passphrase, StationConfig};
use at_hal::Platform;

type Out<P> = Outcome<Core<P>>;

fn need_station<P: Platform>(c: &Core<P>) -> Result<(), AtError> {
    if c.st.settings.wifi_mode.has_station() { Ok(()) } else { Err(AtError::exec(ExecFail::StationOff)) }
}

fn wifi_err(e: at_hal::wifi::WifiError) -> AtError {
    log::warn!("wifi driver: {e}");
    AtError::exec(ExecFail::WifiDriver).with_detail(format_args!("{e}"))
}

fn net_err(e: at_hal::net::NetError) -> AtError {
    log::warn!("IP stack: {e}");
    AtError::exec(ExecFail::Network).with_detail(format_args!("{e}"))
}

pub(crate) fn mode_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    call.line(format_args!("+CWMODE:{}", c.st.settings.wifi_mode as u8));
    ok()
}

pub(crate) fn mode_set<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    a.expect_count(1, 2)?;
    // ESP-AT prints `ERR CODE:0x01070001` for a mode above 4 (index 1, sic); 4 fails quietly
    // in the Wi-Fi driver.
    let out_of_range = |e: AtError| {
        if e.code == ErrorCode::para_invalid(0) { e.printed_as(ErrorCode::para_invalid(1)) } else { e }
    };
    let mode = match a.int_in(0, 0..=4).map_err(out_of_range)? {
        0 => WifiMode::Off,
        1 => WifiMode::Station,
        2 => WifiMode::SoftAp,
        3 => WifiMode::StationAndSoftAp,
        _ => return Err(AtError::exec(ExecFail::WifiDriver).with_detail(format_args!("mode 4"))),
    };
    let auto_connect = a.int_or(1, 0..=1, 1)? == 1;
    if mode == c.st.settings.wifi_mode {
        return ok();
    }
    let had_station = c.st.settings.wifi_mode.has_station();
    c.platform.wifi().set_mode(mode).map_err(wifi_err)?;
    c.st.settings.wifi_mode = mode;
    if !mode.has_station() {
        c.st.wifi.sta.status = StaStatus::NotStarted;
        c.st.wifi.sta.join_deadline = None;
        c.st.wifi.sta.reconnect_at = None;
    }
    c.persist(Key::WifiMode, false)?;
    if mode.has_station() && !had_station && auto_connect && c.st.settings.station.is_some() {
        c.start_join(call.now());
    }
    ok()
}

fn quoted(call: &mut Call<'_>, bytes: &[u8]) {
    call.write(b"\"");
    call.write(bytes);
    call.write(b"\"");
}

/// `+CWJAP:"<ssid>","<bssid>",<channel>,<rssi>,<pci_en>,<reconn_interval>,<listen_interval>,
/// <scan_mode>,<pmf>` only while the station has an address; otherwise just `OK` (ESP-AT
/// v4.1.1.0 logs "No AP" on its log port, not the AT port).
pub(crate) fn jap_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    let ap = c.platform.wifi().connected_ap();
    let (Some(ap), Some(st), StaStatus::GotIp) = (ap, &c.st.settings.station, c.st.wifi.sta.status) else {
        log::info!("AT+CWJAP?: No AP");
        return ok();
    };
    call.write(b"+CWJAP:");
    quoted(call, ap.ssid.as_bytes());
    call.line(format_args!(
        ",\"{}\",{},{},{},{},{},{},{}",
        ap.bssid,
        ap.channel,
        ap.rssi,
        u8::from(st.pci_en),
        c.st.settings.reconn_interval_s,
        st.listen_interval,
        st.scan_mode as u8,
        st.pmf
    ));
    ok()
}

pub(crate) fn jap_set<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    need_station(c)?;
    a.expect_count(1, 9)?;
    let ssid = a.opt_str_len(0, 1..=32)?;
    // The password field is always read: `AT+CWJAP="ssid"` (one field) fails with
    // `0x01080001` as in ESP-AT; an open network is `AT+CWJAP="ssid",""` or `"ssid",`.
    if a.len() < 2 {
        return Err(AtError::new(
            ErrorCode::para_parse_fail(1),
            "password field missing (open network: \"\")",
        ));
    }
    let pwd = a.opt_str_len(1, 0..=64)?;
    let bssid = match a.opt_str(2)? {
        Some(b) => Some(
            MacAddr::parse(b)
                .ok_or(AtError::invalid(2, "bssid must be a MAC address like \"ca:d7:19:d8:a6:44\""))?,
        ),
        None => None,
    };
    let pci_en = a.int_or(3, 0..=1, 0)? == 1;
    let reconn = a.opt_int_in(4, 0..=7200)?;
    let listen = a.int_or(5, 1..=100, 3)? as u16;
    let scan_mode = if a.int_or(6, 0..=1, 0)? == 1 { ScanMode::AllChannels } else { ScanMode::Fast };
    let timeout = a.int_or(7, 3..=600, 15)? as u16;
    // ESP-AT's firmware writes 0 when <pmf> is omitted (its docs say 1).
    let pmf = a.int_or(8, 0..=3, 0)? as u8;
    let prev = c.st.settings.station.clone();
    let (ssid, password) = match (ssid, pwd, prev) {
        (None, None, Some(p)) => (p.ssid, p.password),
        (None, None, None) => return Err(AtError::exec(ExecFail::NoStoredAp)),
        (Some(s), p, _) => (
            Ssid::new(s).ok_or(AtError::invalid(0, "ssid too long"))?,
            Passphrase::new(p.unwrap_or_default()).ok_or(AtError::invalid(1, "password too long"))?,
        ),
        (None, Some(_), _) => return Err(AtError::invalid(0, "ssid omitted but password given")),
    };
    // ESP-AT's threshold: open for an empty password, WEP for any, WPA-PSK with <pci_en>=1.
    let min_auth = match (password.as_bytes().is_empty(), pci_en) {
        (true, _) => 0,
        (false, false) => 1,
        (false, true) => 2,
    };
    c.st.settings.station = Some(StationConfig {
        ssid,
        password,
        bssid,
        min_auth,
        pci_en,
        listen_interval: listen,
        scan_mode,
        pmf,
        jap_timeout_s: timeout,
    });
    // <reconn_interval> shares AT+CWRECONNCFG's interval; omitted means the default 1.
    c.st.settings.reconn_interval_s = reconn.unwrap_or(1) as u16;
    c.persist(Key::Station, false)?;
    c.persist(Key::Reconnect, false)?;
    // ESP-AT disconnects first, always (WIFI DISCONNECT follows if the station was up).
    let _ = c.platform.wifi().disconnect();
    start_and_wait(c, call, None)
}

/// ESP-AT's exec form waits a fixed 15 s, whatever `<jap_timeout>` was set.
const EXEC_JOIN_TIMEOUT: Duration = Duration::from_secs(15);

pub(crate) fn jap_exec<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    need_station(c)?;
    if c.st.wifi.sta.status == StaStatus::GotIp {
        return ok();
    }
    if c.st.settings.station.is_none() {
        return Err(AtError::exec(ExecFail::NoStoredAp));
    }
    start_and_wait(c, call, Some(EXEC_JOIN_TIMEOUT))
}

fn start_and_wait<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>, timeout: Option<Duration>) -> Out<P> {
    c.st.wifi.sta.reconnect_attempts = 0;
    if let Some(t) = timeout {
        c.st.wifi.sta.join_timeout = Some(t);
    }
    if !c.start_join(call.now()) {
        call.line(format_args!("+CWJAP:4"));
        return Err(AtError::exec(ExecFail::JoinFailed));
    }
    Ok(Reply::Pending(jap_poll::<P>))
}

fn jap_poll<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Option<Out<P>> {
    match c.st.wifi.sta.join_result.take()? {
        Ok(()) => Some(ok()),
        Err(e) => {
            // A failed AT+CWJAP does not keep retrying in the background.
            c.st.wifi.sta.reconnect_at = None;
            call.line(format_args!("+CWJAP:{}", e as u8));
            Some(Err(AtError::exec(match e {
                at_hal::wifi::JoinError::Timeout => ExecFail::JoinTimeout,
                at_hal::wifi::JoinError::WrongPassword => ExecFail::JoinWrongPassword,
                at_hal::wifi::JoinError::NoApFound => ExecFail::JoinNoAp,
                at_hal::wifi::JoinError::Failed => ExecFail::JoinFailed,
            })))
        }
    }
}

pub(crate) fn qap<P: Platform>(c: &mut Core<P>, _: &mut Call<'_>) -> Out<P> {
    c.st.wifi.sta.user_disconnect = true;
    c.st.wifi.sta.reconnect_at = None;
    c.st.wifi.sta.join_deadline = None;
    c.platform.wifi().disconnect().map_err(wifi_err)?;
    if c.st.wifi.sta.status == StaStatus::Connecting {
        c.st.wifi.sta.status = StaStatus::Disconnected;
    }
    ok()
}

pub(crate) fn state_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    call.write(alloc::format!("+CWSTATE:{},", c.st.wifi.sta.status as u8).as_bytes());
    let ssid = c.st.settings.station.as_ref().map(|s| s.ssid.as_bytes().to_vec()).unwrap_or_default();
    quoted(call, &ssid);
    call.write(b"\r\n");
    ok()
}

const SCAN_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn lap_exec<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    start_scan(c, call, &ScanParams::default())
}

pub(crate) fn lap_set<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    a.expect_count(1, 7)?;
    let ssid = a.opt_str_len(0, 0..=32)?.filter(|s| !s.is_empty());
    let bssid = match a.opt_str(1)? {
        Some(b) if !b.is_empty() => {
            Some(MacAddr::parse(b).ok_or(AtError::invalid(1, "invalid MAC address"))?)
        }
        _ => None,
    };
    let channel = a.opt_int_in(2, 0..=14)?.filter(|&ch| ch != 0).map(|ch| ch as u8);
    let passive = a.int_or(3, 0..=1, 0)? == 1;
    a.opt_int_in(4, 0..=1500)?;
    a.opt_int_in(5, 0..=1500)?;
    a.opt_int_in(6, 0..=0x3fff)?;
    start_scan(c, call, &ScanParams { ssid, bssid, channel, passive })
}

fn start_scan<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>, p: &ScanParams<'_>) -> Out<P> {
    need_station(c)?;
    c.st.wifi.sta.scan_done = false;
    c.platform.wifi().start_scan(p, call.now()).map_err(wifi_err)?;
    c.st.wifi.sta.scan_started = Some(call.now());
    Ok(Reply::Pending(lap_poll::<P>))
}

fn lap_poll<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Option<Out<P>> {
    if !c.st.wifi.sta.scan_done {
        let started = c.st.wifi.sta.scan_started?;
        if call.now().saturating_since(started) < SCAN_TIMEOUT {
            return None;
        }
        c.st.wifi.sta.scan_started = None;
        return Some(Err(AtError::exec(ExecFail::ScanTimeout)));
    }
    c.st.wifi.sta.scan_started = None;
    let opt = c.st.wifi.lapopt;
    let wifi = c.platform.wifi();
    let mut aps: Vec<ApInfo> = (0..64).map_while(|i| wifi.scan_result(i)).collect();
    aps.retain(|ap| ap.rssi >= opt.rssi_min && opt.auth_mask & (1 << (ap.auth as u8)) != 0);
    if opt.sort {
        aps.sort_by_key(|a| core::cmp::Reverse(a.rssi));
    }
    for ap in &aps {
        write_ap(call, ap, opt);
    }
    Some(ok())
}

fn write_ap(call: &mut Call<'_>, ap: &ApInfo, opt: LapOpt) {
    let mut fields: Vec<Vec<u8>> = Vec::new();
    let mut push = |bit: u16, v: Vec<u8>| {
        if opt.mask & (1 << bit) != 0 {
            fields.push(v);
        }
    };
    push(0, alloc::format!("{}", ap.auth as u8).into_bytes());
    push(1, [&b"\""[..], ap.ssid.as_bytes(), b"\""].concat());
    push(2, alloc::format!("{}", ap.rssi).into_bytes());
    push(3, alloc::format!("\"{}\"", ap.bssid).into_bytes());
    push(4, alloc::format!("{}", ap.channel).into_bytes());
    push(5, b"-1".to_vec());
    push(6, b"-1".to_vec());
    push(7, alloc::format!("{}", ap.pairwise_cipher).into_bytes());
    push(8, alloc::format!("{}", ap.group_cipher).into_bytes());
    push(9, alloc::format!("{}", ap.protocols).into_bytes());
    push(10, alloc::format!("{}", u8::from(ap.wps)).into_bytes());
    call.write(b"+CWLAP:(");
    call.write(&fields.join(&b","[..]));
    call.write(b")\r\n");
}

pub(crate) fn lapopt_set<P: Platform>(c: &mut Core<P>, _: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    a.expect_count(2, 4)?;
    let sort = a.int_or(0, 0..=1, 0)? == 1;
    let mask = a.int_in(1, 0..=0x7ff)? as u16;
    let rssi_min = a.int_or(2, -100..=40, -100)? as i8;
    let auth_mask = a.int_or(3, 0..=0xffff, 0xffff)? as u16;
    c.st.wifi.lapopt = LapOpt { sort, mask, rssi_min, auth_mask };
    ok()
}

/// ESP-AT prints this line without `\r\n`.
pub(crate) fn autoconn_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    call.text(format_args!("+CWAUTOCONN:{}", u8::from(c.st.settings.autoconn)));
    ok()
}

pub(crate) fn autoconn_set<P: Platform>(c: &mut Core<P>, _: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    a.expect_count(1, 1)?;
    c.st.settings.autoconn = a.int_in(0, 0..=1)? == 1;
    c.persist(Key::AutoConn, true)?;
    ok()
}

pub(crate) fn reconncfg_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    call.line(format_args!(
        "+CWRECONNCFG:{},{}",
        c.st.settings.reconn_interval_s, c.st.settings.reconn_count
    ));
    ok()
}

pub(crate) fn reconncfg_set<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    a.expect_count(2, 3)?;
    let interval = a.int_in(0, 0..=7200)? as u16;
    let count = a.int_in(1, 0..=1000)? as u16;
    let now_flag = a.int_or(2, 0..=1, 0)? == 1;
    c.st.settings.reconn_interval_s = interval;
    c.st.settings.reconn_count = count;
    c.persist(Key::Reconnect, false)?;
    if interval == 0 {
        c.st.wifi.sta.reconnect_at = None;
    }
    if now_flag && c.st.wifi.sta.status != StaStatus::GotIp && c.st.settings.wifi_mode.has_station() {
        c.st.wifi.sta.reconnect_attempts = 0;
        c.start_join(call.now());
    }
    ok()
}

pub(crate) fn hostname_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    call.line(format_args!("+CWHOSTNAME:{}", c.st.wifi.hostname));
    ok()
}

/// No station-mode check: ESP-AT's firmware has none (its docs say there is one).
pub(crate) fn hostname_set<P: Platform>(c: &mut Core<P>, _: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    a.expect_count(1, 1)?;
    let name = a.utf8(0, 1..=at_hal::net::MAX_HOSTNAME_LEN)?;
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.') {
        return Err(AtError::invalid(0, "hostname may hold letters, digits, '-', '_' and '.' only"));
    }
    c.platform.net().set_hostname(name).map_err(net_err)?;
    c.st.wifi.hostname = String::from(name);
    ok()
}

/// ESP-AT prints this line without `\r\n`.
pub(crate) fn dhcp_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    call.text(format_args!("+CWDHCP:{}", c.st.settings.dhcp));
    ok()
}

pub(crate) fn dhcp_set<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    a.expect_count(2, 2)?;
    let enable = a.int_in(0, 0..=1)? == 1;
    let mask = a.int_in(1, 1..=3)? as u8;
    let old = c.st.settings.dhcp;
    c.st.settings.dhcp = if enable { old | mask } else { old & !mask };
    if mask & 1 != 0 {
        if enable {
            c.st.settings.static_ip = None;
            c.platform.net().set_dhcp(true, call.now());
        } else {
            c.platform.net().set_dhcp(false, call.now());
        }
        c.persist(Key::StaticIp, false)?;
    }
    c.persist(Key::Dhcp, false)?;
    ok()
}

pub(crate) fn cipsta_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    let cfg = c.platform.net().ip_config().or(c.st.settings.static_ip).unwrap_or_default();
    call.line(format_args!("+CIPSTA:ip:\"{}\"", cfg.ip));
    call.line(format_args!("+CIPSTA:gateway:\"{}\"", cfg.gateway));
    call.line(format_args!("+CIPSTA:netmask:\"{}\"", cfg.netmask));
    ok()
}

pub(crate) fn cipsta_set<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    need_station(c)?;
    if a.len() == 2 {
        return Err(AtError::count(3, 2, "gateway and netmask go together"));
    }
    a.expect_count(1, 3)?;
    let parse = |i: usize| -> Result<Ipv4Addr, AtError> {
        parse_ipv4(a.str(i)?).ok_or(AtError::invalid(i, "not an IPv4 address"))
    };
    let ip = parse(0)?;
    let (gateway, netmask) = if a.len() == 3 {
        (parse(1)?, parse(2)?)
    } else {
        let [a, b, c, _] = ip.octets();
        (Ipv4Addr::new(a, b, c, 1), Ipv4Addr::new(255, 255, 255, 0))
    };
    let cfg = IpConfig { ip, gateway, netmask };
    c.platform.net().set_static_ip(cfg, call.now()).map_err(net_err)?;
    c.st.settings.static_ip = Some(cfg);
    c.st.settings.dhcp &= !1;
    c.persist(Key::StaticIp, false)?;
    c.persist(Key::Dhcp, false)?;
    ok()
}

pub(crate) fn stamac_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    call.line(format_args!("+CIPSTAMAC:\"{}\"", c.platform.wifi().mac()));
    ok()
}

pub(crate) fn stamac_set<P: Platform>(c: &mut Core<P>, _: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    need_station(c)?;
    a.expect_count(1, 1)?;
    let mac = MacAddr::parse(a.str(0)?).ok_or(AtError::invalid(0, "not a MAC address"))?;
    if mac.is_multicast() || mac.0 == [0; 6] || mac.0 == [0xff; 6] {
        return Err(AtError::invalid(0, "MAC address must be unicast and not all-0/all-1"));
    }
    c.platform.wifi().set_mac(mac).map_err(wifi_err)?;
    c.st.settings.sta_mac = Some(mac);
    c.persist(Key::StaMac, false)?;
    ok()
}

pub(crate) fn cifsr<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    let mode = c.st.settings.wifi_mode;
    let mac = c.platform.wifi().mac();
    if mode.has_softap() {
        // The SoftAP interface uses ESP-IDF's defaults: 192.168.4.1 and the next MAC.
        let mut ap = mac;
        ap.0[5] = ap.0[5].wrapping_add(1);
        call.line(format_args!("+CIFSR:APIP,\"192.168.4.1\""));
        call.line(format_args!("+CIFSR:APMAC,\"{ap}\""));
    }
    if mode.has_station() {
        let ip = c.platform.net().ip_config().map_or(Ipv4Addr::UNSPECIFIED, |c| c.ip);
        call.line(format_args!("+CIFSR:STAIP,\"{ip}\""));
        call.line(format_args!("+CIFSR:STAMAC,\"{mac}\""));
    }
    ok()
}
