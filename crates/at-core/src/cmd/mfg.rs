//! Manufacturing data: AT+SYSMFG (key-value access to `mfg_nvs`) and AT+SYSFLASH (raw access
//! to the user partitions), plus reading `factory_param` at boot.
//!
//! When `mfg_nvs` cannot be read (flash-encrypted but read as plain, NVS keys missing, ...),
//! every operation answers `ERROR` with `ERR CODE:0x010a01xx` and the diagnosis and its remedy
//! as the reason — where ESP-AT printed a bare `ERROR` and carried on with `cert_len=0`.

use alloc::string::String;
use alloc::vec::Vec;

use at_hal::kv::{EntryInfo, Kv, KvError, MAX_STR_LEN, Unreadable, Value, ValueType};
use at_hal::storage::{MfgStore, PartitionError, PartitionInfo};
use at_parser::{Args, AtError, Call, DataEvent, DataLen, ErrorCode, Outcome, Reply, ResultCode, ok};

use crate::core::Core;
use at_hal::Platform;

type Out<P> = Outcome<Core<P>>;

/// Largest string/binary value AT+SYSMFG takes in one write (it is held in RAM until the
/// last byte arrives).
pub const MAX_MFG_WRITE: usize = 64 * 1024;
/// Largest AT+SYSFLASH read in one command (ESP-AT advises 4 KiB chunks).
pub const MAX_FLASH_READ: usize = 16 * 1024;

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

/// The `ERR CODE` extension and reason for an unreadable manufacturing partition.
pub fn unreadable_error(u: Unreadable) -> AtError {
    let (ext, reason) = match u {
        Unreadable::PartitionNotFound => (
            0x101,
            "mfg_nvs: partition not found in ESP-AT's secondary partition table (at_customize): \
             add it (at_customize.csv) and flash at_customize.bin",
        ),
        Unreadable::SecondaryTableUnreadable => (
            0x102,
            "mfg_nvs: ESP-AT's secondary partition table (start of at_customize) is unreadable, \
             most likely written with flash encryption (idf.py encrypted-flash) but read as plain: \
             re-flash at_customize.bin in plaintext (idf.py encrypted-app-flash for the app) \
             or flag at_customize encrypted",
        ),
        Unreadable::FlashEncryptedReadAsPlain => (
            0x103,
            "mfg_nvs: partition is flash-encrypted but read as plain (written with idf.py \
             encrypted-flash): re-flash mfg_nvs.bin in plaintext (idf.py encrypted-app-flash); \
             to keep it confidential use NVS encryption, not flash encryption; nothing was erased",
        ),
        Unreadable::NvsKeysMissing => (
            0x104,
            "mfg_nvs: partition is NVS-encrypted and no NVS keys were given: provide the \
             nvs_keys partition or the eFuse HMAC key it was generated with",
        ),
        Unreadable::NvsKeysWrong => (
            0x105,
            "mfg_nvs: the NVS encryption keys do not decrypt the partition: provide the keys \
             it was generated with",
        ),
        Unreadable::NvsNewerVersion => {
            (0x106, "mfg_nvs: NVS format version is newer than this firmware reads: update the firmware")
        }
        Unreadable::Garbage => (
            0x107,
            "mfg_nvs: partition holds neither NVS nor recognisable ciphertext: erase it \
             (AT+SYSFLASH=0,\"mfg_nvs\") and write a fresh image",
        ),
    };
    AtError::new(ErrorCode::exec_fail(ext), reason)
}

fn kv_error(e: KvError) -> AtError {
    match e {
        KvError::Unreadable(u) => unreadable_error(u),
        KvError::NotFound => AtError::exec(0x110, "no such namespace or key in mfg_nvs"),
        KvError::InvalidName => AtError::invalid(1, "namespace and key must be 1..=15 ASCII bytes"),
        KvError::ValueTooLong { .. } => AtError::new(ErrorCode::para_length(4), "value too long for NVS"),
        KvError::InvalidString => AtError::invalid(4, "a string value must not contain NUL"),
        KvError::BufferTooSmall { .. } => AtError::exec(0x111, "value changed while being read"),
        KvError::NoSpace => AtError::exec(0x112, "mfg_nvs is full"),
        KvError::ReadOnly => AtError::exec(0x113, "mfg_nvs is read-only"),
        KvError::Corrupt => AtError::exec(0x114, "the stored entry failed its integrity check (CRC)"),
        KvError::Authentication => AtError::exec(0x115, "authentication failed: wrong key or tampered entry"),
        KvError::Flash => AtError::exec(0x116, "flash I/O error on mfg_nvs"),
    }
}

fn partition_error(e: PartitionError) -> AtError {
    match e {
        PartitionError::NotFound => AtError::invalid(1, "no such user partition (see AT+SYSFLASH?)"),
        PartitionError::OutOfRange => AtError::invalid(2, "offset/length outside the partition"),
        PartitionError::Misaligned => {
            AtError::invalid(2, "erase needs 4 KiB sector boundaries, write a 4-byte aligned offset")
        }
        PartitionError::Unreadable(u) => unreadable_error(u),
        PartitionError::Unsupported => AtError::exec(0x120, "raw partition access is not available"),
        PartitionError::Flash => AtError::exec(0x121, "flash I/O error"),
    }
}

fn ascii(a: &Args<'_>, i: usize) -> Result<String, AtError> {
    let s = a.str_len(i, 1..=15)?;
    if !s.iter().all(|c| c.is_ascii() && *c != 0) {
        return Err(AtError::invalid(i, "names are 1..=15 ASCII bytes"));
    }
    Ok(s.iter().map(|&c| char::from(c)).collect())
}

/// What AT+SYSMFG=2 is writing, while its bytes arrive.
#[derive(Debug)]
pub(crate) struct PendingWrite {
    namespace: String,
    key: String,
    string: bool,
    data: Vec<u8>,
}

impl Drop for PendingWrite {
    fn drop(&mut self) {
        // May be a private key.
        zeroize::Zeroize::zeroize(&mut self.data);
    }
}

fn list_namespaces<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    let mut names: Vec<String> = Vec::new();
    c.platform.mfg().for_each_namespace(&mut |ns| names.push(String::from(ns))).map_err(kv_error)?;
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
        0 => erase(c, a),
        1 => read(c, call, a),
        _ => write(c, a),
    }
}

fn erase<P: Platform>(c: &mut Core<P>, a: &Args<'_>) -> Out<P> {
    a.expect_count(2, 3)?;
    let ns = ascii(a, 1)?;
    let kv = c.platform.mfg();
    match a.is_omitted(2) {
        true => kv.erase_namespace(&ns).map_err(kv_error)?,
        false => kv.erase(&ns, &ascii(a, 2)?).map_err(kv_error)?,
    }
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
            .map_err(kv_error)?;
        if keys.is_empty() {
            return Err(AtError::exec(0x110, "no such namespace in mfg_nvs"));
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
    if at_certstore::holds_private_key(&ns, &key) && !c.allow_key_readback {
        return Err(AtError::exec(
            0x130,
            "private keys are not readable over AT (the firmware can enable it: Options::allow_key_readback)",
        ));
    }
    let kv = c.platform.mfg();
    let info = kv.info(&ns, &key).map_err(kv_error)?;
    let mut buf = alloc::vec![0u8; info.len];
    let v = kv.get(&ns, &key, &mut buf).map_err(kv_error)?;
    let t = sysmfg_type(v.value_type());
    let value: Vec<u8> = match v.as_integer() {
        Some(i) => alloc::format!("{i}").into_bytes(),
        None => v.as_bytes().unwrap_or_default().to_vec(),
    };
    let shown: &[u8] = match range {
        None => &value,
        Some(_) if v.as_integer().is_some() => {
            return Err(AtError::invalid(3, "offset/length apply to string and binary values only"));
        }
        Some((o, l)) => value
            .get(o..o.saturating_add(l))
            .ok_or(AtError::invalid(3, "offset + length is past the end of the value"))?,
    };
    call.write(alloc::format!("+SYSMFG:\"{ns}\",\"{key}\",{t},{},", shown.len()).as_bytes());
    call.write(shown);
    call.write(b"\r\n");
    zeroize::Zeroize::zeroize(&mut buf);
    ok()
}

fn write<P: Platform>(c: &mut Core<P>, a: &Args<'_>) -> Out<P> {
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
            let max = if t == 7 { MAX_STR_LEN } else { MAX_MFG_WRITE };
            let len = a.int_in(4, 0..=max as i64)? as usize;
            // Fail now, not after the host has sent the bytes.
            if let Some(u) = c.platform.mfg().unreadable() {
                return Err(unreadable_error(u));
            }
            c.mfg_write =
                Some(PendingWrite { namespace: ns, key, string: t == 7, data: Vec::with_capacity(len) });
            return Ok(Reply::Data {
                len: DataLen::Exact(len),
                prompt: ResultCode::OkAndInputPrompt.bytes(),
                handler: write_data::<P>,
            });
        }
    };
    c.platform.mfg().set(&ns, &key, value).map_err(kv_error)?;
    ok()
}

fn write_data<P: Platform>(c: &mut Core<P>, _: &mut Call<'_>, ev: DataEvent<'_>) -> Out<P> {
    match ev {
        DataEvent::Bytes(b) => {
            if let Some(w) = c.mfg_write.as_mut() {
                w.data.extend_from_slice(b);
            }
            ok()
        }
        DataEvent::Escaped => {
            c.mfg_write = None;
            Err(AtError::exec(0x117, "write cancelled with +++; nothing was stored"))
        }
        DataEvent::Complete => {
            let w = c.mfg_write.take().ok_or(AtError::exec(0x118, "no write in progress"))?;
            let value = if w.string { Value::Str(&w.data) } else { Value::Blob(&w.data) };
            c.platform.mfg().set(&w.namespace, &w.key, value).map_err(kv_error)?;
            ok()
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
    f: impl FnOnce(&mut dyn at_hal::storage::UserPartitions) -> Result<T, PartitionError>,
) -> Result<T, AtError> {
    match c.platform.mfg().partitions() {
        Some(p) => f(p).map_err(partition_error),
        None => Err(partition_error(PartitionError::Unsupported)),
    }
}

fn find_partition<P: Platform>(c: &mut Core<P>, label: &str) -> Result<PartitionInfo, AtError> {
    let mut found = None;
    with_partitions(c, |p| {
        p.for_each_partition(&mut |info| {
            if info.label() == label {
                found = Some(*info);
            }
        })
    })?;
    found.ok_or(partition_error(PartitionError::NotFound))
}

pub(crate) fn sysflash_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    let mut parts = Vec::new();
    with_partitions(c, |p| p.for_each_partition(&mut |i| parts.push(*i)))?;
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
    /// Bytes not yet written because they do not fill a 4-byte word.
    carry: Vec<u8>,
}

pub(crate) fn sysflash_set<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    a.expect_count(2, 4)?;
    let op = a.int_in(0, 0..=2)?;
    let label = a.utf8(1, 1..=16)?;
    let part = find_partition(c, label)?;
    let off = a.opt_int_in(2, 0..=i64::from(part.size))?;
    let len = a.opt_int_in(3, 0..=i64::from(part.size))?;
    match op {
        0 => {
            let (off, len) = match (off, len) {
                (None, None) => (0, part.size),
                (Some(o), Some(l)) => (o as u32, l as u32),
                _ => return Err(AtError::count(4, a.len(), "offset and length go together")),
            };
            with_partitions(c, |p| p.erase(label, off, len))?;
            ok()
        }
        1 => {
            let (Some(off), Some(len)) = (off, len) else {
                return Err(AtError::count(4, a.len(), "write needs offset and length"));
            };
            if off % 4 != 0 {
                return Err(AtError::invalid(2, "write offset must be a multiple of 4"));
            }
            if off + len > i64::from(part.size) {
                return Err(partition_error(PartitionError::OutOfRange));
            }
            c.flash_write =
                Some(FlashWrite { label: String::from(label), next: off as u32, carry: Vec::new() });
            Ok(Reply::Data {
                len: DataLen::Exact(len as usize),
                prompt: ResultCode::OkAndInputPrompt.bytes(),
                handler: flash_data::<P>,
            })
        }
        _ => {
            let (Some(off), Some(len)) = (off, len) else {
                return Err(AtError::count(4, a.len(), "read needs offset and length"));
            };
            if len as usize > MAX_FLASH_READ {
                return Err(AtError::new(ErrorCode::para_length(3), "read at most 16384 bytes per command"));
            }
            let mut buf = alloc::vec![0u8; len as usize];
            with_partitions(c, |p| p.read(label, off as u32, &mut buf))?;
            call.write(alloc::format!("+SYSFLASH:{len},").as_bytes());
            call.write(&buf);
            call.write(b"\r\n");
            ok()
        }
    }
}

fn flash_data<P: Platform>(c: &mut Core<P>, _: &mut Call<'_>, ev: DataEvent<'_>) -> Out<P> {
    let Some(mut w) = c.flash_write.take() else {
        return Err(AtError::exec(0x118, "no write in progress"));
    };
    match ev {
        DataEvent::Bytes(b) => {
            w.carry.extend_from_slice(b);
            let whole = w.carry.len() / 4 * 4;
            let chunk: Vec<u8> = w.carry.drain(..whole).collect();
            let at = w.next;
            w.next += whole as u32;
            let label = w.label.clone();
            let r =
                with_partitions(c, |p| if chunk.is_empty() { Ok(()) } else { p.write(&label, at, &chunk) });
            if r.is_ok() {
                c.flash_write = Some(w);
            }
            r.map(|()| Reply::Done(ResultCode::Ok))
        }
        DataEvent::Complete => {
            // Pad the last word with 0xFF, which leaves erased flash unchanged.
            let mut tail = core::mem::take(&mut w.carry);
            let r = if tail.is_empty() {
                Ok(())
            } else {
                tail.resize(4, 0xff);
                with_partitions(c, |p| p.write(&w.label, w.next, &tail))
            };
            r.map(|()| Reply::Done(ResultCode::Ok))
        }
        DataEvent::Escaped => Err(AtError::exec(0x117, "write cancelled with +++; part may be written")),
    }
}
