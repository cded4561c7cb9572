//! Manufacturing data: AT+SYSMFG (key-value access to `mfg_nvs`) and AT+SYSFLASH (raw access
//! to the user partitions), plus reading `factory_param` at boot.
//!
//! When `mfg_nvs` cannot be read (flash-encrypted but read as plain, NVS keys missing, ...),
//! every operation answers `ERROR` with `ERR CODE:0x010a01xx` and the diagnosis and its remedy
//! as the reason — where ESP-AT printed a bare `ERROR` and carried on with `cert_len=0`.
//!
//! Bounded work: reads are streamed out as the transmit queue has room (one copy of a value,
//! zeroized afterwards; flash 256 bytes at a time), an erase does one 4 KiB sector per poll,
//! and a write takes at most [`crate::Capacities::mfg_write`] bytes.

use alloc::string::String;
use alloc::vec::Vec;

use at_hal::Platform;
use at_hal::kv::{EntryInfo, Kv, KvError, MAX_STR_LEN, Unreadable, Value, ValueType};
use at_hal::storage::{MfgStore, PartitionError, PartitionInfo};
use at_parser::{
    Args, AtError, Call, DataEvent, DataFlow, DataLen, DataPhase, ErrorCode, ExecFail, Outcome, Reply, ok,
};
use zeroize::Zeroizing;

use crate::core::Core;

type Out<P> = Outcome<Core<P>>;

/// Longest AT+SYSMFG string or binary value ESP-AT takes in one write.
pub const MAX_MFG_VALUE: usize = 8191;

/// Flash bytes read per poll while an AT+SYSFLASH read streams out.
const FLASH_CHUNK: usize = 256;
/// Sector size of AT+SYSFLASH erases.
const SECTOR: u32 = 4096;

/// ESP-AT's AT+SYSMFG `<type>` numbers (1..8); 9 and 10 are this firmware's extension for
/// NVS's 64-bit integers, which ESP-AT's table does not list.
pub fn sysmfg_type(t: ValueType) -> u8 {
    match t {
        ValueType::U8 => 1,
        ValueType::I8 => 2,
        ValueType::U16 => 3,
        ValueType::I16 => 4,
        ValueType::U32 => 5,
        ValueType::I32 => 6,
        ValueType::Str => 7,
        ValueType::Blob => 8,
        ValueType::U64 => 9,
        ValueType::I64 => 10,
    }
}

/// The error for an unreadable manufacturing partition: `ERR CODE:0x010a01xx` and the
/// diagnosis with its remedy.
pub fn unreadable_error(u: Unreadable) -> AtError {
    AtError::exec(match u {
        Unreadable::PartitionNotFound => ExecFail::MfgPartitionNotFound,
        Unreadable::SecondaryTableUnreadable => ExecFail::MfgTableUnreadable,
        Unreadable::FlashEncryptedReadAsPlain => ExecFail::MfgFlashEncrypted,
        Unreadable::NvsKeysMissing => ExecFail::MfgNvsKeysMissing,
        Unreadable::NvsKeysWrong => ExecFail::MfgNvsKeysWrong,
        Unreadable::NvsNewerVersion => ExecFail::MfgNvsNewer,
        Unreadable::Garbage => ExecFail::MfgGarbage,
    })
}

/// A key-value error about entry `what` (`namespace` or `namespace/key`).
fn kv_error(e: KvError, what: core::fmt::Arguments<'_>) -> AtError {
    let err = match e {
        KvError::Unreadable(u) => return unreadable_error(u),
        KvError::NotFound => AtError::exec(ExecFail::MfgNotFound),
        KvError::InvalidName => AtError::invalid(1, "namespace and key must be 1..=15 ASCII bytes"),
        // A length problem is a bare ERROR in ESP-AT (no ERR CODE line).
        KvError::ValueTooLong { .. } => AtError::quiet(ErrorCode::para_length(4), "value too long for NVS"),
        KvError::InvalidString => AtError::invalid(4, "a string value must not contain NUL"),
        KvError::BufferTooSmall { .. } => AtError::exec(ExecFail::MfgChanged),
        KvError::NoSpace => AtError::exec(ExecFail::MfgFull),
        KvError::ReadOnly => AtError::exec(ExecFail::MfgReadOnly),
        KvError::Corrupt => AtError::exec(ExecFail::MfgCorrupt),
        KvError::Authentication => AtError::exec(ExecFail::MfgAuthentication),
        KvError::Flash => AtError::exec(ExecFail::MfgFlash),
    };
    err.with_detail(what)
}

/// A user-partition error about partition `label`, with AT+SYSFLASH's codes: ESP-AT prints
/// `0x010a0000` not found, `0x010a0001` range or alignment, `0x010a0002` erase, `0x010a0003`
/// read or write (`at_setup_cmd_sysflash`, v4.1.1.0).
fn partition_error(e: PartitionError, label: &str, op: FlashOp) -> AtError {
    let err = match e {
        PartitionError::NotFound => AtError::exec(ExecFail::FlashPartitionNotFound),
        PartitionError::OutOfRange | PartitionError::Misaligned => AtError::exec(ExecFail::FlashRange),
        PartitionError::Unreadable(u) => unreadable_error(u),
        PartitionError::Unsupported => AtError::exec(ExecFail::PartitionsUnsupported),
        PartitionError::Flash if op == FlashOp::Erase => AtError::exec(ExecFail::FlashErase),
        PartitionError::Flash => AtError::exec(ExecFail::FlashIo),
    };
    err.with_detail(format_args!("partition {label}"))
}

/// Which AT+SYSFLASH operation failed (erase failures have their own code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FlashOp {
    Erase,
    Other,
}

fn ascii(a: &Args<'_>, i: usize) -> Result<String, AtError> {
    let s = a.str_len(i, 1..=15)?;
    if !s.iter().all(|c| c.is_ascii() && *c != 0) {
        return Err(AtError::invalid(i, "names are 1..=15 ASCII bytes"));
    }
    Ok(s.iter().map(|&c| char::from(c)).collect())
}

/// What AT+SYSMFG=2 is writing, while its bytes arrive (zeroized on drop: it may be a key).
#[derive(Debug)]
pub(crate) struct PendingWrite {
    namespace: String,
    key: String,
    string: bool,
    data: Zeroizing<Vec<u8>>,
}

/// A read being streamed out.
#[derive(Debug)]
pub(crate) enum MfgRead {
    /// An AT+SYSMFG value (held once, zeroized on drop), from `pos` to `end`.
    Value { data: Zeroizing<Vec<u8>>, pos: usize, end: usize },
    /// An AT+SYSFLASH range, read a chunk at a time.
    Flash { label: String, next: u32, end: u32 },
}

fn list_namespaces<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    let mut names: Vec<String> = Vec::new();
    c.platform
        .mfg()
        .for_each_namespace(&mut |ns| names.push(String::from(ns)))
        .map_err(|e| kv_error(e, format_args!("mfg_nvs")))?;
    for n in names {
        call.line(format_args!("+SYSMFG:\"{n}\""));
    }
    ok()
}

pub(crate) fn sysmfg_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    list_namespaces(c, call)
}

pub(crate) fn sysmfg_set<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    match a.int_in(0, 0..=2)? {
        0 => erase(c, call, a),
        1 => read(c, call, a),
        _ => write(c, call, a),
    }
}

fn erase<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    a.expect_count(2, 3)?;
    let ns = ascii(a, 1)?;
    let kv = c.platform.mfg();
    if a.is_omitted(2) {
        kv.erase_namespace(&ns).map_err(|e| kv_error(e, format_args!("{ns}")))?;
    } else {
        let key = ascii(a, 2)?;
        kv.erase(&ns, &key).map_err(|e| kv_error(e, format_args!("{ns}/{key}")))?;
    }
    c.ssl_credentials_changed(&ns, call.now());
    ok()
}

fn read<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    a.expect_count(1, 5)?;
    if a.is_omitted(1) {
        return list_namespaces(c, call);
    }
    let ns = ascii(a, 1)?;
    if a.is_omitted(2) {
        let mut keys: Vec<(String, EntryInfo)> = Vec::new();
        c.platform
            .mfg()
            .for_each_entry(&ns, &mut |k, i| keys.push((String::from(k), i)))
            .map_err(|e| kv_error(e, format_args!("{ns}")))?;
        if keys.is_empty() {
            return Err(AtError::exec(ExecFail::MfgNotFound).with_detail(format_args!("{ns}")));
        }
        for (k, i) in keys {
            call.line(format_args!("+SYSMFG:\"{ns}\",\"{k}\",{}", sysmfg_type(i.value_type)));
        }
        return ok();
    }
    let key = ascii(a, 2)?;
    let range = match (a.opt_int_in(3, 0..=i64::from(u32::MAX))?, a.opt_int_in(4, 0..=i64::from(u32::MAX))?) {
        (None, None) => None,
        (Some(o), Some(l)) => Some((o as usize, l as usize)),
        _ => return Err(AtError::count(5, a.len(), "offset and length go together")),
    };
    if at_certstore::holds_private_key(&ns, &key) && !c.options.allow_key_readback {
        return Err(AtError::exec(ExecFail::KeyReadRefused).with_detail(format_args!("{ns}/{key}")));
    }
    let what = |e| kv_error(e, format_args!("{ns}/{key}"));
    let kv = c.platform.mfg();
    let info = kv.info(&ns, &key).map_err(what)?;
    let mut buf = Zeroizing::new(alloc::vec![0u8; info.len]);
    let v = kv.get(&ns, &key, &mut buf).map_err(what)?;
    let t = sysmfg_type(v.value_type());
    if let Some(i) = v.as_integer() {
        // ESP-AT accepts offset and length 0,0 with an integer, nothing else.
        if range.is_some_and(|r| r != (0, 0)) {
            return Err(AtError::invalid(3, "offset/length apply to string and binary values only"));
        }
        let text = alloc::format!("{i}");
        call.line(format_args!("+SYSMFG:\"{ns}\",\"{key}\",{t},{},{text}", text.len()));
        return ok();
    }
    let len = v.len();
    let (pos, end) = match range {
        None => (0, len),
        // Length 0 means "the rest" (ESP-AT).
        Some((o, 0)) if o <= len => (o, len),
        Some((o, l)) if o.checked_add(l).is_some_and(|e| e <= len) => (o, o + l),
        Some(_) => return Err(AtError::invalid(3, "offset + length is past the end of the value")),
    };
    call.write(alloc::format!("+SYSMFG:\"{ns}\",\"{key}\",{t},{},", end - pos).as_bytes());
    c.st.mfg.read = Some(MfgRead::Value { data: buf, pos, end });
    Ok(Reply::Stream(stream_read::<P>))
}

/// Write the next piece of a streamed read; `Some` when it is complete.
fn stream_read<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Option<Out<P>> {
    let room = call.room();
    let result = match c.st.mfg.read.as_mut() {
        None => Some(Err(AtError::exec(ExecFail::MfgChanged))),
        Some(MfgRead::Value { data, pos, end }) => {
            let n = room.min(*end - *pos);
            call.write(&data[*pos..*pos + n]);
            *pos += n;
            (*pos == *end).then(ok)
        }
        Some(MfgRead::Flash { label, next, end }) => {
            if room < FLASH_CHUNK {
                return None;
            }
            let n = FLASH_CHUNK.min((*end - *next) as usize);
            let mut chunk = [0u8; FLASH_CHUNK];
            let label = label.clone();
            let at = *next;
            let r = with_partitions(c, &label, FlashOp::Other, |p| p.read(&label, at, &mut chunk[..n]));
            match r {
                Err(e) => Some(Err(e)),
                Ok(()) => {
                    call.write(&chunk[..n]);
                    match c.st.mfg.read.as_mut() {
                        Some(MfgRead::Flash { next, end, .. }) => {
                            *next += n as u32;
                            (*next == *end).then(ok)
                        }
                        _ => Some(ok()),
                    }
                }
            }
        }
    };
    if let Some(r) = &result {
        // An AT+SYSMFG value ends with `\r\n` (a blank line before OK); AT+SYSFLASH data does
        // not (`+SYSFLASH:<len>,<data>\r\nOK\r\n`), as in ESP-AT.
        if r.is_ok() && matches!(c.st.mfg.read, Some(MfgRead::Value { .. })) {
            call.write(b"\r\n");
        }
        c.st.mfg.read = None;
    }
    result
}

fn write<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    a.expect_count(5, 5)?;
    let ns = ascii(a, 1)?;
    let key = ascii(a, 2)?;
    let t = a.int_in(3, 1..=8)?;
    let int = |r: core::ops::RangeInclusive<i64>| a.int_in(4, r);
    let value = match t {
        1 => Value::U8(int(0..=0xff)? as u8),
        2 => Value::I8(int(-128..=127)? as i8),
        3 => Value::U16(int(0..=0xffff)? as u16),
        4 => Value::I16(int(-32768..=32767)? as i16),
        5 => Value::U32(int(0..=i64::from(u32::MAX))? as u32),
        6 => Value::I32(int(i64::from(i32::MIN)..=i64::from(i32::MAX))? as i32),
        _ => {
            // ESP-AT takes 1..=8191 bytes (`at_setup_cmd_sysmfg`); NVS strings stop earlier.
            let max = if t == 7 { MAX_STR_LEN } else { c.options.capacities.mfg_write.min(MAX_MFG_VALUE) };
            let len = a.int_in(4, 1..=max as i64)? as usize;
            // Fail now, not after the host has sent the bytes.
            if let Some(u) = c.platform.mfg().unreadable() {
                return Err(unreadable_error(u));
            }
            c.st.mfg.write = Some(PendingWrite {
                namespace: ns,
                key,
                string: t == 7,
                data: Zeroizing::new(Vec::with_capacity(len)),
            });
            return Ok(Reply::Data(DataPhase::exact(len, write_data::<P>)));
        }
    };
    c.platform.mfg().set(&ns, &key, value).map_err(|e| kv_error(e, format_args!("{ns}/{key}")))?;
    c.ssl_credentials_changed(&ns, call.now());
    ok()
}

fn write_data<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>, ev: DataEvent<'_>) -> DataFlow<Core<P>> {
    match ev {
        DataEvent::Bytes(b) => {
            if let Some(w) = c.st.mfg.write.as_mut() {
                w.data.extend_from_slice(b);
            }
            DataFlow::Continue
        }
        DataEvent::Escaped => {
            c.st.mfg.write = None;
            DataFlow::done(Err(
                AtError::exec(ExecFail::WriteCancelled).with_detail(format_args!("nothing stored"))
            ))
        }
        DataEvent::Complete => {
            let Some(w) = c.st.mfg.write.take() else {
                return DataFlow::done(Err(AtError::exec(ExecFail::MfgChanged)));
            };
            let value = if w.string { Value::Str(&w.data) } else { Value::Blob(&w.data) };
            let r = c.platform.mfg().set(&w.namespace, &w.key, value);
            if r.is_ok() {
                c.ssl_credentials_changed(&w.namespace, call.now());
            }
            DataFlow::done(
                r.map(|()| Reply::Done(at_parser::ResultCode::Ok))
                    .map_err(|e| kv_error(e, format_args!("{}/{}", w.namespace, w.key))),
            )
        }
    }
}

/// Read `factory_param` (ESP-AT's boot parameters) from `mfg_nvs`. Integer widths are taken
/// as found (ESP-AT's generator mixes `u8`, `i8` and `i32`).
pub(crate) fn factory_params<M: MfgStore>(mfg: &mut M) -> FactoryParams {
    let mut f = FactoryParams::default();
    if let Some(u) = mfg.unreadable() {
        log::error!("{}", unreadable_error(u).reason);
        f.unreadable = Some(u);
        return f;
    }
    let mut int = |key: &str| match mfg.get("factory_param", key, &mut []) {
        Ok(v) => v.as_integer(),
        Err(KvError::NotFound) => None,
        Err(e) => {
            log::warn!("factory_param/{key}: {e}");
            None
        }
    };
    f.uart_baudrate = int("uart_baudrate").and_then(|v| u32::try_from(v).ok());
    f.sys_store = int("sys_store").map(|v| v != 0);
    let mut name = [0u8; 32];
    match mfg.get("factory_param", "module_name", &mut name) {
        Ok(Value::Str(s)) => f.module_name = core::str::from_utf8(s).ok().map(String::from),
        Ok(_) | Err(KvError::NotFound) => {}
        Err(e) => log::warn!("factory_param/module_name: {e}"),
    }
    f
}

/// What `factory_param` provides.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct FactoryParams {
    pub module_name: Option<String>,
    pub uart_baudrate: Option<u32>,
    pub sys_store: Option<bool>,
    pub unreadable: Option<Unreadable>,
}

fn with_partitions<P: Platform, T>(
    c: &mut Core<P>,
    label: &str,
    op: FlashOp,
    f: impl FnOnce(&mut dyn at_hal::storage::UserPartitions) -> Result<T, PartitionError>,
) -> Result<T, AtError> {
    match c.platform.mfg().partitions() {
        Some(p) => f(p).map_err(|e| partition_error(e, label, op)),
        None => Err(partition_error(PartitionError::Unsupported, label, op)),
    }
}

fn find_partition<P: Platform>(c: &mut Core<P>, label: &str) -> Result<PartitionInfo, AtError> {
    let mut found = None;
    with_partitions(c, label, FlashOp::Other, |p| {
        p.for_each_partition(&mut |info| {
            if info.label() == label {
                found = Some(*info);
            }
        })
    })?;
    found.ok_or(partition_error(PartitionError::NotFound, label, FlashOp::Other))
}

pub(crate) fn sysflash_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    let mut parts = Vec::new();
    with_partitions(c, "table", FlashOp::Other, |p| p.for_each_partition(&mut |i| parts.push(*i)))?;
    for i in parts {
        call.line(format_args!(
            "+SYSFLASH:\"{}\",{},{},0x{:x},0x{:x}",
            i.label(),
            i.ptype,
            i.subtype,
            i.offset,
            i.size
        ));
    }
    ok()
}

/// What AT+SYSFLASH=1 is writing, while its bytes arrive.
#[derive(Debug)]
pub(crate) struct FlashWrite {
    label: String,
    next: u32,
    /// Bytes not yet written because they do not fill a 4-byte word (at most 3).
    carry: Vec<u8>,
}

pub(crate) fn sysflash_set<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    a.expect_count(2, 4)?;
    let op = a.int_in(0, 0..=2)?;
    let label = a.utf8(1, 1..=16)?;
    let part = find_partition(c, label)?;
    let off = a.opt_int_in(2, 0..=i64::from(part.size))?;
    let len = a.opt_int_in(3, 0..=i64::from(part.size))?;
    let out_of_range = |o: i64, l: i64| o + l > i64::from(part.size);
    match op {
        0 => {
            let (off, len) = match (off, len) {
                (None, None) => (0, part.size),
                (Some(o), Some(l)) if !out_of_range(o, l) => (o as u32, l as u32),
                (Some(_), Some(_)) => {
                    return Err(partition_error(PartitionError::OutOfRange, label, FlashOp::Erase));
                }
                _ => return Err(AtError::count(4, a.len(), "offset and length go together")),
            };
            if off % SECTOR != 0 || len % SECTOR != 0 {
                return Err(partition_error(PartitionError::Misaligned, label, FlashOp::Erase));
            }
            c.st.mfg.erase = Some((String::from(label), off, off + len));
            Ok(Reply::Pending(erase_step::<P>))
        }
        1 => {
            let (Some(off), Some(len)) = (off, len) else {
                return Err(AtError::count(4, a.len(), "write needs offset and length"));
            };
            if off % 4 != 0 {
                return Err(partition_error(PartitionError::Misaligned, label, FlashOp::Other));
            }
            // ESP-AT prints 0x010a0001 here but prompts anyway and fails after the data; this
            // firmware fails before the prompt (docs/compat.md).
            if out_of_range(off, len) {
                return Err(partition_error(PartitionError::OutOfRange, label, FlashOp::Other));
            }
            c.st.mfg.flash_write =
                Some(FlashWrite { label: String::from(label), next: off as u32, carry: Vec::new() });
            // ESP-AT prompts with a bare `>` here (no `OK` first).
            Ok(Reply::Data(DataPhase {
                len: DataLen::Exact(len as usize),
                prompt: b">",
                handler: flash_data::<P>,
                room: None,
                discard_surplus: false,
            }))
        }
        _ => {
            let (Some(off), Some(len)) = (off, len) else {
                return Err(AtError::count(4, a.len(), "read needs offset and length"));
            };
            if len as usize > c.options.capacities.flash_read {
                return Err(AtError::quiet(
                    ErrorCode::para_length(3),
                    "read length over the per-command limit",
                ));
            }
            if out_of_range(off, len) {
                return Err(partition_error(PartitionError::OutOfRange, label, FlashOp::Other));
            }
            call.write(alloc::format!("+SYSFLASH:{len},").as_bytes());
            c.st.mfg.read = Some(MfgRead::Flash {
                label: String::from(label),
                next: off as u32,
                end: (off + len) as u32,
            });
            Ok(Reply::Stream(stream_read::<P>))
        }
    }
}

/// Erase one sector per poll (a 4 KiB erase takes tens of milliseconds on the chip).
fn erase_step<P: Platform>(c: &mut Core<P>, _: &mut Call<'_>) -> Option<Out<P>> {
    let Some((label, next, end)) = c.st.mfg.erase.take() else { return Some(ok()) };
    if next >= end {
        return Some(ok());
    }
    if let Err(e) = with_partitions(c, &label, FlashOp::Erase, |p| p.erase(&label, next, SECTOR)) {
        return Some(Err(e));
    }
    c.st.mfg.erase = Some((label, next + SECTOR, end));
    None
}

fn flash_data<P: Platform>(c: &mut Core<P>, _: &mut Call<'_>, ev: DataEvent<'_>) -> DataFlow<Core<P>> {
    let Some(mut w) = c.st.mfg.flash_write.take() else {
        return DataFlow::Fail(AtError::exec(ExecFail::MfgChanged));
    };
    let label = w.label.clone();
    match ev {
        DataEvent::Bytes(b) => {
            // Whole words are written straight from the input; at most 3 bytes wait.
            let mut b = b;
            if !w.carry.is_empty() {
                let need = 4 - w.carry.len();
                let (head, rest) = b.split_at(need.min(b.len()));
                w.carry.extend_from_slice(head);
                b = rest;
                if w.carry.len() == 4 {
                    let word: [u8; 4] = [w.carry[0], w.carry[1], w.carry[2], w.carry[3]];
                    let at = w.next;
                    if let Err(e) = with_partitions(c, &label, FlashOp::Other, |p| p.write(&label, at, &word))
                    {
                        return DataFlow::Fail(e);
                    }
                    w.next += 4;
                    w.carry.clear();
                }
            }
            let whole = b.len() / 4 * 4;
            if whole > 0 {
                let at = w.next;
                if let Err(e) =
                    with_partitions(c, &label, FlashOp::Other, |p| p.write(&label, at, &b[..whole]))
                {
                    return DataFlow::Fail(e);
                }
                w.next += whole as u32;
            }
            w.carry.extend_from_slice(&b[whole..]);
            c.st.mfg.flash_write = Some(w);
            DataFlow::Continue
        }
        DataEvent::Complete => {
            // Pad the last word with 0xFF, which leaves erased flash unchanged.
            let mut tail = core::mem::take(&mut w.carry);
            let r = if tail.is_empty() {
                Ok(())
            } else {
                tail.resize(4, 0xff);
                with_partitions(c, &label, FlashOp::Other, |p| p.write(&label, w.next, &tail))
            };
            DataFlow::done(r.map(|()| Reply::Done(at_parser::ResultCode::Ok)))
        }
        DataEvent::Escaped => DataFlow::done(Err(AtError::exec(ExecFail::WriteCancelled)
            .with_detail(format_args!("partition {label}: part may be written")))),
    }
}
