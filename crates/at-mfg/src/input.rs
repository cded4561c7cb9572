//! Reading the command line's numbers and files: sizes, addresses, key files, images. Every
//! failure is a message naming the file or the value; nothing here panics or writes.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use at_flash::FlashKey;
use at_nvs::NvsKeys;

/// Largest partition `generate` builds: 16 MiB, the largest flash an ESP32-C3 addresses.
pub const MAX_PARTITION_SIZE: usize = 16 << 20;

/// Largest IMAGE `inspect` reads into memory (a 16 MiB dump, with room to spare).
pub const MAX_IMAGE_SIZE: u64 = 64 << 20;

/// Length of an eFuse HMAC key (ESP32-C3 `BLOCK_KEYn`).
pub const HMAC_KEY_LEN: usize = 32;

/// A number in decimal or `0x` hex (`_` separators allowed), as `u64`.
fn parse_number(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (digits, radix) = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => (h, 16),
        None => (t, 10),
    };
    let digits: String = digits.chars().filter(|&c| c != '_').collect();
    if digits.is_empty() {
        return Err(format!("`{s}` is not a number (decimal or 0x-hex)"));
    }
    u64::from_str_radix(&digits, radix).map_err(|e| format!("`{s}` is not a number (decimal or 0x-hex): {e}"))
}

/// `generate`'s SIZE: decimal or 0x-hex, a positive multiple of 4096, at most 16 MiB.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let n = parse_number(s)?;
    let n = usize::try_from(n).map_err(|_| format!("size `{s}` is too large"))?;
    if n == 0 || !n.is_multiple_of(4096) {
        return Err(format!("size `{s}` ({n} bytes) must be a positive multiple of 4096 (0x1000)"));
    }
    if n > MAX_PARTITION_SIZE {
        return Err(format!("size `{s}` is larger than 16 MiB, the largest ESP32-C3 flash"));
    }
    Ok(n)
}

/// A 32-bit flash address: decimal or 0x-hex.
pub fn parse_u32(s: &str) -> Result<u32, String> {
    let n = parse_number(s)?;
    u32::try_from(n).map_err(|_| format!("`{s}` does not fit a 32-bit flash address"))
}

/// The whole of a small file (key files), refusing anything over `max` bytes.
fn read_small(path: &Path, what: &str, max: u64) -> Result<Vec<u8>, String> {
    let f = File::open(path).map_err(|e| format!("{what} {}: {e}", path.display()))?;
    let mut buf = Vec::new();
    f.take(max + 1).read_to_end(&mut buf).map_err(|e| format!("{what} {}: {e}", path.display()))?;
    if buf.len() as u64 > max {
        return Err(format!("{what} {}: larger than {max} bytes, not a key file", path.display()));
    }
    Ok(buf)
}

/// NVS keys from an `nvs_keys` partition image (`eky ‖ tky ‖ crc32`, then anything), CRC checked
/// as the device checks it.
pub fn nvs_keys_file(path: &Path) -> Result<NvsKeys, String> {
    let b = read_small(path, "NVS keys file", 1 << 20)?;
    NvsKeys::from_partition(&b).map_err(|e| format!("NVS keys file {}: {e}", path.display()))
}

/// NVS keys derived from a 32-byte eFuse HMAC key file.
pub fn hmac_key_file(path: &Path) -> Result<NvsKeys, String> {
    let b = read_small(path, "HMAC key file", 4096)?;
    if b.len() != HMAC_KEY_LEN {
        return Err(format!(
            "HMAC key file {}: {} bytes, expected {HMAC_KEY_LEN} (the raw eFuse HMAC_UP key)",
            path.display(),
            b.len()
        ));
    }
    Ok(NvsKeys::from_hmac_key(&b))
}

/// NVS keys from `--nvs-keys`/`--keys` or `--hmac-key` (at most one is given; clap enforces it).
pub fn nvs_keys(keys: Option<&Path>, hmac: Option<&Path>) -> Result<Option<NvsKeys>, String> {
    match (keys, hmac) {
        (Some(k), _) => nvs_keys_file(k).map(Some),
        (None, Some(h)) => hmac_key_file(h).map(Some),
        (None, None) => Ok(None),
    }
}

/// The flash-encryption key file (32 bytes, XTS-AES-128 key1 ‖ key2).
pub fn flash_key_file(path: &Path) -> Result<FlashKey, String> {
    let b = read_small(path, "flash-encryption key file", 4096)?;
    FlashKey::from_slice(&b).map_err(|e| format!("flash-encryption key file {}: {e}", path.display()))
}

/// IMAGE, read-only and bounded: a regular file of at most [`MAX_IMAGE_SIZE`] bytes.
pub fn image(path: &Path) -> Result<Vec<u8>, String> {
    let f = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let meta = f.metadata().map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.is_dir() {
        return Err(format!("{}: is a directory, not an image file", path.display()));
    }
    let mut buf = Vec::new();
    f.take(MAX_IMAGE_SIZE + 1).read_to_end(&mut buf).map_err(|e| format!("{}: {e}", path.display()))?;
    if buf.len() as u64 > MAX_IMAGE_SIZE {
        return Err(format!(
            "{}: larger than {} MiB: neither a partition image nor an ESP32-C3 flash dump",
            path.display(),
            MAX_IMAGE_SIZE >> 20
        ));
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_size("0x6000"), Ok(0x6000));
        assert_eq!(parse_size("24576"), Ok(0x6000));
        assert_eq!(parse_size("0X1F000"), Ok(0x1F000));
        assert!(parse_size("0x6001").unwrap_err().contains("multiple of 4096"));
        assert!(parse_size("0").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("0x").is_err());
        assert!(parse_size("-4096").is_err());
        assert!(parse_size("0x2000000").unwrap_err().contains("16 MiB"));
        assert!(parse_size("99999999999999999999999").is_err());
        assert_eq!(parse_u32("0x1f000"), Ok(0x1F000));
        assert_eq!(parse_u32("0x1_f000"), Ok(0x1F000));
        assert!(parse_u32("0x100000000").is_err());
        assert!(parse_u32("abc").is_err());
    }
}
