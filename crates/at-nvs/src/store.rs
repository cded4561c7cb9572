//! The store: mount (ESP-IDF's load rules), the in-memory index, and reads.
//!
//! Writes live in [`crate::write`]; both work on [`Nvs`].

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use at_hal::kv::{EntryInfo, KvError, Value, ValueType, validate_name};
use embedded_storage::nor_flash::ReadNorFlash;

use crate::crypto::{EntryCipher, NvsKeys};
use crate::format::{
    Bitmap, CHUNK_ANY, ENTRY_COUNT, ENTRY_SIZE, EntryState, Item, ItemType, NS_INDEX, PAGE_SIZE, PageState,
    VERSION_2, key_field,
};
use crate::scan::{self, PageKind};

/// Index key of a live item: namespace, key, and chunk index (`CHUNK_ANY` for everything
/// but `BLOB_DATA`, whatever the item stores there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ItemKey {
    pub ns: u8,
    pub key: [u8; 16],
    pub chunk: u8,
}

impl ItemKey {
    pub(crate) fn value(ns: u8, key: [u8; 16]) -> ItemKey {
        ItemKey { ns, key, chunk: CHUNK_ANY }
    }

    fn of(item: &Item, ty: ItemType) -> ItemKey {
        let chunk = if ty == ItemType::BlobData { item.chunk } else { CHUNK_ANY };
        ItemKey { ns: item.ns, key: item.key, chunk }
    }
}

/// Where a live item is, with its decoded header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Loc {
    pub sector: u16,
    pub entry: u8,
    pub item: Item,
    pub ty: ItemType,
}

/// What the store knows about one page.
#[derive(Debug, Clone)]
pub(crate) struct PageMeta {
    /// `Uninitialized`/`Corrupt` for free pages; `Active`/`Full`/`Freeing` for used ones.
    pub state: PageState,
    pub seq: u32,
    /// `false` for a page activated in memory whose header is not written yet (ESP-IDF
    /// writes it with the first item).
    pub header_on_flash: bool,
    pub bitmap: Bitmap,
    /// The bitmap as it is on flash (differs from `bitmap` until a write syncs it, and
    /// forever on a read-only mount that repaired in memory).
    pub flash_bitmap: Bitmap,
    /// First entry available for writing.
    pub next_free: usize,
    /// Entries in state WRITTEN.
    pub used: usize,
}

impl PageMeta {
    fn free(state: PageState) -> PageMeta {
        PageMeta {
            state,
            seq: 0,
            header_on_flash: false,
            bitmap: Bitmap::EMPTY,
            flash_bitmap: Bitmap::EMPTY,
            next_free: 0,
            used: 0,
        }
    }
}

/// Space accounting, like ESP-IDF's `nvs_get_stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NvsStats {
    /// Whole pages in the partition.
    pub pages: usize,
    /// Pages in use (active, full, or being freed).
    pub used_pages: usize,
    /// Pages free for activation (erased, or unreadable and to be erased before use).
    pub free_pages: usize,
    /// Entries holding live or stale data (WRITTEN).
    pub used_entries: usize,
    /// Entries erased but not yet reclaimed.
    pub erased_entries: usize,
    /// Entries never written, on used and free pages.
    pub free_entries: usize,
    /// Namespaces registered in the namespace table.
    pub namespaces: usize,
    /// Live values (a multi-page blob counts once).
    pub values: usize,
}

/// Repairs a read-write mount applies after loading (everything ESP-IDF's load applies).
#[derive(Debug, Default)]
pub(crate) struct Repairs {
    /// The partial copy target of an interrupted reclaim, to be erased.
    pub drop_target: Option<u16>,
    /// Pages in FREEING state whose live items must be moved before erasing them.
    pub freeing: Vec<u16>,
    /// Entry ranges to mark ERASED: `(sector, first, count)`.
    pub erase: Vec<(u16, u8, u8)>,
}

/// An ESP-IDF NVS partition, mounted. See the [crate docs](crate) for the rules it follows.
///
/// `F` is the flash holding the partition, address 0 = partition start. Pass `&mut flash` to
/// keep ownership (`embedded-storage` implements the traits for `&mut F`).
pub struct Nvs<F> {
    pub(crate) flash: F,
    pub(crate) cipher: Option<EntryCipher>,
    pub(crate) read_only: bool,
    /// Set after a flash error during a write: the in-memory state may no longer match the
    /// flash, so every later operation fails until the partition is mounted again.
    pub(crate) poisoned: bool,
    pub(crate) pages: Vec<PageMeta>,
    /// Used pages in sequence order; the last one is where writes go.
    pub(crate) order: Vec<u16>,
    /// Free pages in the order they will be activated.
    pub(crate) free: VecDeque<u16>,
    pub(crate) next_seq: u32,
    pub(crate) items: BTreeMap<ItemKey, Loc>,
    pub(crate) ns_by_name: BTreeMap<[u8; 16], u8>,
}

impl<F> core::fmt::Debug for Nvs<F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Nvs")
            .field("pages", &self.pages.len())
            .field("encrypted", &self.cipher.is_some())
            .field("read_only", &self.read_only)
            .field("items", &self.items.len())
            .finish_non_exhaustive()
    }
}

/// A name as the 16-byte key field, after validation.
pub(crate) fn name_field(name: &str) -> Result<[u8; 16], KvError> {
    validate_name(name)?;
    Ok(key_field(name.as_bytes()))
}

impl<F: ReadNorFlash> Nvs<F> {
    /// Mount read-only: never writes or erases anything. The load-time repairs of a
    /// read-write mount (interrupted reclaim, duplicates, torn items) are applied in memory
    /// only. With `keys`, the partition is NVS-encrypted.
    ///
    /// Fails with [`KvError::Unreadable`] if the partition cannot be read as NVS (see
    /// [`classify`](crate::classify())), and with [`KvError::Flash`] if the flash fails or
    /// its `READ_SIZE` does not divide 32.
    pub fn mount_read_only(flash: F, keys: Option<&NvsKeys>) -> Result<Nvs<F>, KvError> {
        let (nvs, _) = Nvs::load(flash, keys, true)?;
        Ok(nvs)
    }

    /// Load the partition and build the index. `read_only` decides how an interrupted
    /// reclaim is resolved (see [`Repairs`]).
    pub(crate) fn load(
        mut flash: F,
        keys: Option<&NvsKeys>,
        read_only: bool,
    ) -> Result<(Nvs<F>, Repairs), KvError> {
        if F::READ_SIZE == 0 || !ENTRY_SIZE.is_multiple_of(F::READ_SIZE) {
            return Err(KvError::Flash);
        }
        let page_count = flash.capacity() / PAGE_SIZE;
        if page_count == 0 || page_count > usize::from(u16::MAX) {
            return Err(KvError::Flash);
        }
        let cipher = keys.map(EntryCipher::new);
        let scan = scan::scan(&mut flash, cipher.as_ref()).map_err(|_| KvError::Flash)?;

        // Refuse what cannot be read; never "format" it. The rules are classify's: the same
        // verdict, the same diagnosis.
        if let Some(u) = crate::classify::mount_verdict(&scan, keys.is_some()).unreadable() {
            return Err(KvError::Unreadable(u));
        }

        let mut pages = Vec::with_capacity(page_count);
        let mut order: Vec<(u32, u16)> = Vec::new();
        let mut free = VecDeque::new();
        let mut max_seq: Option<u32> = None;
        for (sector, p) in scan.pages.iter().enumerate() {
            let s = sector as u16;
            match p.kind {
                PageKind::Blank => {
                    pages.push(PageMeta::free(PageState::Uninitialized));
                    free.push_back(s);
                }
                PageKind::Corrupt { .. } => {
                    pages.push(PageMeta::free(PageState::Corrupt));
                    free.push_back(s);
                }
                PageKind::Valid { state, seq, .. } => {
                    max_seq = Some(max_seq.map_or(seq, |m: u32| m.max(seq)));
                    pages.push(PageMeta {
                        state,
                        seq,
                        header_on_flash: true,
                        bitmap: p.bitmap,
                        flash_bitmap: p.bitmap,
                        next_free: p.next_free,
                        used: p.bitmap.count(EntryState::Written),
                    });
                    order.push((seq, s));
                }
            }
        }
        order.sort_unstable();
        let order: Vec<u16> = order.into_iter().map(|(_, s)| s).collect();

        let mut repairs = Repairs::default();
        // An interrupted reclaim: the FREEING page still holds every item; the newest page,
        // if ACTIVE and newer, is the partial copy. A read-write mount erases that copy and
        // redoes the move (ESP-IDF `PageManager::load`); read-only keeps both in view.
        let freeing: Vec<u16> =
            order.iter().copied().filter(|&s| pages[s as usize].state == PageState::Freeing).collect();
        if let (Some(&first_freeing), Some(&newest)) = (freeing.first(), order.last())
            && !read_only
            && newest != first_freeing
            && pages[newest as usize].state == PageState::Active
            && pages[newest as usize].seq > pages[first_freeing as usize].seq
        {
            repairs.drop_target = Some(newest);
        }
        repairs.freeing = freeing;

        let mut nvs = Nvs {
            flash,
            cipher,
            read_only,
            poisoned: false,
            pages,
            order,
            free,
            next_seq: max_seq.map_or(0, |m| m.wrapping_add(1)),
            items: BTreeMap::new(),
            ns_by_name: BTreeMap::new(),
        };
        nvs.resolve(&scan, &mut repairs);
        Ok((nvs, repairs))
    }

    /// Build the index from the scan: the newest valid copy of every `(ns, key)` wins, blobs
    /// only through a consistent index, orphans ignored. Everything valid but not live goes
    /// to `repairs.erase`, as do the scan's own findings.
    fn resolve(&mut self, scan: &scan::Scan, repairs: &mut Repairs) {
        // Candidates in age order: page sequence, then entry index.
        let mut values: BTreeMap<ItemKey, Vec<Loc>> = BTreeMap::new();
        let mut chunks: BTreeMap<ItemKey, Loc> = BTreeMap::new();
        for &sector in &self.order {
            let Some(p) = scan.pages.get(sector as usize) else { continue };
            if repairs.drop_target == Some(sector) {
                continue;
            }
            for &(first, count) in &p.to_erase {
                repairs.erase.push((sector, first, count));
            }
            for c in &p.items {
                let loc = Loc { sector, entry: c.entry, item: c.item, ty: c.ty };
                let k = ItemKey::of(&c.item, c.ty);
                if c.ty == ItemType::BlobData {
                    if let Some(old) = chunks.insert(k, loc) {
                        repairs.erase.push((old.sector, old.entry, old.item.span));
                    }
                } else {
                    values.entry(k).or_default().push(loc);
                }
            }
        }

        let mut used_chunks: BTreeMap<ItemKey, Loc> = BTreeMap::new();
        for (k, cands) in values {
            let mut winner = None;
            for loc in cands.iter().rev() {
                if winner.is_none() && blob_consistent(loc, &chunks) {
                    winner = Some(*loc);
                } else {
                    repairs.erase.push((loc.sector, loc.entry, loc.item.span));
                }
            }
            let Some(loc) = winner else { continue };
            if loc.ty == ItemType::BlobIdx {
                for ck in blob_chunk_keys(&loc) {
                    if let Some(c) = chunks.remove(&ck) {
                        used_chunks.insert(ck, c);
                    }
                }
            }
            if k.ns == NS_INDEX && loc.ty == ItemType::U8 {
                let idx = loc.item.data[0];
                if idx != NS_INDEX && idx != 0xFF {
                    self.ns_by_name.insert(loc.item.key, idx);
                }
            }
            self.items.insert(k, loc);
        }
        // Orphan chunks: no consistent index refers to them.
        for loc in chunks.values() {
            repairs.erase.push((loc.sector, loc.entry, loc.item.span));
        }
        self.items.extend(used_chunks);
        // Keep the in-memory bitmaps in step (a read-only mount never writes them).
        for &(sector, first, count) in &repairs.erase {
            if let Some(p) = self.pages.get_mut(sector as usize) {
                for i in first as usize..(first as usize + count as usize).min(ENTRY_COUNT) {
                    if p.bitmap.get(i) == EntryState::Written {
                        p.used = p.used.saturating_sub(1);
                    }
                    p.bitmap.set(i, EntryState::Erased);
                }
            }
        }
    }

    /// Consume the store and return the flash.
    pub fn into_inner(self) -> F {
        self.flash
    }

    /// The flash, for inspection.
    pub fn flash(&self) -> &F {
        &self.flash
    }

    /// Whether this is a read-only mount.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Whether the partition is NVS-encrypted (mounted with keys).
    pub fn is_encrypted(&self) -> bool {
        self.cipher.is_some()
    }

    /// Space accounting.
    pub fn stats(&self) -> NvsStats {
        let mut s = NvsStats { pages: self.pages.len(), ..NvsStats::default() };
        for &sector in &self.order {
            let p = &self.pages[sector as usize];
            s.used_pages += 1;
            s.used_entries += p.bitmap.count(EntryState::Written);
            s.erased_entries += p.bitmap.count(EntryState::Erased) + p.bitmap.count(EntryState::Illegal);
            s.free_entries += p.bitmap.count(EntryState::Empty);
        }
        s.free_pages = self.free.len();
        s.free_entries += s.free_pages * ENTRY_COUNT;
        s.namespaces = self.ns_by_name.len();
        s.values = self.items.keys().filter(|k| k.ns != NS_INDEX && k.chunk == CHUNK_ANY).count();
        s
    }

    pub(crate) fn check_usable(&self) -> Result<(), KvError> {
        if self.poisoned { Err(KvError::Flash) } else { Ok(()) }
    }

    pub(crate) fn lookup(&self, namespace: &str, key: &str) -> Result<(u8, Loc), KvError> {
        let nsf = name_field(namespace)?;
        let kf = name_field(key)?;
        self.check_usable()?;
        let ns = *self.ns_by_name.get(&nsf).ok_or(KvError::NotFound)?;
        let loc = *self.items.get(&ItemKey::value(ns, kf)).ok_or(KvError::NotFound)?;
        Ok((ns, loc))
    }

    /// Type and length of an entry ([`Kv::info`](at_hal::kv::Kv::info) for any flash).
    pub fn info(&mut self, namespace: &str, key: &str) -> Result<EntryInfo, KvError> {
        let (_, loc) = self.lookup(namespace, key)?;
        entry_info(&loc).ok_or(KvError::Corrupt)
    }

    /// Read an entry ([`Kv::get`](at_hal::kv::Kv::get) for any flash).
    pub fn get<'b>(&mut self, namespace: &str, key: &str, buf: &'b mut [u8]) -> Result<Value<'b>, KvError> {
        let (ns, loc) = self.lookup(namespace, key)?;
        let info = entry_info(&loc).ok_or(KvError::Corrupt)?;
        let d = loc.item.data;
        Ok(match loc.ty {
            ItemType::U8 => Value::U8(d[0]),
            ItemType::I8 => Value::I8(d[0] as i8),
            ItemType::U16 => Value::U16(u16::from_le_bytes([d[0], d[1]])),
            ItemType::I16 => Value::I16(i16::from_le_bytes([d[0], d[1]])),
            ItemType::U32 => Value::U32(u32::from_le_bytes([d[0], d[1], d[2], d[3]])),
            ItemType::I32 => Value::I32(i32::from_le_bytes([d[0], d[1], d[2], d[3]])),
            ItemType::U64 => Value::U64(u64::from_le_bytes(d)),
            ItemType::I64 => Value::I64(i64::from_le_bytes(d)),
            ItemType::Sz | ItemType::Blob | ItemType::BlobIdx => {
                let out = buf.get_mut(..info.len).ok_or(KvError::BufferTooSmall { needed: info.len })?;
                if loc.ty == ItemType::BlobIdx {
                    self.read_blob(ns, &loc, out)?;
                } else {
                    self.read_var(&loc, out)?;
                }
                if loc.ty == ItemType::Sz { Value::Str(out) } else { Value::Blob(out) }
            }
            ItemType::BlobData => return Err(KvError::Corrupt),
        })
    }

    /// Read the data of the variable-length item at `loc` into `out` (its first `out.len()`
    /// bytes), checking the data CRC over all of it.
    pub(crate) fn read_var(&mut self, loc: &Loc, out: &mut [u8]) -> Result<(), KvError> {
        let size = loc.item.var_size();
        let mut h = crate::crc::hasher();
        let mut done = 0;
        let mut j = loc.entry as usize + 1;
        while done < size && j < ENTRY_COUNT {
            let mut e = [0u8; 32];
            let addr = scan::entry_addr(loc.sector as usize, j);
            scan::read(&mut self.flash, addr as usize, &mut e).map_err(|_| KvError::Flash)?;
            if let Some(c) = &self.cipher {
                c.decrypt(addr, &mut e);
            }
            let n = (size - done).min(ENTRY_SIZE);
            h.update(&e[..n]);
            if let Some(dst) = out.get_mut(done..) {
                let m = n.min(dst.len());
                dst[..m].copy_from_slice(&e[..m]);
            }
            done += n;
            j += 1;
        }
        if done != size || h.finalize() != loc.item.var_crc() {
            return Err(KvError::Corrupt);
        }
        Ok(())
    }

    /// Read a multi-page blob through its index.
    pub(crate) fn read_blob(&mut self, ns: u8, idx: &Loc, out: &mut [u8]) -> Result<(), KvError> {
        let mut off = 0;
        for ck in blob_chunk_keys(idx) {
            let c = *self.items.get(&ck).ok_or(KvError::Corrupt)?;
            debug_assert_eq!(c.item.ns, ns);
            let n = c.item.var_size();
            let dst = out.get_mut(off..off + n).ok_or(KvError::Corrupt)?;
            self.read_var(&c, dst)?;
            off += n;
        }
        if off != out.len() {
            return Err(KvError::Corrupt);
        }
        Ok(())
    }

    /// Names of the namespaces holding at least one entry, in namespace-index order.
    pub fn for_each_namespace(&mut self, f: &mut dyn FnMut(&str)) -> Result<(), KvError> {
        self.check_usable()?;
        let mut by_index: Vec<(u8, [u8; 16])> = self.ns_by_name.iter().map(|(n, &i)| (i, *n)).collect();
        by_index.sort_unstable();
        for (idx, name) in by_index {
            let start = ItemKey { ns: idx, key: [0; 16], chunk: 0 };
            let end = ItemKey { ns: idx, key: [0xFF; 16], chunk: 0xFF };
            let any = self.items.range(start..=end).any(|(k, _)| k.chunk == CHUNK_ANY);
            if let (true, Some(s)) = (any, field_str(&name)) {
                f(s);
            }
        }
        Ok(())
    }

    /// Key and info of every entry of `namespace`, in storage order — page sequence, then
    /// entry index — as ESP-IDF's `nvs_entry_find`/`nvs_entry_next` walk them (for an image
    /// made by `nvs_partition_gen.py` that is CSV order; a rewritten key moves to the end).
    /// ESP-AT's `AT+SYSMFG=1,"<ns>"` lists keys in this order.
    pub fn for_each_entry(
        &mut self,
        namespace: &str,
        f: &mut dyn FnMut(&str, EntryInfo),
    ) -> Result<(), KvError> {
        let nsf = name_field(namespace)?;
        self.check_usable()?;
        let Some(&idx) = self.ns_by_name.get(&nsf) else { return Ok(()) };
        let start = ItemKey { ns: idx, key: [0; 16], chunk: 0 };
        let end = ItemKey { ns: idx, key: [0xFF; 16], chunk: 0xFF };
        let mut found: Vec<((u32, u8), &[u8; 16], EntryInfo)> = Vec::new();
        for (k, loc) in self.items.range(start..=end) {
            if k.chunk != CHUNK_ANY {
                continue;
            }
            if let Some(info) = entry_info(loc) {
                let seq = self.pages.get(usize::from(loc.sector)).map_or(u32::MAX, |p| p.seq);
                found.push(((seq, loc.entry), &k.key, info));
            }
        }
        found.sort_unstable_by_key(|(pos, ..)| *pos);
        for (_, key, info) in found {
            if let Some(name) = field_str(key) {
                f(name, info);
            }
        }
        Ok(())
    }
}

/// A key field as `&str` if it is a valid name (1..=15 ASCII bytes, NUL-terminated).
fn field_str(field: &[u8; 16]) -> Option<&str> {
    let n = field.iter().position(|&c| c == 0)?;
    let s = core::str::from_utf8(&field[..n]).ok()?;
    validate_name(s).ok()?;
    Some(s)
}

/// The keys of a blob index's chunks.
pub(crate) fn blob_chunk_keys(idx: &Loc) -> impl Iterator<Item = ItemKey> + use<> {
    let start = idx.item.blob_chunk_start();
    let count = idx.item.blob_chunk_count();
    let (ns, key) = (idx.item.ns, idx.item.key);
    (0..count).map_while(move |n| start.checked_add(n).map(|chunk| ItemKey { ns, key, chunk }))
}

/// Whether a value candidate is usable: always, except a blob index, which needs all its
/// chunks (each the newest copy of its chunk index) with sizes adding up to its size.
fn blob_consistent(loc: &Loc, chunks: &BTreeMap<ItemKey, Loc>) -> bool {
    if loc.ty != ItemType::BlobIdx {
        return true;
    }
    let start = loc.item.blob_chunk_start();
    let count = loc.item.blob_chunk_count();
    if usize::from(start) + usize::from(count) > usize::from(CHUNK_ANY) {
        return false;
    }
    let mut total = 0usize;
    for ck in blob_chunk_keys(loc) {
        match chunks.get(&ck) {
            Some(c) => total += c.item.var_size(),
            None => return false,
        }
    }
    total == loc.item.blob_size()
}

/// Type and length of a value item as the `Kv` trait reports them.
pub(crate) fn entry_info(loc: &Loc) -> Option<EntryInfo> {
    let (value_type, len) = match loc.ty {
        ItemType::U8 => (ValueType::U8, 1),
        ItemType::I8 => (ValueType::I8, 1),
        ItemType::U16 => (ValueType::U16, 2),
        ItemType::I16 => (ValueType::I16, 2),
        ItemType::U32 => (ValueType::U32, 4),
        ItemType::I32 => (ValueType::I32, 4),
        ItemType::U64 => (ValueType::U64, 8),
        ItemType::I64 => (ValueType::I64, 8),
        ItemType::Sz => (ValueType::Str, loc.item.var_size().saturating_sub(1)),
        ItemType::Blob => (ValueType::Blob, loc.item.var_size()),
        ItemType::BlobIdx => (ValueType::Blob, loc.item.blob_size()),
        ItemType::BlobData => return None,
    };
    Some(EntryInfo { value_type, len })
}

/// The page-header version this crate writes.
pub(crate) const WRITE_VERSION: u8 = VERSION_2;
