//! The CRC-32 variant NVS uses everywhere (page headers, item headers, data, `nvs_keys`).
//!
//! ESP-IDF calls `esp_rom_crc32_le(0xFFFFFFFF, buf, len)` and Espressif's generator calls
//! `zlib.crc32(buf, 0xFFFFFFFF)`. Both invert the running value before and after the table
//! loop, so the effective parameters are: reflected polynomial 0x04C11DB7, **init 0**, xorout
//! 0xFFFFFFFF. Check value `crc("123456789") = 0xD202D277` (the standard CRC-32 would be
//! 0xCBF43926).
//!
//! Computed with the `crc` crate's bytewise table (1 KiB of flash on the chip; a 16-table
//! slicing implementation would cost 16 KiB for no gain at NVS's entry sizes).

use crc::{Algorithm, Crc, Digest, Table};

/// NVS's CRC-32 as a `crc` algorithm (see the module docs).
const NVS_CRC32: Algorithm<u32> = Algorithm {
    width: 32,
    poly: 0x04C1_1DB7,
    init: 0,
    refin: true,
    refout: true,
    xorout: 0xFFFF_FFFF,
    check: 0xD202_D277,
    residue: 0xDEBB_20E3,
};

static CRC: Crc<u32, Table<1>> = Crc::<u32, Table<1>>::new(&NVS_CRC32);

/// A running NVS CRC-32 over data given in pieces.
pub(crate) fn hasher() -> Digest<'static, u32, Table<1>> {
    CRC.digest()
}

/// CRC-32 of `data` as NVS computes it.
pub fn crc32(data: &[u8]) -> u32 {
    crc32_parts(&[data])
}

/// CRC-32 of the concatenation of `parts` (NVS chains calls over non-contiguous fields).
pub fn crc32_parts(parts: &[&[u8]]) -> u32 {
    let mut h = hasher();
    for p in parts {
        h.update(p);
    }
    h.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectors of the reference, §1.5 (verified against the tool's fixtures).
    #[test]
    fn reference_vectors() {
        assert_eq!(crc32(b"123456789"), 0xD202_D277);
        let mut hdr = [0xFFu8; 24];
        hdr[..4].copy_from_slice(&0u32.to_le_bytes());
        hdr[4] = 0xFE;
        assert_eq!(crc32(&hdr), 0xB9BA_2D84);
        hdr[..4].copy_from_slice(&1u32.to_le_bytes());
        assert_eq!(crc32(&hdr), 0x389F_48A3);
        hdr[..4].copy_from_slice(&0u32.to_le_bytes());
        hdr[4] = 0xFF;
        assert_eq!(crc32(&hdr), 0xDCDD_16C2);
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(b"at_certs");
        let data = [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
        assert_eq!(crc32_parts(&[&[0x00, 0x01, 0x01, 0xFF], &key, &data]), 0xC1AC_712C);
        assert_eq!(crc32(b"ESP32C3-TEST\0"), 0xBBDA_FC64);
    }

    #[test]
    fn chaining_equals_concatenation() {
        assert_eq!(crc32_parts(&[b"1234", b"", b"56789"]), crc32(b"123456789"));
        assert_eq!(crc32(b""), 0xFFFF_FFFF, "empty input keeps the initial value, like zlib");
    }
}
