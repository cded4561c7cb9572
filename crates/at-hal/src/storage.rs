//! Manufacturing storage: the `mfg_nvs` key-value store and raw access to ESP-AT's *user
//! partitions* (those in its secondary partition table, for AT+SYSFLASH).

use crate::kv::{Kv, Unreadable};

/// Longest partition label (ESP-IDF: 16 bytes, NUL-padded).
pub const MAX_LABEL_LEN: usize = 16;

/// One user partition, as AT+SYSFLASH? lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionInfo {
    label: [u8; MAX_LABEL_LEN],
    label_len: u8,
    /// Partition type (`0x01` data, `0x40`.. custom).
    pub ptype: u8,
    /// Partition subtype.
    pub subtype: u8,
    /// Absolute flash offset.
    pub offset: u32,
    /// Size in bytes.
    pub size: u32,
    /// Flagged `encrypted` in its table.
    pub encrypted: bool,
}

impl PartitionInfo {
    /// A description; `None` if the label is longer than 16 bytes.
    pub fn new(label: &str, ptype: u8, subtype: u8, offset: u32, size: u32, encrypted: bool) -> Option<Self> {
        let mut l = [0u8; MAX_LABEL_LEN];
        l.get_mut(..label.len())?.copy_from_slice(label.as_bytes());
        Some(PartitionInfo {
            label: l,
            label_len: label.len() as u8,
            ptype,
            subtype,
            offset,
            size,
            encrypted,
        })
    }

    /// The label.
    pub fn label(&self) -> &str {
        core::str::from_utf8(&self.label[..usize::from(self.label_len)]).unwrap_or("?")
    }
}

/// Errors of user-partition access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PartitionError {
    /// No user partition with that label.
    #[error("no such user partition")]
    NotFound,
    /// Offset/length outside the partition.
    #[error("offset or length outside the partition")]
    OutOfRange,
    /// Erase offset/length not on 4 KiB sector boundaries, or write not 4-byte aligned.
    #[error("erase needs 4 KiB sector boundaries, write needs 4-byte alignment")]
    Misaligned,
    /// The partition table itself cannot be read.
    #[error("{0}")]
    Unreadable(Unreadable),
    /// This backend offers no raw partition access.
    #[error("raw partition access is not available")]
    Unsupported,
    /// The flash driver failed.
    #[error("flash I/O error")]
    Flash,
}

/// Raw access to ESP-AT's user partitions (AT+SYSFLASH). Offsets are partition-relative.
pub trait UserPartitions {
    /// Call `f` for every user partition.
    fn for_each_partition(&mut self, f: &mut dyn FnMut(&PartitionInfo)) -> Result<(), PartitionError>;
    /// Read `buf.len()` bytes at `offset`.
    fn read(&mut self, label: &str, offset: u32, buf: &mut [u8]) -> Result<(), PartitionError>;
    /// Erase whole 4 KiB sectors.
    fn erase(&mut self, label: &str, offset: u32, len: u32) -> Result<(), PartitionError>;
    /// Program bytes (NOR rules: only erased bytes take new values).
    fn write(&mut self, label: &str, offset: u32, data: &[u8]) -> Result<(), PartitionError>;
}

/// The manufacturing store a platform provides: the `mfg_nvs` [`Kv`] (which returns
/// [`crate::kv::KvError::Unreadable`] for every operation when the partition cannot be read),
/// plus, where the backend has real flash, raw user-partition access.
pub trait MfgStore: Kv {
    /// Why the store is unreadable, if it is (checked at boot to log the diagnosis).
    fn unreadable(&self) -> Option<Unreadable>;

    /// Raw user-partition access, if this backend has it.
    fn partitions(&mut self) -> Option<&mut dyn UserPartitions> {
        None
    }
}

#[cfg(feature = "alloc")]
impl MfgStore for crate::kv::MemKv {
    fn unreadable(&self) -> Option<Unreadable> {
        None
    }
}

/// A manufacturing store that could not be mounted: every operation fails with the
/// diagnosis, nothing is ever written. What a backend installs when `mfg_nvs` is unreadable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unmounted(pub Unreadable);

impl Kv for Unmounted {
    fn info(&mut self, _: &str, _: &str) -> Result<crate::kv::EntryInfo, crate::kv::KvError> {
        Err(crate::kv::KvError::Unreadable(self.0))
    }
    fn get<'b>(
        &mut self,
        _: &str,
        _: &str,
        _: &'b mut [u8],
    ) -> Result<crate::kv::Value<'b>, crate::kv::KvError> {
        Err(crate::kv::KvError::Unreadable(self.0))
    }
    fn set(&mut self, _: &str, _: &str, _: crate::kv::Value<'_>) -> Result<(), crate::kv::KvError> {
        Err(crate::kv::KvError::Unreadable(self.0))
    }
    fn erase(&mut self, _: &str, _: &str) -> Result<(), crate::kv::KvError> {
        Err(crate::kv::KvError::Unreadable(self.0))
    }
    fn erase_namespace(&mut self, _: &str) -> Result<(), crate::kv::KvError> {
        Err(crate::kv::KvError::Unreadable(self.0))
    }
    fn for_each_namespace(&mut self, _: &mut dyn FnMut(&str)) -> Result<(), crate::kv::KvError> {
        Err(crate::kv::KvError::Unreadable(self.0))
    }
    fn for_each_entry(
        &mut self,
        _: &str,
        _: &mut dyn FnMut(&str, crate::kv::EntryInfo),
    ) -> Result<(), crate::kv::KvError> {
        Err(crate::kv::KvError::Unreadable(self.0))
    }
}

impl MfgStore for Unmounted {
    fn unreadable(&self) -> Option<Unreadable> {
        Some(self.0)
    }
}
