//! [`Finding`]: what one partition holds, judged as the chip returns it, and the failure it
//! is in the shared [`Unreadable`] vocabulary.

use crate::locate::{DETAIL_PLAIN_READ_DECRYPTED, REMEDY_PLAIN_READ_DECRYPTED};
use at_hal::kv::Unreadable;
use core::fmt;

/// What a partition holds, judged as the chip would return it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(rename_all = "snake_case"))]
pub enum Finding {
    /// Not examined (app images and the `at_customize` container, whose table is reported
    /// separately).
    NotInspected,
    /// Erased (all `FF`).
    Blank,
    /// Readable NVS with this many CRC-valid entries.
    Nvs {
        /// CRC-valid written entries.
        entries: u32,
    },
    /// Valid NVS pages whose entries only make sense with the NVS keys.
    NvsEncrypted {
        /// Whether NVS keys were given and whether they decrypt it.
        keys: NvsKeysStatus,
    },
    /// NVS pages of a newer format version.
    NvsNewerVersion,
    /// A non-NVS data partition with content (not interpreted further).
    Data,
    /// The chip decrypts this partition and it holds ciphertext; `verified` when decrypting
    /// with the key gave sensible plaintext.
    EncryptedAsExpected {
        /// Whether the key confirmed it.
        verified: bool,
    },
    /// The seed bug: ciphertext in a partition the chip does **not** decrypt.
    WrittenEncryptedReadPlain {
        /// Whether decrypting with the key gave valid content (else: the key-less rule).
        confirmed_with_key: bool,
    },
    /// Plaintext in a partition the chip decrypts (the opposite mistake).
    WrittenPlainReadDecrypted,
    /// The partition does not fit the flash (only for assumed tables).
    OutsideFlash,
    /// Nothing recognisable.
    Garbage,
}

/// NVS encryption keys, for an NVS-encrypted partition.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(rename_all = "snake_case"))]
pub enum NvsKeysStatus {
    /// No `nvs_keys` given.
    Missing,
    /// The given keys decrypt no entry.
    Wrong,
    /// The given keys decrypt it.
    Ok {
        /// Entries that check out after decryption.
        entries: u32,
    },
}

impl Finding {
    /// The failure this is, if it is one.
    pub fn unreadable(self) -> Option<Unreadable> {
        match self {
            Finding::NvsEncrypted { keys: NvsKeysStatus::Missing } => Some(Unreadable::NvsKeysMissing),
            Finding::NvsEncrypted { keys: NvsKeysStatus::Wrong } => Some(Unreadable::NvsKeysWrong),
            Finding::NvsNewerVersion => Some(Unreadable::NvsNewerVersion),
            Finding::WrittenEncryptedReadPlain { .. } => Some(Unreadable::FlashEncryptedReadAsPlain),
            Finding::WrittenPlainReadDecrypted | Finding::Garbage => Some(Unreadable::Garbage),
            Finding::OutsideFlash => Some(Unreadable::PartitionNotFound),
            Finding::NotInspected
            | Finding::Blank
            | Finding::Nvs { .. }
            | Finding::NvsEncrypted { keys: NvsKeysStatus::Ok { .. } }
            | Finding::Data
            | Finding::EncryptedAsExpected { .. } => None,
        }
    }

    /// What was seen, in a few words (empty for a partition without a problem).
    pub fn detail(self) -> &'static str {
        match self {
            Finding::NvsEncrypted { keys: NvsKeysStatus::Missing } => {
                "valid NVS page headers, no entry passes its CRC: NVS-encrypted, no nvs_keys given"
            }
            Finding::NvsEncrypted { keys: NvsKeysStatus::Wrong } => {
                "NVS-encrypted, and no entry passes its CRC after decryption with the given nvs_keys"
            }
            Finding::NvsNewerVersion => "NVS pages of a newer format",
            Finding::WrittenEncryptedReadPlain { confirmed_with_key: true } => {
                "flash-encrypted (confirmed with the key), but the chip reads it plain"
            }
            Finding::WrittenEncryptedReadPlain { confirmed_with_key: false } => {
                "no valid structure and the data looks like ciphertext, but the chip reads it plain"
            }
            Finding::WrittenPlainReadDecrypted => DETAIL_PLAIN_READ_DECRYPTED,
            Finding::OutsideFlash => "partition extends past the end of the flash",
            Finding::Garbage => "neither blank, NVS, nor ciphertext",
            _ => "",
        }
    }

    /// What to do about it (empty for a partition without a problem).
    pub fn remedy(self) -> &'static str {
        match self {
            Finding::WrittenPlainReadDecrypted => REMEDY_PLAIN_READ_DECRYPTED,
            f => f.unreadable().map_or("", Unreadable::remedy),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Finding::NotInspected => f.write_str("not inspected"),
            Finding::Blank => f.write_str("blank (erased)"),
            Finding::Nvs { entries } => write!(f, "NVS, {entries} valid entries"),
            Finding::NvsEncrypted { keys: NvsKeysStatus::Missing } => {
                f.write_str("NVS-ENCRYPTED, no nvs_keys given")
            }
            Finding::NvsEncrypted { keys: NvsKeysStatus::Wrong } => {
                f.write_str("NVS-ENCRYPTED, the nvs_keys do not fit")
            }
            Finding::NvsEncrypted { keys: NvsKeysStatus::Ok { entries } } => {
                write!(f, "NVS-encrypted, {entries} valid entries with the nvs_keys")
            }
            Finding::NvsNewerVersion => f.write_str("NVS of a newer format version"),
            Finding::Data => f.write_str("data"),
            Finding::EncryptedAsExpected { verified: true } => {
                f.write_str("encrypted as expected (verified with the key)")
            }
            Finding::EncryptedAsExpected { verified: false } => {
                f.write_str("encrypted as expected (no key to verify)")
            }
            Finding::WrittenEncryptedReadPlain { confirmed_with_key: true } => {
                f.write_str("WRITTEN ENCRYPTED, READ PLAIN (confirmed with the key)")
            }
            Finding::WrittenEncryptedReadPlain { confirmed_with_key: false } => {
                f.write_str("WRITTEN ENCRYPTED, READ PLAIN (looks like ciphertext)")
            }
            Finding::WrittenPlainReadDecrypted => f.write_str("WRITTEN PLAIN, READ DECRYPTED"),
            Finding::OutsideFlash => f.write_str("OUTSIDE THE FLASH"),
            Finding::Garbage => f.write_str("GARBAGE"),
        }
    }
}
