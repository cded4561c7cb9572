//! Writing: ESP-IDF's append-only log over NOR flash.
//!
//! * An item is written (header entry, then its data entries, one flash write), *then* its
//!   bitmap bits go to WRITTEN, words from the last to the first — so the header's bits are
//!   the last to change and a torn item never looks complete.
//! * A new value is written before the old one is erased (bitmap → ERASED): a power cut
//!   leaves the old or the new value, and the mount picks the newest valid copy.
//! * Multi-page blobs: chunks (`BLOB_DATA`, chunk indices `chunkStart + n`) first, then the
//!   index (`BLOB_IDX`); an update uses the other version (`chunkStart` 0x00 ⇄ 0x80) so old
//!   and new chunks coexist until the old index and chunks are erased.
//! * A full page is marked FULL and the next free page is activated with the next sequence
//!   number. When only one free page is left, the page with the most unused entries is
//!   reclaimed: marked FREEING, its live items copied to the free page, then erased — so one
//!   free page always remains. The copy target's header is written before the victim is
//!   erased, so the partition never passes through a state without a valid page header.
//! * Only `NorFlash::write` (clearing bits) and whole-page `erase`: no sector is ever read,
//!   erased and rewritten.

use alloc::vec;
use alloc::vec::Vec;

use at_hal::kv::{Kv, KvError, MAX_BLOB_LEN, Protection, Value, validate_value};
use embedded_storage::nor_flash::NorFlash;

use crate::crc::crc32;
use crate::crypto::NvsKeys;
use crate::format::{
    BITMAP_OFFSET, CHUNK_ANY, CHUNK_MAX_SIZE, ENTRY_COUNT, ENTRY_SIZE, EntryState, Item, ItemType, NS_INDEX,
    PAGE_SIZE, PageHeader, PageState, VER_0_OFFSET, VER_1_OFFSET, var_span,
};
use crate::scan;
use crate::store::{ItemKey, Loc, Nvs, PageMeta, Repairs, WRITE_VERSION, blob_chunk_keys, name_field};

/// What an item carries: an 8-byte primitive field or variable-length data.
#[derive(Clone, Copy)]
enum Payload<'a> {
    Prim([u8; 8]),
    Var(&'a [u8]),
}

impl<F: NorFlash> Nvs<F> {
    /// Mount read-write. Applies ESP-IDF's load-time repairs by NOR writes: completes an
    /// interrupted reclaim (FREEING page), marks erased what is torn, duplicated (older
    /// copies), inconsistent or orphaned. A blank partition mounts as an empty store; its
    /// first page is written with the first value.
    ///
    /// Never formats or erases a partition it cannot read: those fail with
    /// [`KvError::Unreadable`] before anything is written. [`KvError::Flash`] if the flash
    /// fails, or its geometry is unsupported (`WRITE_SIZE` must divide 4, `ERASE_SIZE` divide
    /// 4096, `READ_SIZE` divide 32).
    pub fn mount(flash: F, keys: Option<&NvsKeys>) -> Result<Nvs<F>, KvError> {
        if F::WRITE_SIZE == 0
            || !4usize.is_multiple_of(F::WRITE_SIZE)
            || F::ERASE_SIZE == 0
            || !PAGE_SIZE.is_multiple_of(F::ERASE_SIZE)
        {
            return Err(KvError::Flash);
        }
        let (mut nvs, repairs) = Nvs::load(flash, keys, false)?;
        nvs.apply_repairs(repairs)?;
        Ok(nvs)
    }

    fn apply_repairs(&mut self, r: Repairs) -> Result<(), KvError> {
        if let Some(t) = r.drop_target {
            self.erase_page(t)?;
        }
        let used: Vec<u16> = self.order.clone();
        for s in used {
            self.sync_bitmap(s)?;
        }
        for f in r.freeing {
            let still_freeing = self.order.contains(&f) && self.pages[f as usize].state == PageState::Freeing;
            if still_freeing && !self.free.is_empty() {
                self.move_out(f)?;
            }
        }
        Ok(())
    }

    fn guard_write(&self) -> Result<(), KvError> {
        if self.read_only {
            return Err(KvError::ReadOnly);
        }
        self.check_usable()
    }

    fn flash_write(&mut self, addr: usize, data: &[u8]) -> Result<(), KvError> {
        let r = u32::try_from(addr).map_err(|_| ()).and_then(|a| self.flash.write(a, data).map_err(|_| ()));
        r.map_err(|()| {
            self.poisoned = true;
            KvError::Flash
        })
    }

    fn flash_read(&mut self, addr: usize, buf: &mut [u8]) -> Result<(), KvError> {
        scan::read(&mut self.flash, addr, buf).map_err(|()| {
            self.poisoned = true;
            KvError::Flash
        })
    }

    /// Erase page `s` and return it to the free list.
    fn erase_page(&mut self, s: u16) -> Result<(), KvError> {
        let from = s as usize * PAGE_SIZE;
        let r = u32::try_from(from)
            .ok()
            .zip(u32::try_from(from + PAGE_SIZE).ok())
            .ok_or(())
            .and_then(|(a, b)| self.flash.erase(a, b).map_err(|_| ()));
        if r.is_err() {
            self.poisoned = true;
            return Err(KvError::Flash);
        }
        self.pages[s as usize] = PageMeta {
            state: PageState::Uninitialized,
            seq: 0,
            header_on_flash: false,
            bitmap: crate::format::Bitmap::EMPTY,
            flash_bitmap: crate::format::Bitmap::EMPTY,
            next_free: 0,
            used: 0,
        };
        self.order.retain(|&o| o != s);
        self.items.retain(|_, l| l.sector != s);
        if !self.free.contains(&s) {
            self.free.push_back(s);
        }
        Ok(())
    }

    fn set_page_state(&mut self, s: u16, state: PageState) -> Result<(), KvError> {
        self.ensure_header(s)?;
        self.flash_write(s as usize * PAGE_SIZE, &state.raw().to_le_bytes())?;
        self.pages[s as usize].state = state;
        Ok(())
    }

    fn ensure_header(&mut self, s: u16) -> Result<(), KvError> {
        let p = &self.pages[s as usize];
        if p.header_on_flash {
            return Ok(());
        }
        let hdr = PageHeader::encode(PageState::Active, p.seq, WRITE_VERSION);
        self.flash_write(s as usize * PAGE_SIZE, &hdr)?;
        self.pages[s as usize].header_on_flash = true;
        Ok(())
    }

    /// Write the bitmap words of page `s` that differ from flash, last word first.
    fn sync_bitmap(&mut self, s: u16) -> Result<(), KvError> {
        for w in (0..8).rev() {
            let p = &self.pages[s as usize];
            let want = &p.bitmap.0[4 * w..4 * w + 4];
            if want == &p.flash_bitmap.0[4 * w..4 * w + 4] {
                continue;
            }
            let mut word = [0u8; 4];
            word.copy_from_slice(want);
            self.flash_write(s as usize * PAGE_SIZE + BITMAP_OFFSET + 4 * w, &word)?;
            self.pages[s as usize].flash_bitmap.0[4 * w..4 * w + 4].copy_from_slice(&word);
        }
        Ok(())
    }

    /// Activate the next free page (in memory; its header is written with its first item).
    fn activate(&mut self) -> Result<u16, KvError> {
        let s = *self.free.front().ok_or(KvError::NoSpace)?;
        if self.pages[s as usize].state != PageState::Uninitialized {
            // A page that was not 0xFF throughout at mount: erase before use, as ESP-IDF.
            self.erase_page(s)?;
        }
        self.free.retain(|&f| f != s);
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.pages[s as usize] = PageMeta {
            state: PageState::Active,
            seq,
            header_on_flash: false,
            bitmap: crate::format::Bitmap::EMPTY,
            flash_bitmap: crate::format::Bitmap::EMPTY,
            next_free: 0,
            used: 0,
        };
        self.order.push(s);
        Ok(s)
    }

    /// The page writes go to, if it is ACTIVE.
    fn current(&self) -> Option<u16> {
        self.order.last().copied().filter(|&s| self.pages[s as usize].state == PageState::Active)
    }

    fn mark_full(&mut self, s: u16) -> Result<(), KvError> {
        if self.pages[s as usize].state == PageState::Active {
            self.set_page_state(s, PageState::Full)?;
        }
        Ok(())
    }

    /// ESP-IDF `PageManager::requestNewPage`: activate a free page if two are left, else
    /// reclaim the page with the most unused entries into the last free page.
    fn request_new_page(&mut self) -> Result<(), KvError> {
        if self.free.len() >= 2 {
            self.activate()?;
            return Ok(());
        }
        if self.free.is_empty() {
            return Err(KvError::NoSpace);
        }
        let mut victim = None;
        let mut max_unused = 0;
        for &s in &self.order {
            let unused = ENTRY_COUNT - self.pages[s as usize].used.min(ENTRY_COUNT);
            if unused > max_unused {
                victim = Some(s);
                max_unused = unused;
            }
        }
        let victim = victim.ok_or(KvError::NoSpace)?;
        self.set_page_state(victim, PageState::Freeing)?;
        self.move_out(victim)
    }

    /// Copy the live items of `victim` into a newly activated page, then erase `victim`.
    fn move_out(&mut self, victim: u16) -> Result<(), KvError> {
        let target = self.activate()?;
        self.ensure_header(target)?;
        let mut locs: Vec<(ItemKey, Loc)> =
            self.items.iter().filter(|(_, l)| l.sector == victim).map(|(k, l)| (*k, *l)).collect();
        locs.sort_unstable_by_key(|(_, l)| l.entry);
        for (k, loc) in locs {
            let span = loc.item.span as usize;
            let mut raw = vec![0u8; span * ENTRY_SIZE];
            self.flash_read(scan::entry_addr(victim as usize, loc.entry as usize) as usize, &mut raw)?;
            if let Some(c) = &self.cipher {
                for (j, e) in raw.chunks_exact_mut(ENTRY_SIZE).enumerate() {
                    let mut buf = [0u8; 32];
                    buf.copy_from_slice(e);
                    c.decrypt(scan::entry_addr(victim as usize, loc.entry as usize + j), &mut buf);
                    e.copy_from_slice(&buf);
                }
            }
            let entry = self.pages[target as usize].next_free;
            if entry + span > ENTRY_COUNT {
                return Err(KvError::NoSpace);
            }
            self.put_entries(target, &raw)?;
            self.items.insert(k, Loc { sector: target, entry: entry as u8, ..loc });
        }
        self.erase_page(victim)
    }

    /// Append `plain` (whole entries) at the next free entry of page `s` and mark them
    /// WRITTEN.
    fn put_entries(&mut self, s: u16, plain: &[u8]) -> Result<u8, KvError> {
        self.ensure_header(s)?;
        let first = self.pages[s as usize].next_free;
        let span = plain.len() / ENTRY_SIZE;
        let mut bytes = plain.to_vec();
        if let Some(c) = &self.cipher {
            for (j, e) in bytes.chunks_exact_mut(ENTRY_SIZE).enumerate() {
                let mut buf = [0u8; 32];
                buf.copy_from_slice(e);
                c.encrypt(scan::entry_addr(s as usize, first + j), &mut buf);
                e.copy_from_slice(&buf);
            }
        }
        self.flash_write(scan::entry_addr(s as usize, first) as usize, &bytes)?;
        let p = &mut self.pages[s as usize];
        for i in first..first + span {
            p.bitmap.set(i, EntryState::Written);
        }
        p.next_free = first + span;
        p.used += span;
        self.sync_bitmap(s)?;
        Ok(first as u8)
    }

    /// Write one item into the current page, moving to a new page once if it does not fit
    /// (ESP-IDF `Storage::writeItem`).
    fn write_item(
        &mut self,
        ns: u8,
        ty: ItemType,
        key: [u8; 16],
        chunk: u8,
        payload: Payload<'_>,
    ) -> Result<Loc, KvError> {
        let (span, data) = match payload {
            Payload::Prim(d) => (1, d),
            Payload::Var(d) => {
                let mut f = [0xFFu8; 8];
                f[..2].copy_from_slice(&(d.len() as u16).to_le_bytes());
                f[4..].copy_from_slice(&crc32(d).to_le_bytes());
                (var_span(d.len()), f)
            }
        };
        let item = Item::new(ns, ty, span as u8, chunk, key, data);
        let mut plain = vec![0xFFu8; span * ENTRY_SIZE];
        plain[..ENTRY_SIZE].copy_from_slice(&item.to_bytes());
        if let Payload::Var(d) = payload {
            plain[ENTRY_SIZE..ENTRY_SIZE + d.len()].copy_from_slice(d);
        }
        for attempt in 0..2 {
            if let Some(s) = self.current()
                && self.pages[s as usize].next_free + span <= ENTRY_COUNT
            {
                let entry = self.put_entries(s, &plain)?;
                return Ok(Loc { sector: s, entry, item, ty });
            }
            if let Some(s) = self.current() {
                self.mark_full(s)?;
            }
            if attempt == 0 {
                self.request_new_page()?;
            }
        }
        Err(KvError::NoSpace)
    }

    /// Bytes a new chunk can take on the current page (ESP-IDF `getVarDataTailroom`).
    fn tailroom(&self) -> usize {
        match self.current() {
            None => 0,
            Some(s) => {
                let next = self.pages[s as usize].next_free;
                if next < ENTRY_COUNT - 1 { (ENTRY_COUNT - next - 1) * ENTRY_SIZE } else { 0 }
            }
        }
    }

    /// Largest blob this partition accepts (ESP-IDF: `min(pages - 1, 127) * 4000`).
    pub fn max_blob_len(&self) -> usize {
        let pages = self.pages.len().saturating_sub(1).min(127);
        (pages * CHUNK_MAX_SIZE).min(MAX_BLOB_LEN)
    }

    /// ESP-IDF `Storage::writeMultiPageBlob`: chunks, then the index. On failure the chunks
    /// written so far are erased again.
    fn write_blob(&mut self, ns: u8, key: [u8; 16], data: &[u8], chunk_start: u8) -> Result<Loc, KvError> {
        let mut written: Vec<ItemKey> = Vec::new();
        let r = self.write_blob_inner(ns, key, data, chunk_start, &mut written);
        if r.is_err() && !self.poisoned {
            for k in written {
                if let Some(l) = self.items.remove(&k) {
                    self.erase_loc(&l)?;
                }
            }
        }
        r
    }

    fn write_blob_inner(
        &mut self,
        ns: u8,
        key: [u8; 16],
        data: &[u8],
        chunk_start: u8,
        written: &mut Vec<ItemKey>,
    ) -> Result<Loc, KvError> {
        let size = data.len();
        let mut count: u8 = 0;
        let mut offset = 0;
        let max_iterations = 4 * self.pages.len() + 8;
        for _ in 0..max_iterations {
            if self.current().is_none() {
                self.request_new_page()?;
            }
            let tailroom = self.tailroom();
            if count == 0
                && (tailroom < size || (tailroom == 0 && size == 0))
                && tailroom < CHUNK_MAX_SIZE / 10
            {
                // First chunk and little room here: start on a fresh page.
                if let Some(s) = self.current() {
                    self.mark_full(s)?;
                }
                self.request_new_page()?;
                if self.tailroom() == tailroom {
                    return Err(KvError::NoSpace);
                }
                continue;
            } else if tailroom == 0 {
                return Err(KvError::NoSpace);
            }
            if count >= 127 {
                return Err(KvError::NoSpace);
            }
            let chunk = (size - offset).min(tailroom);
            let ck = ItemKey { ns, key, chunk: chunk_start.wrapping_add(count) };
            let loc = self.write_item(
                ns,
                ItemType::BlobData,
                key,
                ck.chunk,
                Payload::Var(&data[offset..offset + chunk]),
            )?;
            self.items.insert(ck, loc);
            written.push(ck);
            count += 1;
            offset += chunk;
            if offset < size || tailroom - chunk < ENTRY_SIZE {
                if let Some(s) = self.current() {
                    self.mark_full(s)?;
                }
                self.request_new_page()?;
            }
            if offset == size {
                let mut d = [0xFFu8; 8];
                d[..4].copy_from_slice(&(size as u32).to_le_bytes());
                d[4] = count;
                d[5] = chunk_start;
                return self.write_item(ns, ItemType::BlobIdx, key, CHUNK_ANY, Payload::Prim(d));
            }
        }
        Err(KvError::NoSpace)
    }

    /// Mark the entries of one item ERASED.
    fn erase_loc(&mut self, loc: &Loc) -> Result<(), KvError> {
        let Some(p) = self.pages.get_mut(loc.sector as usize) else { return Ok(()) };
        let first = loc.entry as usize;
        for i in first..(first + loc.item.span as usize).min(ENTRY_COUNT) {
            if p.bitmap.get(i) == EntryState::Written {
                p.used = p.used.saturating_sub(1);
            }
            p.bitmap.set(i, EntryState::Erased);
        }
        self.sync_bitmap(loc.sector)
    }

    /// Erase a value that is no longer in the index (and, for a blob index, its chunks).
    fn erase_old(&mut self, old: &Loc) -> Result<(), KvError> {
        self.erase_loc(old)?;
        if old.ty == ItemType::BlobIdx {
            for ck in blob_chunk_keys(old) {
                if let Some(c) = self.items.remove(&ck) {
                    self.erase_loc(&c)?;
                }
            }
        }
        Ok(())
    }

    fn ensure_namespace(&mut self, name: [u8; 16]) -> Result<u8, KvError> {
        if let Some(&i) = self.ns_by_name.get(&name) {
            return Ok(i);
        }
        let mut used = [false; 256];
        for &i in self.ns_by_name.values() {
            used[i as usize] = true;
        }
        let idx = (1u8..=254).find(|&i| !used[i as usize]).ok_or(KvError::NoSpace)?;
        let loc = self.write_item(NS_INDEX, ItemType::U8, name, CHUNK_ANY, Payload::Prim(prim(&[idx])))?;
        if let Some(old) = self.items.insert(ItemKey::value(NS_INDEX, name), loc) {
            self.erase_old(&old)?;
        }
        self.ns_by_name.insert(name, idx);
        Ok(idx)
    }

    /// Whether the stored value at `loc` already equals `value` (then nothing is written,
    /// as ESP-IDF does).
    fn same_value(&mut self, ns: u8, loc: &Loc, value: &Value<'_>) -> Result<bool, KvError> {
        let Some(info) = crate::store::entry_info(loc) else { return Ok(false) };
        if info.value_type != value.value_type() || info.len != value.len() {
            return Ok(false);
        }
        if let Some(bytes) = value.as_bytes() {
            let mut buf = vec![0u8; info.len];
            let r = if loc.ty == ItemType::BlobIdx {
                self.read_blob(ns, loc, &mut buf)
            } else {
                self.read_var(loc, &mut buf)
            };
            return Ok(r.is_ok() && buf == bytes);
        }
        let (_, d) = int_field(value);
        Ok(d == loc.item.data)
    }

    /// [`Kv::set`] for this store.
    pub fn set(&mut self, namespace: &str, key: &str, value: Value<'_>) -> Result<(), KvError> {
        let nsf = name_field(namespace)?;
        let kf = name_field(key)?;
        validate_value(&value)?;
        self.guard_write()?;
        if let Value::Blob(b) = value
            && b.len() > self.max_blob_len()
        {
            return Err(KvError::ValueTooLong { max: self.max_blob_len() });
        }
        let ns = self.ensure_namespace(nsf)?;
        let k = ItemKey::value(ns, kf);
        let old = self.items.get(&k).copied();
        if let Some(o) = &old
            && self.same_value(ns, o, &value)?
        {
            return Ok(());
        }
        let loc = match value {
            Value::Str(s) => {
                let mut z = Vec::with_capacity(s.len() + 1);
                z.extend_from_slice(s);
                z.push(0);
                self.write_item(ns, ItemType::Sz, kf, CHUNK_ANY, Payload::Var(&z))?
            }
            Value::Blob(b) => {
                let start = match old {
                    Some(o) if o.ty == ItemType::BlobIdx => {
                        if o.item.blob_chunk_start() < VER_1_OFFSET {
                            VER_1_OFFSET
                        } else {
                            VER_0_OFFSET
                        }
                    }
                    _ => VER_0_OFFSET,
                };
                self.write_blob(ns, kf, b, start)?
            }
            _ => {
                let (ty, d) = int_field(&value);
                self.write_item(ns, ty, kf, CHUNK_ANY, Payload::Prim(d))?
            }
        };
        // The index may have moved the old value during a reclaim: look it up again.
        let old = self.items.insert(k, loc);
        if let Some(o) = old {
            self.erase_old(&o)?;
        }
        Ok(())
    }

    /// [`Kv::erase`] for this store.
    pub fn erase(&mut self, namespace: &str, key: &str) -> Result<(), KvError> {
        let (ns, _) = self.lookup(namespace, key)?;
        self.guard_write()?;
        let k = ItemKey::value(ns, name_field(key)?);
        let loc = self.items.remove(&k).ok_or(KvError::NotFound)?;
        self.erase_old(&loc)
    }

    /// [`Kv::erase_namespace`] for this store: every entry of the namespace; the namespace
    /// stays registered (as in NVS).
    pub fn erase_namespace(&mut self, namespace: &str) -> Result<(), KvError> {
        let nsf = name_field(namespace)?;
        self.guard_write()?;
        let Some(&ns) = self.ns_by_name.get(&nsf) else { return Ok(()) };
        let start = ItemKey { ns, key: [0; 16], chunk: 0 };
        let end = ItemKey { ns, key: [0xFF; 16], chunk: 0xFF };
        let keys: Vec<ItemKey> = self.items.range(start..=end).map(|(k, _)| *k).collect();
        for k in keys.iter().filter(|k| k.chunk == CHUNK_ANY) {
            if let Some(loc) = self.items.remove(k) {
                self.erase_old(&loc)?;
            }
        }
        for k in keys.iter().filter(|k| k.chunk != CHUNK_ANY) {
            if let Some(loc) = self.items.remove(k) {
                self.erase_loc(&loc)?;
            }
        }
        Ok(())
    }
}

/// An integer value as its item type and 0xFF-padded little-endian field.
fn int_field(value: &Value<'_>) -> (ItemType, [u8; 8]) {
    match *value {
        Value::U8(v) => (ItemType::U8, prim(&v.to_le_bytes())),
        Value::I8(v) => (ItemType::I8, prim(&v.to_le_bytes())),
        Value::U16(v) => (ItemType::U16, prim(&v.to_le_bytes())),
        Value::I16(v) => (ItemType::I16, prim(&v.to_le_bytes())),
        Value::U32(v) => (ItemType::U32, prim(&v.to_le_bytes())),
        Value::I32(v) => (ItemType::I32, prim(&v.to_le_bytes())),
        Value::U64(v) => (ItemType::U64, prim(&v.to_le_bytes())),
        Value::I64(v) => (ItemType::I64, prim(&v.to_le_bytes())),
        Value::Str(_) | Value::Blob(_) => (ItemType::Blob, [0xFF; 8]),
    }
}

fn prim(bytes: &[u8]) -> [u8; 8] {
    let mut d = [0xFFu8; 8];
    let n = bytes.len().min(8);
    d[..n].copy_from_slice(&bytes[..n]);
    d
}

impl<F: NorFlash> Kv for Nvs<F> {
    fn info(&mut self, namespace: &str, key: &str) -> Result<at_hal::kv::EntryInfo, KvError> {
        Nvs::info(self, namespace, key)
    }
    fn get<'b>(&mut self, namespace: &str, key: &str, buf: &'b mut [u8]) -> Result<Value<'b>, KvError> {
        Nvs::get(self, namespace, key, buf)
    }
    fn set(&mut self, namespace: &str, key: &str, value: Value<'_>) -> Result<(), KvError> {
        Nvs::set(self, namespace, key, value)
    }
    fn erase(&mut self, namespace: &str, key: &str) -> Result<(), KvError> {
        Nvs::erase(self, namespace, key)
    }
    fn erase_namespace(&mut self, namespace: &str) -> Result<(), KvError> {
        Nvs::erase_namespace(self, namespace)
    }
    fn for_each_namespace(&mut self, f: &mut dyn FnMut(&str)) -> Result<(), KvError> {
        Nvs::for_each_namespace(self, f)
    }
    fn for_each_entry(
        &mut self,
        namespace: &str,
        f: &mut dyn FnMut(&str, at_hal::kv::EntryInfo),
    ) -> Result<(), KvError> {
        Nvs::for_each_entry(self, namespace, f)
    }
    fn protection(&self) -> Protection {
        if self.cipher.is_some() { Protection::Confidential } else { Protection::None }
    }
}
