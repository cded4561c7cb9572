//! Receiving: AT+CIPRECVTYPE (and the legacy AT+CIPRECVMODE), AT+CIPRECVDATA, AT+CIPRECVLEN.
//! Active `+IPD` and passive notices are sent by the family's poll (mod.rs).

use at_hal::Platform;
use at_links::{MAX_LINKS, RecvMode};
use at_parser::{Args, Call, Outcome, ok};

use super::util::{link_arg, refuse};
use crate::core::Core;

type Out<P> = Outcome<Core<P>>;

fn mode_of(passive: bool) -> RecvMode {
    if passive { RecvMode::Passive } else { RecvMode::Active }
}

/// `+CIPRECVTYPE:<id>,<mode>,<report mode>` per link (the firmware prints the third field;
/// its docs do not).
pub(crate) fn recvtype_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    let t = &c.st.tcpip;
    let ids = if t.mux { 0..MAX_LINKS as u8 } else { 0..1 };
    for id in ids {
        let cfg = t.links.config(id).unwrap_or_default();
        call.line(format_args!(
            "+CIPRECVTYPE:{id},{},{}",
            u8::from(cfg.recv == RecvMode::Passive),
            u8::from(cfg.report_datagram)
        ));
    }
    ok()
}

/// `=[<id>,]<mode>[,<data_len_report_mode>]`: per link slot, for its future connections too.
/// Id 5 (all) sets both fields of every slot (the firmware loses the report mode there).
pub(crate) fn recvtype_set<P: Platform>(c: &mut Core<P>, _: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    let (id, o) = link_arg(&c.st.tcpip, a, true)?;
    a.expect_count(o + 1, o + 2)?;
    let passive = a.int_in(o, 0..=1)? == 1;
    let report = a.int_or(o + 1, 0..=1, 0)? == 1;
    let ids = if usize::from(id) == MAX_LINKS { 0..MAX_LINKS as u8 } else { id..id + 1 };
    let net = c.platform.net();
    for id in ids {
        let links = &mut c.st.tcpip.links;
        let mut cfg = links.config(id).map_err(super::link_error)?;
        cfg.recv = mode_of(passive);
        cfg.report_datagram = report;
        links.set_config(net, id, cfg).map_err(super::link_error)?;
    }
    ok()
}

pub(crate) fn recvmode_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    let cfg = c.st.tcpip.links.config(0).unwrap_or_default();
    call.line(format_args!("+CIPRECVMODE:{}", u8::from(cfg.recv == RecvMode::Passive)));
    ok()
}

/// Legacy `AT+CIPRECVMODE=<mode>`: every link slot.
pub(crate) fn recvmode_set<P: Platform>(c: &mut Core<P>, _: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    a.expect_count(1, 1)?;
    let passive = a.int_in(0, 0..=1)? == 1;
    let net = c.platform.net();
    for id in 0..MAX_LINKS as u8 {
        let links = &mut c.st.tcpip.links;
        let mut cfg = links.config(id).map_err(super::link_error)?;
        cfg.recv = mode_of(passive);
        links.set_config(net, id, cfg).map_err(super::link_error)?;
    }
    ok()
}

/// `AT+CIPRECVDATA=[<id>,]<len>[,<keep_datagram_integrity>]` →
/// `+CIPRECVDATA:<n>,[ "<ip>",<port>,]<data>` and `OK` (no line end after the data).
pub(crate) fn recvdata_set<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    let (id, o) = link_arg(&c.st.tcpip, a, false)?;
    a.expect_count(o + 1, o + 2)?;
    let max = a.int_in(o, 1..=i64::from(i32::MAX))? as usize;
    let whole = a.int_or(o + 1, 0..=1, 0)? == 1;
    let t = &mut c.st.tcpip;
    if t.links.config(id).map(|c| c.recv) != Ok(RecvMode::Passive) {
        return Err(refuse("the link is not in passive receive mode (AT+CIPRECVTYPE)"));
    }
    let Some((data, remote)) = t.links.peek_passive(id, max, whole) else {
        return Err(refuse("no data"));
    };
    let n = data.len();
    if t.dinfo {
        call.text(format_args!("+CIPRECVDATA:{n},\"{}\",{},", remote.ip(), remote.port()));
    } else {
        call.text(format_args!("+CIPRECVDATA:{n},"));
    }
    call.write(data);
    t.links.consume(id, n);
    ok()
}

/// `+CIPRECVLEN:<len>` (single link) or `+CIPRECVLEN:<l0>,...,<l4>` (0 for no link).
pub(crate) fn recvlen_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    let t = &c.st.tcpip;
    if t.mux {
        let l = |i: u8| t.links.passive_len(i);
        call.line(format_args!("+CIPRECVLEN:{},{},{},{},{}", l(0), l(1), l(2), l(3), l(4)));
    } else {
        call.line(format_args!("+CIPRECVLEN:{}", t.links.passive_len(0)));
    }
    ok()
}
