//! [`MfgStorage`]: what a backend hands the firmware as its manufacturing store — `mfg_nvs`
//! located and mounted as ESP-AT does it, or the precise reason it cannot be, plus raw access
//! to ESP-AT's user partitions for AT+SYSFLASH.
//!
//! * **Whole flash** ([`MfgStorage::whole_flash`]): the primary table at 0x8000 (decrypted
//!   with the key if it is stored encrypted; without a key, an encrypted primary table is
//!   taken to be ESP-AT's ESP32-C3 default, which is what the bootloader would have read),
//!   then [`locate_mfg_nvs_with_primary`], then an NVS mount — read-write through a plain
//!   view, read-only through a decrypting one (NVS cannot update in place under XTS).
//! * **Partition image** ([`MfgStorage::partition_image`]): the flash *is* `mfg_nvs`.
//!
//! Nothing is ever formatted: a partition that cannot be read stays byte-for-byte as it is,
//! and every [`Kv`] operation returns [`KvError::Unreadable`] with the diagnosis. After an
//! AT+SYSFLASH erase or write, the store is located and mounted again.

use alloc::boxed::Box;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use core::cell::RefCell;

use at_hal::kv::{EntryInfo, Kv, KvError, Protection, Unreadable, Value};
use at_hal::storage::{MfgStore, PartitionError, PartitionInfo, UserPartitions};
use at_nvs::{Nvs, NvsKeys};
use embedded_storage::nor_flash::{ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash};

use crate::layout::{self, TableRead};
use crate::locate::{LocateError, locate_mfg_nvs_with_primary};
use crate::table::{PRIMARY_TABLE_OFFSET, PartitionEntry, PartitionTable};
use crate::view::{DecryptedView, MountView, PartitionView, ViewError};
use crate::xts::FlashKey;

/// A flash shared by several views (`Rc<RefCell<F>>`: single-threaded, no atomics needed).
///
/// Each view gets a clone; operations borrow the flash only for their own duration, so they
/// never overlap.
pub struct SharedFlash<F>(Rc<RefCell<F>>);

impl<F> SharedFlash<F> {
    /// Share `flash`.
    pub fn new(flash: F) -> Self {
        SharedFlash(Rc::new(RefCell::new(flash)))
    }

    /// Run `f` with the flash.
    pub fn with<T>(&self, f: impl FnOnce(&mut F) -> T) -> T {
        f(&mut self.0.borrow_mut())
    }
}

impl<F> Clone for SharedFlash<F> {
    fn clone(&self) -> Self {
        SharedFlash(self.0.clone())
    }
}

impl<F> core::fmt::Debug for SharedFlash<F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SharedFlash")
    }
}

impl<F: ErrorType> ErrorType for SharedFlash<F> {
    type Error = F::Error;
}

impl<F: ReadNorFlash> ReadNorFlash for SharedFlash<F> {
    const READ_SIZE: usize = F::READ_SIZE;
    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), F::Error> {
        self.0.borrow_mut().read(offset, bytes)
    }
    fn capacity(&self) -> usize {
        self.0.borrow().capacity()
    }
}

impl<F: NorFlash> NorFlash for SharedFlash<F> {
    const WRITE_SIZE: usize = F::WRITE_SIZE;
    const ERASE_SIZE: usize = F::ERASE_SIZE;
    fn erase(&mut self, from: u32, to: u32) -> Result<(), F::Error> {
        self.0.borrow_mut().erase(from, to)
    }
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), F::Error> {
        self.0.borrow_mut().write(offset, bytes)
    }
}

#[derive(Debug, Clone)]
enum Layout {
    /// A whole flash with tables.
    WholeFlash { primary: PartitionTable, flash_encryption: bool, primary_assumed: bool },
    /// The flash is the `mfg_nvs` partition itself.
    Image,
}

enum State<'k, F> {
    Mounted(Box<Nvs<MountView<'k, SharedFlash<F>>>>),
    Failed(Unreadable),
    /// Raw partition writes happened since the last mount; mount again on the next access.
    /// (Not at once: AT+SYSFLASH writes an image in several commands, and a read-write mount
    /// of a half-written image would "repair" it.)
    Stale,
}

/// `mfg_nvs`, located and mounted (or diagnosed), plus the user partitions.
///
/// [`MfgStore::unreadable`] reports the state of the last mount; after raw partition writes
/// it reports `None` until the next key-value access mounts again.
pub struct MfgStorage<'k, F> {
    flash: SharedFlash<F>,
    layout: Layout,
    key: Option<&'k FlashKey>,
    nvs_keys: Option<NvsKeys>,
    /// Mount `mfg_nvs` read-only whatever the view (see [`MfgStorage::whole_flash_read_only`]).
    read_only: bool,
    state: State<'k, F>,
    detail: String,
}

impl<F> core::fmt::Debug for MfgStorage<'_, F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MfgStorage")
            .field("layout", &self.layout)
            .field("mounted", &matches!(self.state, State::Mounted(_)))
            .field("detail", &self.detail)
            .finish_non_exhaustive()
    }
}

fn label_str(e: &PartitionEntry) -> &str {
    e.label.as_str().unwrap_or("?")
}

impl<'k, F: NorFlash> MfgStorage<'k, F> {
    /// A whole flash (address 0 = flash address 0), read as a chip with (or without) flash
    /// encryption reads it. `key` is the flash-encryption key file, if known; `nvs_keys` the
    /// NVS-encryption keys of `mfg_nvs`, if it is NVS-encrypted.
    pub fn whole_flash(flash: F, key: Option<&'k FlashKey>, nvs_keys: Option<NvsKeys>) -> Self {
        Self::whole_flash_opts(flash, key, nvs_keys, false)
    }

    /// [`MfgStorage::whole_flash`], with `mfg_nvs` always mounted read-only: nothing is
    /// repaired or written there (AT+SYSMFG writes answer an error). A device backend uses it
    /// when `mfg_nvs` is flagged `encrypted` and its flash decrypts that range transparently:
    /// NVS cannot update XTS ciphertext in place, and a load-time repair (erasing a page) would
    /// leave garbage behind.
    pub fn whole_flash_read_only(flash: F, key: Option<&'k FlashKey>, nvs_keys: Option<NvsKeys>) -> Self {
        Self::whole_flash_opts(flash, key, nvs_keys, true)
    }

    fn whole_flash_opts(
        flash: F,
        key: Option<&'k FlashKey>,
        nvs_keys: Option<NvsKeys>,
        read_only: bool,
    ) -> Self {
        let flash = SharedFlash::new(flash);
        let read = flash.clone().with(|f| layout::read_table(f, PRIMARY_TABLE_OFFSET, key));
        let layout = match read {
            Ok(TableRead::Plain(t)) => {
                Layout::WholeFlash { primary: t, flash_encryption: false, primary_assumed: false }
            }
            Ok(TableRead::Encrypted(t)) => {
                Layout::WholeFlash { primary: t, flash_encryption: true, primary_assumed: false }
            }
            // Stored encrypted and no key: the bootloader decrypts it on the chip. Use what it
            // would have found on a stock ESP-AT ESP32-C3 build.
            Ok(TableRead::Unreadable { looks_encrypted: true, .. }) => Layout::WholeFlash {
                primary: layout::esp_at_c3_default_primary(),
                flash_encryption: true,
                primary_assumed: true,
            },
            Ok(TableRead::Blank) | Ok(TableRead::Unreadable { .. }) | Err(_) => {
                let detail = String::from(
                    "partition table at 0x8000 unreadable: re-flash it (idf.py partition-table-flash)",
                );
                return MfgStorage {
                    flash,
                    layout: Layout::Image,
                    key,
                    nvs_keys,
                    read_only,
                    state: State::Failed(Unreadable::PartitionNotFound),
                    detail,
                };
            }
        };
        let mut s = MfgStorage {
            flash,
            layout,
            key,
            nvs_keys,
            read_only,
            state: State::Failed(Unreadable::Garbage),
            detail: String::new(),
        };
        s.mount();
        s
    }

    /// A partition image: the flash is `mfg_nvs` itself (plain, or NVS-encrypted with
    /// `nvs_keys`).
    pub fn partition_image(flash: F, nvs_keys: Option<NvsKeys>) -> Self {
        let mut s = MfgStorage {
            flash: SharedFlash::new(flash),
            layout: Layout::Image,
            key: None,
            nvs_keys,
            read_only: false,
            state: State::Failed(Unreadable::Garbage),
            detail: String::new(),
        };
        s.mount();
        s
    }

    /// A human explanation of the state: where `mfg_nvs` is and how it was mounted, or why it
    /// could not be (partition, offset, cause, remedy).
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// Whether the primary table was taken to be ESP-AT's default (it is stored encrypted and
    /// no key was given).
    pub fn primary_assumed(&self) -> bool {
        matches!(self.layout, Layout::WholeFlash { primary_assumed: true, .. })
    }

    /// The flash, shared (for tests and tools that inspect it afterwards).
    pub fn flash(&self) -> SharedFlash<F> {
        self.flash.clone()
    }

    /// Locate and mount `mfg_nvs` (again). Raw partition writes leave the store to be
    /// mounted again on its next use; call this to do it now.
    pub fn mount(&mut self) {
        self.state = State::Failed(Unreadable::Garbage);
        let (view, where_) = match &self.layout {
            Layout::Image => {
                let size = u32::try_from(self.flash.clone().capacity()).unwrap_or(u32::MAX);
                match PartitionView::new(self.flash.clone(), 0, size) {
                    Ok(v) => (MountView::Plain(v), String::from("partition image")),
                    Err(_) => return self.fail(Unreadable::Garbage, String::from("image too large")),
                }
            }
            Layout::WholeFlash { primary, flash_encryption, primary_assumed } => {
                match locate_mfg_nvs_with_primary(self.flash.clone(), primary, *flash_encryption, self.key) {
                    Ok(m) => {
                        let where_ = format!(
                            "mfg_nvs at 0x{:x} ({} bytes){}{}",
                            m.entry.offset,
                            m.entry.size,
                            if m.view.is_decrypted() { ", read decrypted" } else { "" },
                            if *primary_assumed { ", primary table assumed ESP-AT default" } else { "" }
                        );
                        (m.view, where_)
                    }
                    Err(e) => {
                        let u = e.unreadable().unwrap_or(Unreadable::Garbage);
                        let text = match &e {
                            LocateError::Flash(_) => String::from("flash read failed while locating mfg_nvs"),
                            LocateError::Unreadable { partition, offset, reason, detail } => format!(
                                "{} at 0x{offset:x}: {reason} ({detail}): {}",
                                partition.as_str().unwrap_or("?"),
                                e.remedy()
                            ),
                            _ => format!("{}", DisplayLocate(&e)),
                        };
                        return self.fail(u, text);
                    }
                }
            }
        };
        let read_only = self.read_only || view.is_decrypted();
        let mounted = if read_only {
            Nvs::mount_read_only(view, self.nvs_keys.as_ref())
        } else {
            Nvs::mount(view, self.nvs_keys.as_ref())
        };
        match mounted {
            Ok(nvs) => {
                self.detail = format!(
                    "{where_}: mounted{}{}",
                    if read_only { " read-only" } else { "" },
                    if nvs.is_encrypted() { ", NVS-encrypted" } else { "" }
                );
                self.state = State::Mounted(Box::new(nvs));
            }
            Err(KvError::Unreadable(u)) => self.fail(u, format!("{where_}: {u}: {}", u.remedy())),
            Err(e) => self.fail(Unreadable::Garbage, format!("{where_}: mount failed: {e}")),
        }
    }

    fn fail(&mut self, u: Unreadable, detail: String) {
        self.state = State::Failed(u);
        self.detail = detail;
    }

    fn nvs(&mut self) -> Result<&mut Nvs<MountView<'k, SharedFlash<F>>>, KvError> {
        if matches!(self.state, State::Stale) {
            self.mount();
        }
        match &mut self.state {
            State::Mounted(n) => Ok(n),
            State::Failed(u) => Err(KvError::Unreadable(*u)),
            State::Stale => Err(KvError::Unreadable(Unreadable::Garbage)),
        }
    }

    /// The user partitions: ESP-AT's secondary table, or the image itself.
    fn user_table(&mut self) -> Result<PartitionTable, PartitionError> {
        match &self.layout {
            Layout::Image => {
                let size = u32::try_from(self.flash.clone().capacity()).unwrap_or(u32::MAX);
                let entry = PartitionEntry {
                    ty: 0x01,
                    subtype: 0x02,
                    offset: 0,
                    size,
                    label: crate::table::Label::new(layout::MFG_NVS).unwrap_or_default(),
                    flags: crate::table::Flags(0),
                };
                PartitionTable::new(alloc::vec![entry]).map_err(|_| PartitionError::Flash)
            }
            Layout::WholeFlash { primary, flash_encryption, .. } => {
                let atc = *layout::find_at_customize(primary)
                    .ok_or(PartitionError::Unreadable(Unreadable::PartitionNotFound))?;
                let key = if atc.read_decrypted(*flash_encryption) { self.key } else { None };
                let bytes = self
                    .flash
                    .clone()
                    .with(|f| layout::read_table_bytes(f, atc.offset, key))
                    .map_err(|_| PartitionError::Flash)?;
                let size = u32::try_from(self.flash.clone().capacity()).unwrap_or(u32::MAX);
                PartitionTable::parse(&bytes, Some(size))
                    .map_err(|_| PartitionError::Unreadable(Unreadable::SecondaryTableUnreadable))
            }
        }
    }

    fn entry(&mut self, label: &str) -> Result<(PartitionEntry, bool), PartitionError> {
        let t = self.user_table()?;
        let e = *t.find_by_label(label).ok_or(PartitionError::NotFound)?;
        let fe = matches!(self.layout, Layout::WholeFlash { flash_encryption: true, .. });
        Ok((e, e.read_decrypted(fe)))
    }

    fn raw_op<T>(
        &mut self,
        label: &str,
        op: impl FnOnce(&mut dyn RawPartition) -> Result<T, PartitionError>,
    ) -> Result<T, PartitionError> {
        let (e, decrypts) = self.entry(label)?;
        if decrypts {
            let key = self.key.ok_or(PartitionError::Unreadable(Unreadable::FlashEncryptedReadAsPlain))?;
            let mut v = DecryptedView::new(self.flash.clone(), e.offset, e.size, key).map_err(view_error)?;
            op(&mut v)
        } else {
            let mut v = PartitionView::new(self.flash.clone(), e.offset, e.size).map_err(view_error)?;
            op(&mut v)
        }
    }
}

struct DisplayLocate<'a, E>(&'a LocateError<E>);

impl<E: core::fmt::Debug> core::fmt::Display for DisplayLocate<'_, E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", self.0)
    }
}

fn view_error<E>(e: ViewError<E>) -> PartitionError {
    match e {
        ViewError::OutOfBounds => PartitionError::OutOfRange,
        ViewError::NotAligned => PartitionError::Misaligned,
        ViewError::KeyRequired | ViewError::EncryptedReadOnly => {
            PartitionError::Unreadable(Unreadable::FlashEncryptedReadAsPlain)
        }
        ViewError::Flash(_) => PartitionError::Flash,
    }
}

fn nor_error<E: NorFlashError>(e: E) -> PartitionError {
    match e.kind() {
        NorFlashErrorKind::NotAligned => PartitionError::Misaligned,
        NorFlashErrorKind::OutOfBounds => PartitionError::OutOfRange,
        _ => PartitionError::Flash,
    }
}

/// The operations AT+SYSFLASH needs on one partition window (object-safe).
trait RawPartition {
    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), PartitionError>;
    fn erase(&mut self, from: u32, to: u32) -> Result<(), PartitionError>;
    fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), PartitionError>;
}

impl<T: NorFlash> RawPartition for T {
    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), PartitionError> {
        ReadNorFlash::read(self, offset, buf).map_err(nor_error)
    }
    fn erase(&mut self, from: u32, to: u32) -> Result<(), PartitionError> {
        NorFlash::erase(self, from, to).map_err(nor_error)
    }
    fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), PartitionError> {
        NorFlash::write(self, offset, data).map_err(nor_error)
    }
}

impl<F: NorFlash> UserPartitions for MfgStorage<'_, F> {
    fn for_each_partition(&mut self, f: &mut dyn FnMut(&PartitionInfo)) -> Result<(), PartitionError> {
        let t = self.user_table()?;
        for e in t.entries() {
            if let Some(info) =
                PartitionInfo::new(label_str(e), e.ty, e.subtype, e.offset, e.size, e.flags.encrypted())
            {
                f(&info);
            }
        }
        Ok(())
    }

    fn read(&mut self, label: &str, offset: u32, buf: &mut [u8]) -> Result<(), PartitionError> {
        self.raw_op(label, |p| p.read(offset, buf))
    }

    fn erase(&mut self, label: &str, offset: u32, len: u32) -> Result<(), PartitionError> {
        if !offset.is_multiple_of(4096) || !len.is_multiple_of(4096) {
            return Err(PartitionError::Misaligned);
        }
        let end = offset.checked_add(len).ok_or(PartitionError::OutOfRange)?;
        self.state = State::Stale;
        self.raw_op(label, |p| p.erase(offset, end))
    }

    fn write(&mut self, label: &str, offset: u32, data: &[u8]) -> Result<(), PartitionError> {
        self.state = State::Stale;
        self.raw_op(label, |p| p.write(offset, data))
    }
}

impl<F: NorFlash> Kv for MfgStorage<'_, F> {
    fn info(&mut self, namespace: &str, key: &str) -> Result<EntryInfo, KvError> {
        self.nvs()?.info(namespace, key)
    }
    fn get<'b>(&mut self, namespace: &str, key: &str, buf: &'b mut [u8]) -> Result<Value<'b>, KvError> {
        self.nvs()?.get(namespace, key, buf)
    }
    fn set(&mut self, namespace: &str, key: &str, value: Value<'_>) -> Result<(), KvError> {
        Kv::set(self.nvs()?, namespace, key, value)
    }
    fn erase(&mut self, namespace: &str, key: &str) -> Result<(), KvError> {
        Kv::erase(self.nvs()?, namespace, key)
    }
    fn erase_namespace(&mut self, namespace: &str) -> Result<(), KvError> {
        Kv::erase_namespace(self.nvs()?, namespace)
    }
    fn for_each_namespace(&mut self, f: &mut dyn FnMut(&str)) -> Result<(), KvError> {
        self.nvs()?.for_each_namespace(f)
    }
    fn for_each_entry(&mut self, namespace: &str, f: &mut dyn FnMut(&str, EntryInfo)) -> Result<(), KvError> {
        self.nvs()?.for_each_entry(namespace, f)
    }
    fn protection(&self) -> Protection {
        match &self.state {
            State::Mounted(n) => n.protection(),
            State::Failed(_) | State::Stale => Protection::None,
        }
    }
}

impl<F: NorFlash> MfgStore for MfgStorage<'_, F> {
    fn unreadable(&self) -> Option<Unreadable> {
        match self.state {
            State::Mounted(_) | State::Stale => None,
            State::Failed(u) => Some(u),
        }
    }

    fn partitions(&mut self) -> Option<&mut dyn UserPartitions> {
        Some(self)
    }
}
