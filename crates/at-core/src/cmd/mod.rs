//! The built-in command table.

pub(crate) mod basic;
pub(crate) mod mfg;
pub(crate) mod sntp;
pub(crate) mod tcpip;
pub(crate) mod wifi;

use at_parser::{Call, CommandDef, Outcome, ok};

use crate::core::Core;
use at_hal::Platform;

/// What AT+CMD? needs to know about a command row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CmdInfo {
    /// Name without `AT`.
    pub name: &'static str,
    /// Which forms exist: test, query, set, exec.
    pub forms: [bool; 4],
}

impl CmdInfo {
    /// The listing entry of a table row.
    pub fn of<C>(d: &CommandDef<C>) -> Self {
        CmdInfo {
            name: d.name,
            forms: [d.test.is_some(), d.query.is_some(), d.set.is_some(), d.exec.is_some()],
        }
    }
}

fn cmd_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Outcome<Core<P>> {
    let builtin = Core::<P>::COMMANDS.iter().map(CmdInfo::of);
    let custom = c.custom_cmds.iter().copied();
    // A custom row overriding a built-in one is listed once, as the custom one.
    let all = builtin.filter(|b| !c.custom_cmds.iter().any(|x| x.name == b.name)).chain(custom);
    for (i, info) in all.enumerate() {
        let [t, q, s, e] = info.forms.map(u8::from);
        call.line(format_args!("+CMD:{i},\"AT{}\",{t},{q},{s},{e}", info.name));
    }
    ok()
}

macro_rules! row {
    ($name:literal $(, $form:ident = $f:path)* $(,)?) => {
        CommandDef { $($form: Some($f),)* ..CommandDef::named($name) }
    };
}

impl<P: Platform> Core<P> {
    /// Every built-in command, in AT+CMD? order.
    pub const COMMANDS: &'static [CommandDef<Core<P>>] = &[
        row!("", exec = basic::at::<P>),
        row!("E0", exec = basic::echo_off::<P>),
        row!("E1", exec = basic::echo_on::<P>),
        row!("+RST", set = basic::rst_set::<P>, exec = basic::rst::<P>),
        row!("+GMR", exec = basic::gmr::<P>),
        row!("+CMD", query = cmd_query::<P>),
        row!("+RESTORE", exec = basic::restore::<P>),
        row!("+UART_CUR", query = basic::uart_cur_query::<P>, set = basic::uart_cur_set::<P>),
        row!("+UART_DEF", query = basic::uart_def_query::<P>, set = basic::uart_def_set::<P>),
        row!("+UART", query = basic::uart_query::<P>, set = basic::uart_def_set::<P>),
        row!("+SYSRAM", query = basic::sysram_query::<P>, set = basic::sysram_set::<P>),
        row!("+SYSMSG", query = basic::sysmsg_query::<P>, set = basic::sysmsg_set::<P>),
        row!("+SYSLOG", query = basic::syslog_query::<P>, set = basic::syslog_set::<P>),
        row!("+SYSSTORE", query = basic::sysstore_query::<P>, set = basic::sysstore_set::<P>),
        row!("+CWMODE", query = wifi::mode_query::<P>, set = wifi::mode_set::<P>),
        row!("+CWSTATE", query = wifi::state_query::<P>),
        row!("+CWJAP", query = wifi::jap_query::<P>, set = wifi::jap_set::<P>, exec = wifi::jap_exec::<P>),
        row!("+CWRECONNCFG", query = wifi::reconncfg_query::<P>, set = wifi::reconncfg_set::<P>),
        row!("+CWLAPOPT", set = wifi::lapopt_set::<P>),
        row!("+CWLAP", set = wifi::lap_set::<P>, exec = wifi::lap_exec::<P>),
        row!("+CWQAP", exec = wifi::qap::<P>),
        row!("+CWDHCP", query = wifi::dhcp_query::<P>, set = wifi::dhcp_set::<P>),
        row!("+CWAUTOCONN", query = wifi::autoconn_query::<P>, set = wifi::autoconn_set::<P>),
        row!("+CIPSTAMAC", query = wifi::stamac_query::<P>, set = wifi::stamac_set::<P>),
        row!("+CIPSTA", query = wifi::cipsta_query::<P>, set = wifi::cipsta_set::<P>),
        row!("+CWHOSTNAME", query = wifi::hostname_query::<P>, set = wifi::hostname_set::<P>),
        row!("+CIFSR", exec = wifi::cifsr::<P>),
        row!("+CIPSNTPCFG", query = sntp::cfg_query::<P>, set = sntp::cfg_set::<P>),
        row!("+CIPSNTPTIME", query = sntp::time_query::<P>),
        row!("+CIPSNTPINTV", query = sntp::intv_query::<P>, set = sntp::intv_set::<P>),
        row!("+CIPMUX", query = tcpip::conn::cipmux_query::<P>, set = tcpip::conn::cipmux_set::<P>),
        row!("+CIPSTART", set = tcpip::conn::cipstart_set::<P>),
        row!("+CIPSTARTEX", set = tcpip::conn::cipstartex_set::<P>),
        row!("+CIPCLOSE", set = tcpip::conn::cipclose_set::<P>, exec = tcpip::conn::cipclose_exec::<P>),
        row!("+CIPSTATE", query = tcpip::conn::cipstate_query::<P>),
        row!("+CIPSTATUS", exec = tcpip::conn::cipstatus_exec::<P>),
        row!("+CIPSERVER", query = tcpip::conn::cipserver_query::<P>, set = tcpip::conn::cipserver_set::<P>),
        row!(
            "+CIPSERVERMAXCONN",
            query = tcpip::conn::maxconn_query::<P>,
            set = tcpip::conn::maxconn_set::<P>
        ),
        row!("+CIPSTO", query = tcpip::conn::cipsto_query::<P>, set = tcpip::conn::cipsto_set::<P>),
        row!("+CIPMODE", query = tcpip::conn::cipmode_query::<P>, set = tcpip::conn::cipmode_set::<P>),
        row!("+CIPDINFO", query = tcpip::conn::cipdinfo_query::<P>, set = tcpip::conn::cipdinfo_set::<P>),
        row!("+CIPTCPOPT", query = tcpip::conn::tcpopt_query::<P>, set = tcpip::conn::tcpopt_set::<P>),
        row!("+CIPSEND", set = tcpip::send::cipsend_set::<P>, exec = tcpip::send::cipsend_exec::<P>),
        row!("+CIPSENDEX", set = tcpip::send::cipsendex_set::<P>),
        row!("+CIPSENDL", set = tcpip::send::cipsendl_set::<P>),
        row!("+CIPSENDLCFG", query = tcpip::send::sendlcfg_query::<P>, set = tcpip::send::sendlcfg_set::<P>),
        row!("+CIPRECVTYPE", query = tcpip::recv::recvtype_query::<P>, set = tcpip::recv::recvtype_set::<P>),
        row!("+CIPRECVMODE", query = tcpip::recv::recvmode_query::<P>, set = tcpip::recv::recvmode_set::<P>),
        row!("+CIPRECVDATA", set = tcpip::recv::recvdata_set::<P>),
        row!("+CIPRECVLEN", query = tcpip::recv::recvlen_query::<P>),
        row!(
            "+TRANSINTVL",
            query = tcpip::util::transintvl_query::<P>,
            set = tcpip::util::transintvl_set::<P>
        ),
        row!("+SAVETRANSLINK", set = tcpip::util::savetranslink_set::<P>),
        row!(
            "+CIPRECONNINTV",
            query = tcpip::util::reconnintv_query::<P>,
            set = tcpip::util::reconnintv_set::<P>
        ),
        row!("+CIPDOMAIN", set = tcpip::util::cipdomain_set::<P>),
        row!("+CIPDNS", query = tcpip::util::cipdns_query::<P>, set = tcpip::util::cipdns_set::<P>),
        row!("+PING", set = tcpip::util::ping_set::<P>),
        row!("+CIPSSLCCONF", query = tcpip::ssl::cconf_query::<P>, set = tcpip::ssl::cconf_set::<P>),
        row!("+CIPSSLCSNI", query = tcpip::ssl::sni_query::<P>, set = tcpip::ssl::sni_set::<P>),
        row!("+CIPSSLCCN", query = tcpip::ssl::cn_query::<P>, set = tcpip::ssl::cn_set::<P>),
        row!("+CIPSSLCALPN", query = tcpip::ssl::alpn_query::<P>, set = tcpip::ssl::alpn_set::<P>),
        row!("+CIPSSLCCIPHER", query = tcpip::ssl::cipher_query::<P>, set = tcpip::ssl::cipher_set::<P>),
        row!("+CIPSSLCPSK", query = tcpip::ssl::psk_query::<P>, set = tcpip::ssl::psk_set::<P>),
        row!("+CIPSSLCPSKHEX", query = tcpip::ssl::psk_query::<P>, set = tcpip::ssl::psk_set::<P>),
        row!("+SYSMFG", query = mfg::sysmfg_query::<P>, set = mfg::sysmfg_set::<P>),
        row!("+SYSFLASH", query = mfg::sysflash_query::<P>, set = mfg::sysflash_set::<P>),
    ];
}
