//! `at-mfg inspect`: what a partition image or a whole-flash dump holds, whether the device can
//! read it, why not, and what to do.
//!
//! **Dump or partition image?** `--dump` / `--partition` decide. Otherwise IMAGE is a dump if
//! a partition table sits at 0x8000 (parsing as stored, or after decryption with
//! `--flash-encryption-key`), or if it is at least 1 MiB (an encrypted table cannot be
//! recognised without the key; no NVS partition of ESP-AT comes near 1 MiB); else it is a
//! partition image.
//!
//! IMAGE is read once into memory through a read-only file handle and never written.
//!
//! This module judges and builds a [`Report`] (partition images in [`image`], dumps in
//! [`dump`]); [`crate::render`] prints it, as words or as JSON.

mod dump;
mod image;

use at_flash::layout::{self, TableRead};
use at_flash::table::PRIMARY_TABLE_OFFSET;
use at_flash::{FlashKey, SliceFlash};

use crate::InspectArgs;
use crate::input;
use crate::report::{Body, Report};

/// Images at least this large are taken for whole-flash dumps.
pub const DUMP_MIN_SIZE: usize = 1 << 20;

/// NVS page size.
const PAGE: usize = 4096;

/// How IMAGE is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A whole flash from address 0.
    Dump,
    /// One partition.
    Partition,
}

/// The detection rule of the module docs, with the reason in words.
pub fn detect(
    data: &[u8],
    key: Option<&FlashKey>,
    force_dump: bool,
    force_partition: bool,
) -> (Mode, String) {
    if force_dump {
        return (Mode::Dump, "--dump".into());
    }
    if force_partition {
        return (Mode::Partition, "--partition".into());
    }
    match layout::read_table(&mut SliceFlash(data), PRIMARY_TABLE_OFFSET, key) {
        Ok(TableRead::Plain(_)) => return (Mode::Dump, "a partition table at 0x8000".into()),
        Ok(TableRead::Encrypted(_)) => {
            return (Mode::Dump, "a partition table at 0x8000, decrypted with the key".into());
        }
        _ => {}
    }
    if data.len() >= DUMP_MIN_SIZE {
        return (Mode::Dump, "at least 1 MiB".into());
    }
    (Mode::Partition, "smaller than 1 MiB, no partition table at 0x8000".into())
}

/// Run `inspect`: read the inputs, judge IMAGE, and return the report.
pub fn run(args: &InspectArgs) -> Result<Report, String> {
    let data = input::image(&args.image)?;
    let nvs_keys = input::nvs_keys(args.nvs_keys.as_deref(), args.hmac_key.as_deref())?;
    let fkey = args.flash_encryption_key.as_deref().map(input::flash_key_file).transpose()?;
    let (mode, why) = detect(&data, fkey.as_ref(), args.dump, args.partition);
    let name = args.image.display().to_string();
    let body = match mode {
        Mode::Dump => {
            // A whole dump starts at flash address 0: `--offset 0` says just that.
            if let Some(o) = args.offset.filter(|&o| o != 0) {
                return Err(format!(
                    "{name} is read as a whole-flash dump ({why}), which starts at flash address 0, not \
                     0x{o:x}: --offset is for partition images (add --partition if this is one)"
                ));
            }
            Body::Dump(dump::judge(&data, fkey.as_ref(), nvs_keys.as_ref())?)
        }
        Mode::Partition => {
            let fe_given = fkey.as_ref().zip(args.offset);
            if let Some(t) = image::table_image(&data, fe_given) {
                Body::Table(t)
            } else if data.len() < PAGE && image::looks_like_ciphertext(&data) {
                Body::SmallCiphertext
            } else if data.len() < PAGE {
                return Err(format!(
                    "{name}: {} bytes, shorter than one NVS page (4096): not a partition image \
                     (truncated? a partition table is 3072 bytes)",
                    data.len()
                ));
            } else {
                let fe = flash_decryption(&name, &why, fkey.as_ref(), args.offset, data.len())?;
                Body::Image(image::judge(&data, fe, nvs_keys.as_ref())?)
            }
        }
    };
    Ok(Report { image: name, detected_by: why, size: data.len(), body })
}

/// The key and the flash address to decrypt a partition image with, checked: `None` without
/// a key; an error for a key without `--offset` or an offset that cannot hold the image.
fn flash_decryption<'k>(
    name: &str,
    why: &str,
    key: Option<&'k FlashKey>,
    offset: Option<u32>,
    len: usize,
) -> Result<Option<(&'k FlashKey, u32)>, String> {
    match (key, offset) {
        (Some(_), Some(o)) if o % 16 != 0 => Err(format!(
            "--offset 0x{o:x} is not a multiple of 16: flash encryption works on 16-byte blocks \
             (partitions start on 4 KiB boundaries)"
        )),
        (Some(_), Some(o)) if u64::from(o) + len as u64 > 1 << 32 => {
            Err(format!("--offset 0x{o:x} plus the image size passes the 4 GiB address space"))
        }
        (Some(k), Some(o)) => Ok(Some((k, o))),
        (Some(_), None) => Err(format!(
            "{name} is read as a partition image ({why}): decrypting it needs --offset, the \
             flash address it was written at (ESP-AT's mfg_nvs on the ESP32-C3: 0x1f000)"
        )),
        (None, _) => Ok(None),
    }
}
