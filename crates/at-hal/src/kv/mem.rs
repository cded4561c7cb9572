//! [`MemKv`]: the in-memory store.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use super::{EntryInfo, Kv, KvError, Value, ValueType, validate_name, validate_value};

#[derive(Clone, PartialEq, Eq)]
enum Stored {
    Int(ValueType, i128),
    Bytes(ValueType, Vec<u8>),
}

impl Stored {
    fn info(&self) -> EntryInfo {
        match self {
            Stored::Int(t, _) => EntryInfo { value_type: *t, len: int_width(*t) },
            Stored::Bytes(t, b) => EntryInfo { value_type: *t, len: b.len() },
        }
    }
}

fn int_width(t: ValueType) -> usize {
    match t {
        ValueType::U8 | ValueType::I8 => 1,
        ValueType::U16 | ValueType::I16 => 2,
        ValueType::U32 | ValueType::I32 => 4,
        _ => 8,
    }
}

impl Drop for Stored {
    fn drop(&mut self) {
        // Values may be key material: clear them before the allocator reuses the memory.
        // (A plain loop the optimiser may not remove entirely is acceptable for a test store;
        // the cert store zeroizes its own copies with `zeroize`.)
        if let Stored::Bytes(_, b) = self {
            for x in b.iter_mut() {
                *x = 0;
            }
        }
    }
}

/// An in-memory [`Kv`], optionally with a byte budget so "store full" paths can be tested.
///
/// Namespaces and keys iterate in byte order. Cloning copies the contents.
#[derive(Clone, Default)]
pub struct MemKv {
    map: BTreeMap<(String, String), Stored>,
    capacity: Option<usize>,
    read_only: bool,
}

impl core::fmt::Debug for MemKv {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print values: they may be secrets.
        f.debug_struct("MemKv").field("entries", &self.map.len()).field("capacity", &self.capacity).finish()
    }
}

impl MemKv {
    /// An empty, unbounded store.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store that refuses writes once the values would exceed `bytes` in total
    /// (names count too, 32 bytes per entry as on NVS).
    pub fn with_capacity(bytes: usize) -> Self {
        MemKv { capacity: Some(bytes), ..Self::default() }
    }

    /// Make the store read-only (writes return [`KvError::ReadOnly`]) or writable again.
    pub fn set_read_only(&mut self, read_only: bool) {
        self.read_only = read_only;
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the store holds nothing.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn used(&self) -> usize {
        self.map.values().map(|v| 32 + v.info().len).sum()
    }

    fn find(&self, ns: &str, key: &str) -> Result<&Stored, KvError> {
        validate_name(ns)?;
        validate_name(key)?;
        self.map.get(&(String::from(ns), String::from(key))).ok_or(KvError::NotFound)
    }
}

impl Kv for MemKv {
    fn info(&mut self, namespace: &str, key: &str) -> Result<EntryInfo, KvError> {
        Ok(self.find(namespace, key)?.info())
    }

    fn get<'b>(&mut self, namespace: &str, key: &str, buf: &'b mut [u8]) -> Result<Value<'b>, KvError> {
        Ok(match self.find(namespace, key)? {
            Stored::Int(t, v) => {
                let v = *v;
                match t {
                    ValueType::U8 => Value::U8(v as u8),
                    ValueType::I8 => Value::I8(v as i8),
                    ValueType::U16 => Value::U16(v as u16),
                    ValueType::I16 => Value::I16(v as i16),
                    ValueType::U32 => Value::U32(v as u32),
                    ValueType::I32 => Value::I32(v as i32),
                    ValueType::U64 => Value::U64(v as u64),
                    _ => Value::I64(v as i64),
                }
            }
            Stored::Bytes(t, b) => {
                let out = buf.get_mut(..b.len()).ok_or(KvError::BufferTooSmall { needed: b.len() })?;
                out.copy_from_slice(b);
                if *t == ValueType::Str { Value::Str(out) } else { Value::Blob(out) }
            }
        })
    }

    fn set(&mut self, namespace: &str, key: &str, value: Value<'_>) -> Result<(), KvError> {
        validate_name(namespace)?;
        validate_name(key)?;
        validate_value(&value)?;
        if self.read_only {
            return Err(KvError::ReadOnly);
        }
        let stored = match value.as_integer() {
            Some(i) => Stored::Int(value.value_type(), i),
            None => Stored::Bytes(value.value_type(), value.as_bytes().unwrap_or_default().to_vec()),
        };
        let k = (String::from(namespace), String::from(key));
        if let Some(cap) = self.capacity {
            let old = self.map.get(&k).map_or(0, |s| 32 + s.info().len);
            if self.used() - old + 32 + stored.info().len > cap {
                return Err(KvError::NoSpace);
            }
        }
        self.map.insert(k, stored);
        Ok(())
    }

    fn erase(&mut self, namespace: &str, key: &str) -> Result<(), KvError> {
        self.find(namespace, key)?;
        if self.read_only {
            return Err(KvError::ReadOnly);
        }
        self.map.remove(&(String::from(namespace), String::from(key)));
        Ok(())
    }

    fn erase_namespace(&mut self, namespace: &str) -> Result<(), KvError> {
        validate_name(namespace)?;
        if self.read_only {
            return Err(KvError::ReadOnly);
        }
        self.map.retain(|(ns, _), _| ns != namespace);
        Ok(())
    }

    fn for_each_namespace(&mut self, f: &mut dyn FnMut(&str)) -> Result<(), KvError> {
        let mut last: Option<&str> = None;
        for (ns, _) in self.map.keys() {
            if last != Some(ns.as_str()) {
                f(ns);
                last = Some(ns.as_str());
            }
        }
        Ok(())
    }

    fn for_each_entry(&mut self, namespace: &str, f: &mut dyn FnMut(&str, EntryInfo)) -> Result<(), KvError> {
        validate_name(namespace)?;
        for ((ns, key), v) in &self.map {
            if ns == namespace {
                f(key, v.info());
            }
        }
        Ok(())
    }
}

#[cfg(all(test, feature = "conformance"))]
mod tests {
    use super::*;

    #[test]
    fn conformance() {
        crate::kv::conformance::run_all(MemKv::new);
    }

    #[test]
    fn capacity_is_enforced() {
        let mut kv = MemKv::with_capacity(100);
        kv.set("ns", "a", Value::Blob(&[0; 60])).unwrap();
        assert_eq!(kv.set("ns", "b", Value::Blob(&[0; 60])), Err(KvError::NoSpace));
        // Replacing in place only counts the difference.
        kv.set("ns", "a", Value::Blob(&[1; 68])).unwrap();
    }

    #[test]
    fn read_only_refuses_writes() {
        let mut kv = MemKv::new();
        kv.set("ns", "a", Value::U8(1)).unwrap();
        kv.set_read_only(true);
        assert_eq!(kv.set("ns", "a", Value::U8(2)), Err(KvError::ReadOnly));
        assert_eq!(kv.erase("ns", "a"), Err(KvError::ReadOnly));
        assert_eq!(kv.get("ns", "a", &mut []), Ok(Value::U8(1)));
    }
}
