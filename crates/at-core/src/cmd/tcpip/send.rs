//! Sending: AT+CIPSEND, AT+CIPSENDEX, AT+CIPSENDL, AT+CIPSENDLCFG and passthrough
//! (AT+CIPMODE=1 then AT+CIPSEND).
//!
//! Every send is a data phase whose room is the link's send buffer: the UART is read no
//! faster than the socket takes the bytes (passthrough and AT+CIPSENDL stream without bound
//! this way). A link that is gone takes everything (so `+++` still gets through) and the
//! send ends in `SEND FAIL`.

use alloc::vec::Vec;
use core::time::Duration;

use at_hal::Platform;
use at_hal::net::{IpAddr, SocketAddr, parse_ipv4};
use at_hal::time::Instant;
use at_links::{MAX_SEND, Proto};
use at_parser::{
    Args, AtError, Call, DataEvent, DataFlow, DataLen, DataPhase, Outcome, Reply, ResultCode, ok,
};

use super::util::{link_arg, refuse};
use super::{Passthrough, Phase};
use crate::core::Core;
use crate::urc::{self, Message};

type Out<P> = Outcome<Core<P>>;

/// Which command is sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Send,
    SendEx,
    SendL,
}

/// An AT+CIPSEND* in progress.
#[derive(Debug)]
pub(crate) struct SendJob {
    id: u8,
    kind: Kind,
    /// Declared length.
    len: usize,
    /// Payload bytes taken so far (for CIPSENDEX, after escapes).
    got: usize,
    /// Payload bytes the link did not take (it was gone).
    lost: usize,
    /// UDP: the datagram being assembled, and where it goes.
    datagram: Option<Vec<u8>>,
    to: Option<SocketAddr>,
    /// CIPSENDEX: the last byte was a backslash.
    escape: bool,
    /// The link it sends on ([`at_links::Link::serial`]): a later link that reuses the id
    /// gets none of these bytes, and the send fails (ESP-AT: "link is changed").
    serial: u32,
    /// AT+CIPTCPOPT's SO_SNDTIMEO: `SEND FAIL` when the socket took nothing for this long
    /// after the payload was in.
    timeout: Option<Duration>,
    /// When the socket last took bytes of this send (or the payload completed), and the
    /// link's sent counter then.
    progress_at: Instant,
    progress_sent: u64,
    /// CIPSENDL: the link's sent counter at the start, and the next progress report.
    sent_base: u64,
    next_report: u64,
}

fn sending<P: Platform>(c: &Core<P>) -> Option<&SendJob> {
    c.st.tcpip.send.as_ref()
}

/// Whether the job's link is still the one it started on.
fn same_link(links: &at_links::Links, job: &SendJob) -> bool {
    links.get(job.id).is_some_and(|l| l.serial() == job.serial)
}

// Every byte a data phase is given must be taken: the link keeps room for the pluses the AT
// port lets through a full buffer.
const _: () = assert!(at_links::SEND_SLACK >= at_parser::ESCAPE_SLACK);

/// Room of the running send: the link's send buffer, or everything for a link that is gone
/// (its bytes are counted as lost, and the send fails).
fn room<P: Platform>(c: &mut Core<P>) -> usize {
    let Some(job) = sending(c) else { return usize::MAX };
    let links = &c.st.tcpip.links;
    match links.get(job.id) {
        Some(l) if same_link(links, job) && l.is_open() && l.proto() != Proto::Udp => {
            match links.send_room(job.id) {
                0 if links.sent(job.id).is_err() => usize::MAX,
                n => n,
            }
        }
        _ => usize::MAX,
    }
}

pub(crate) fn cipsend_set<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    start(c, call, a, Kind::Send)
}

pub(crate) fn cipsendex_set<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    start(c, call, a, Kind::SendEx)
}

pub(crate) fn cipsendl_set<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    start(c, call, a, Kind::SendL)
}

fn start<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>, a: &Args<'_>, kind: Kind) -> Out<P> {
    let t = &c.st.tcpip;
    if t.mode != 0 {
        return Err(refuse("AT+CIPSEND=<len> needs AT+CIPMODE=0"));
    }
    let (id, o) = link_arg(t, a, false)?;
    let max = if kind == Kind::SendL { i64::from(i32::MAX) } else { MAX_SEND as i64 };
    let len = a.int_in(o, 1..=max)? as usize;
    let link = t.links.get(id).filter(|l| l.is_open()).ok_or(refuse("the link is not connected"))?;
    let udp = link.proto() == Proto::Udp;
    let mut to = None;
    if a.len() > o + 1 {
        if !udp {
            return Err(AtError::count(o + 1, a.len(), "host and port are for UDP links only"));
        }
        a.expect_count(o + 3, o + 3)?;
        let host = a.str(o + 1)?;
        let port = a.int_in(o + 2, 1..=65_535)? as u16;
        if !host.is_empty() {
            let ip = parse_ipv4(host).ok_or(refuse("AT+CIPSEND takes a numeric IPv4 host"))?;
            to = Some(SocketAddr::new(IpAddr::V4(ip), port));
        }
    }
    if kind == Kind::SendL && udp {
        return Err(refuse("AT+CIPSENDL is for TCP links"));
    }
    let timeout_ms = c.st.tcpip.links.config(id).map(|c| c.tcp.send_timeout_ms).unwrap_or(0);
    let sent_base = c.st.tcpip.links.sent_total(id);
    let serial = link.serial();
    c.st.tcpip.send = Some(SendJob {
        id,
        kind,
        len,
        got: 0,
        lost: 0,
        datagram: udp.then(|| Vec::with_capacity(len.min(MAX_SEND))),
        to,
        escape: false,
        serial,
        timeout: (timeout_ms > 0).then(|| Duration::from_millis(u64::from(timeout_ms))),
        progress_at: call.now(),
        progress_sent: sent_base,
        sent_base,
        next_report: u64::from(c.st.tcpip.sendl_report),
    });
    let phase = DataPhase {
        // CIPSENDEX counts bytes after escapes, so it ends itself.
        len: if kind == Kind::SendEx { DataLen::Unbounded } else { DataLen::Exact(len) },
        prompt: ResultCode::OkAndInputPrompt.bytes(),
        handler: send_data::<P>,
        room: if udp { None } else { Some(room::<P>) },
        // Bytes past the length: dropped with `busy p...` (CIPSENDL too, as ESP-AT).
        discard_surplus: true,
    };
    Ok(Reply::Data(phase))
}

/// Take payload bytes (CIPSENDEX: unescape; `\0` ends). Returns bytes of `input` used and
/// whether the payload is complete.
fn take<P: Platform>(c: &mut Core<P>, input: &[u8], now: Instant) -> (usize, bool) {
    let Some(job) = c.st.tcpip.send.as_mut() else { return (input.len(), true) };
    let links = &mut c.st.tcpip.links;
    let mut put = |job: &mut SendJob, bytes: &[u8]| {
        if let Some(d) = &mut job.datagram {
            d.extend_from_slice(bytes);
        } else {
            let n = if same_link(links, job) { links.queue(job.id, bytes, now) } else { 0 };
            job.lost += bytes.len() - n;
        }
        job.got += bytes.len();
    };
    if job.kind != Kind::SendEx {
        put(job, input);
        return (input.len(), job.got >= job.len);
    }
    let mut used = 0;
    let mut run_start = 0;
    while used < input.len() && job.got + (used - run_start) < job.len {
        let b = input[used];
        if job.escape {
            job.escape = false;
            used += 1;
            if b == b'0' {
                // `\0` ends the payload; it is not sent.
                return (used, true);
            }
            put(job, &[b]);
            run_start = used;
            continue;
        }
        if b == b'\\' {
            put(job, &input[run_start..used]);
            job.escape = true;
            used += 1;
            run_start = used;
            continue;
        }
        used += 1;
    }
    put(job, &input[run_start..used]);
    (used, job.got >= job.len)
}

fn send_data<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>, ev: DataEvent<'_>) -> DataFlow<Core<P>> {
    let kind = sending(c).map_or(Kind::Send, |j| j.kind);
    match ev {
        DataEvent::Bytes(b) => {
            let (used, done) = take(c, b, call.now());
            if kind == Kind::SendL {
                sendl_progress(c, call);
            }
            if done && kind == Kind::SendEx {
                return DataFlow::Finish { used, outcome: finish(c, call) };
            }
            DataFlow::Continue
        }
        DataEvent::Complete => DataFlow::done(finish(c, call)),
        DataEvent::Escaped => {
            let job = c.st.tcpip.send.take();
            log::info!("AT+CIPSEND cancelled with +++ after {} bytes", job.map_or(0, |j| j.got));
            call.write(if kind == Kind::SendL {
                b"\r\nSEND CANCELLED\r\n"
            } else {
                b"\r\nSEND Canceled\r\n"
            });
            DataFlow::done(Ok(Reply::Done(ResultCode::Ignore)))
        }
    }
}

/// All payload bytes are in: `Recv <n> bytes` (not for CIPSENDL), then wait for the socket.
fn finish<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    let Some(job) = c.st.tcpip.send.as_mut() else { return Ok(Reply::Done(ResultCode::SendFail)) };
    if job.kind != Kind::SendL {
        call.write(alloc::format!("\r\nRecv {} bytes\r\n", job.got).as_bytes());
    }
    job.progress_at = call.now();
    if let Some(d) = job.datagram.take() {
        let (id, to, serial) = (job.id, job.to, job.serial);
        c.st.tcpip.send = None;
        let links = &mut c.st.tcpip.links;
        if links.get(id).is_none_or(|l| l.serial() != serial) {
            return Ok(Reply::Done(ResultCode::SendFail));
        }
        let r = links.send_datagram(c.platform.net(), id, &d, to);
        return Ok(Reply::Done(if r.is_ok() { ResultCode::SendOk } else { ResultCode::SendFail }));
    }
    Ok(Reply::Pending(send_poll::<P>))
}

fn sendl_progress<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) {
    let report = u64::from(c.st.tcpip.sendl_report);
    let Some(job) = c.st.tcpip.send.as_mut() else { return };
    let sent = c.st.tcpip.links.sent_total(job.id).wrapping_sub(job.sent_base);
    while sent >= job.next_report {
        call.line(format_args!("+CIPSENDL:{},{}", job.next_report, job.got));
        job.next_report += report;
    }
}

fn send_poll<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Option<Out<P>> {
    let now = call.now();
    let links = &c.st.tcpip.links;
    let job = c.st.tcpip.send.as_mut()?;
    let (id, kind, lost) = (job.id, job.kind, job.lost);
    let sent_now = links.sent_total(id);
    if sent_now != job.progress_sent {
        job.progress_sent = sent_now;
        job.progress_at = now;
    }
    let stalled = job.timeout.is_some_and(|t| now.saturating_since(job.progress_at) >= t);
    let state = if same_link(links, job) { links.sent(id) } else { Err(at_links::LinkError::NoLink) };
    let result = match state {
        Ok(false) if !stalled => {
            if kind == Kind::SendL {
                sendl_progress(c, call);
            }
            return None;
        }
        Ok(true) if lost == 0 => ResultCode::SendOk,
        _ => ResultCode::SendFail,
    };
    if result == ResultCode::SendFail && same_link(&c.st.tcpip.links, c.st.tcpip.send.as_ref()?) {
        // What the socket never took is dropped: a host that retries must not have its bytes
        // sent twice.
        c.st.tcpip.links.discard_unsent(id);
    }
    if kind == Kind::SendL {
        sendl_progress(c, call);
        if let Some(job) = c.st.tcpip.send.as_ref() {
            let sent = c.st.tcpip.links.sent_total(id).wrapping_sub(job.sent_base);
            if sent % u64::from(c.st.tcpip.sendl_report) != 0 || result == ResultCode::SendFail {
                call.line(format_args!("+CIPSENDL:{},{}", sent, job.got));
            }
        }
    }
    c.st.tcpip.send = None;
    Some(Ok(Reply::Done(result)))
}

// ---- AT+CIPSENDLCFG ----

pub(crate) fn sendlcfg_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    call.line(format_args!("+CIPSENDLCFG:{},{}", c.st.tcpip.sendl_report, c.st.tcpip.sendl_transmit));
    ok()
}

/// `=<report size>[,<transmit size>]`; omitting the transmit size resets it to 2920 (firmware).
pub(crate) fn sendlcfg_set<P: Platform>(c: &mut Core<P>, _: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    a.expect_count(1, 2)?;
    let report = a.int_in(0, 100..=1_048_576)? as u32;
    let transmit = if a.len() == 2 { a.int_in(1, 100..=2920)? as u32 } else { 2920 };
    c.st.tcpip.sendl_report = report;
    c.st.tcpip.sendl_transmit = transmit;
    ok()
}

// ---- passthrough ----

/// `AT+CIPSEND` with AT+CIPMODE=1: raw bytes both ways until `+++`.
pub(crate) fn cipsend_exec<P: Platform>(c: &mut Core<P>, _: &mut Call<'_>) -> Out<P> {
    let t = &mut c.st.tcpip;
    if t.mode != 1 {
        return Err(refuse("passthrough needs AT+CIPMODE=1"));
    }
    if t.links.count() != 1 || !t.links.get(0).is_some_and(|l| l.is_open()) {
        return Err(refuse("passthrough needs exactly one open link, id 0"));
    }
    t.passthrough = Some(Passthrough { link: 0, reconnect_at: None });
    t.links.set_passthrough(Some((0, Duration::from_millis(u64::from(t.transintvl_ms)))));
    Ok(Reply::Data(passthrough_phase(ResultCode::OkAndInputPrompt.bytes())))
}

/// The passthrough data phase after `prompt`.
pub(crate) fn passthrough_phase<P: Platform>(prompt: &'static [u8]) -> Phase<P> {
    DataPhase {
        len: DataLen::Unbounded,
        prompt,
        handler: passthrough_data::<P>,
        room: Some(passthrough_room::<P>),
        discard_surplus: false,
    }
}

fn passthrough_room<P: Platform>(c: &mut Core<P>) -> usize {
    let t = &c.st.tcpip;
    let Some(p) = &t.passthrough else { return usize::MAX };
    match t.links.get(p.link) {
        // Down (reconnecting): take the bytes, so `+++` still gets through; they are lost.
        Some(l) if l.is_open() => t.links.send_room(p.link),
        _ => usize::MAX,
    }
}

fn passthrough_data<P: Platform>(
    c: &mut Core<P>,
    call: &mut Call<'_>,
    ev: DataEvent<'_>,
) -> DataFlow<Core<P>> {
    match ev {
        DataEvent::Bytes(b) => {
            let t = &mut c.st.tcpip;
            if let Some(p) = &t.passthrough {
                let n = t.links.queue(p.link, b, call.now());
                if n < b.len() {
                    log::warn!("passthrough: link {} is down, {} bytes dropped", p.link, b.len() - n);
                }
            }
            DataFlow::Continue
        }
        DataEvent::Complete | DataEvent::Escaped => {
            let t = &mut c.st.tcpip;
            // Leaving passthrough stops a reconnect in progress (ESP-AT stops its timer): a
            // link still connecting, or failed, is dropped without a message.
            if let Some(p) = t.passthrough.take()
                && t.links.get(p.link).is_some_and(|l| !l.is_open())
            {
                let _ = t.links.close(c.platform.net(), p.link);
            }
            t.links.set_passthrough(None);
            // No OK; `+QUITT` only with AT+SYSMSG bit 0.
            if c.st.settings.sysmsg & 1 != 0 {
                let _ = urc::format(&Message::Quitt, c.st.settings.sysmsg, call);
            }
            DataFlow::done(Ok(Reply::Done(ResultCode::Ignore)))
        }
    }
}
