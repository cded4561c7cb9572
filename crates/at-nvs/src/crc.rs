//! The CRC-32 variant NVS uses everywhere (page headers, item headers, data, `nvs_keys`).
//!
//! ESP-IDF calls `esp_rom_crc32_le(0xFFFFFFFF, buf, len)` and Espressif's generator calls
//! `zlib.crc32(buf, 0xFFFFFFFF)`. Both invert the running value before and after the table
//! loop, so the effective parameters are: reflected polynomial 0x04C11DB7, **init 0**, xorout
//! 0xFFFFFFFF. Check value `crc("123456789") = 0xD202D277` (the standard CRC-32 would be
//! 0xCBF43926). `crc32fast::Hasher::new_with_initial(0xFFFFFFFF)` computes exactly that.

/// CRC-32 of `data` as NVS computes it.
pub fn crc32(data: &[u8]) -> u32 {
    crc32_parts(&[data])
}

/// CRC-32 of the concatenation of `parts` (NVS chains calls over non-contiguous fields).
pub fn crc32_parts(parts: &[&[u8]]) -> u32 {
    let mut h = crc32fast::Hasher::new_with_initial(0xFFFF_FFFF);
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
