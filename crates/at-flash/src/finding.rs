//! [`Finding`]: what one partition holds, judged as the chip returns it — the per-partition
//! word of the shared vocabulary.
//!
//! ## One vocabulary, in layers
//!
//! | layer | type | says |
//! |---|---|---|
//! | `at_nvs` | [`Verdict`] | what an NVS partition's bytes hold (blank, plain NVS, NVS-encrypted with keys missing / wrong / ok, newer version, ciphertext-like, garbage) |
//! | `at_flash` | [`Finding`] | what a partition holds *as the chip reads it* (decrypted or not), confirmed with the flash-encryption key where one is given; NVS content is [`Finding::Nvs`] with the [`Verdict`] embedded |
//! | `at_hal` | [`Unreadable`] | the firmware-facing cause with its remedy (what `KvError::Unreadable` carries and the AT layer turns into an `ERR CODE`) |
//!
//! Each layer embeds the one below instead of mirroring it: [`Finding::unreadable`] gives
//! the diagnosis of a partition, and for NVS content it *is* [`Verdict::unreadable`] (the one
//! place NVS content maps to [`Unreadable`], shared with `Nvs::mount`). The flash-level cases
//! (ciphertext read plain, plaintext read decrypted, outside the flash) are mapped here and
//! nowhere else; [`diagnose`](crate::diagnose()) and [`locate_mfg_nvs`](crate::locate_mfg_nvs)
//! both report a partition through [`Finding::unreadable`], [`Finding::detail`] and
//! [`Finding::remedy`]. [`Finding::name`] (and [`Verdict::name`]) are the stable spellings
//! `at-mfg inspect` prints as `classification`.

use at_hal::kv::Unreadable;
use at_nvs::{Classification, Verdict};
use core::fmt;

/// What the chip reads from a partition whose plaintext was expected to be read decrypted.
pub(crate) const DETAIL_PLAIN_READ_DECRYPTED: &str = "plaintext in a partition the chip decrypts";
/// The remedy for [`DETAIL_PLAIN_READ_DECRYPTED`].
pub(crate) const REMEDY_PLAIN_READ_DECRYPTED: &str =
    "re-flash the partition encrypted (esptool write-flash --encrypt), or clear its encrypted flag";

/// What a partition holds, judged as the chip would return it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(rename_all = "snake_case"))]
pub enum Finding {
    /// Not examined (app images and the `at_customize` container, whose table is reported
    /// separately).
    NotInspected,
    /// Erased (all `FF`).
    Blank,
    /// NVS pages as the chip reads them, judged by `at_nvs`: `verdict` is one of
    /// [`Verdict::PlainNvs`], [`Verdict::NvsEncrypted`] (keys missing, wrong or ok) and
    /// [`Verdict::NvsNewerVersion`] ([`Verdict::is_nvs`]; [`Finding::from_nvs`] turns the
    /// others into [`Finding::Blank`], [`Finding::WrittenEncryptedReadPlain`] and
    /// [`Finding::Garbage`]). Its diagnosis is the verdict's.
    Nvs {
        /// at-nvs's verdict.
        verdict: Verdict,
        /// Entries that check out: as stored, or after NVS decryption for an NVS-encrypted
        /// partition (0 when the keys are missing or wrong).
        entries: u32,
    },
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

impl Finding {
    /// An NVS partition read as the chip reads it, from at-nvs's classification of those
    /// bytes: NVS content embeds the verdict; blank stays blank; bytes with the entropy of
    /// ciphertext are [`Finding::WrittenEncryptedReadPlain`] by the key-less rule; the rest is
    /// [`Finding::Garbage`].
    pub fn from_nvs(c: &Classification) -> Finding {
        let n = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
        match c.verdict {
            Verdict::Blank => Finding::Blank,
            Verdict::LooksFlashEncrypted => Finding::WrittenEncryptedReadPlain { confirmed_with_key: false },
            Verdict::Garbage => Finding::Garbage,
            verdict @ Verdict::NvsEncrypted { .. } => {
                Finding::Nvs { verdict, entries: n(c.crc_ok_decrypted.unwrap_or(0)) }
            }
            verdict => Finding::Nvs { verdict, entries: n(c.crc_ok_entries) },
        }
    }

    /// The failure this is, if it is one: for NVS content the verdict's
    /// ([`Verdict::unreadable`]), else the flash-level cause.
    pub fn unreadable(self) -> Option<Unreadable> {
        match self {
            Finding::Nvs { verdict, .. } => verdict.unreadable(),
            Finding::WrittenEncryptedReadPlain { .. } => Some(Unreadable::FlashEncryptedReadAsPlain),
            Finding::WrittenPlainReadDecrypted | Finding::Garbage => Some(Unreadable::Garbage),
            Finding::OutsideFlash => Some(Unreadable::PartitionNotFound),
            Finding::NotInspected | Finding::Blank | Finding::Data | Finding::EncryptedAsExpected { .. } => {
                None
            }
        }
    }

    /// The stable name of the finding in reports (`at-mfg inspect`'s `classification`; NVS
    /// content by [`Verdict::name`]).
    pub const fn name(self) -> &'static str {
        match self {
            Finding::NotInspected => "not-inspected",
            Finding::Blank => "blank",
            Finding::Nvs { verdict, .. } => verdict.name(),
            Finding::Data => "data",
            Finding::EncryptedAsExpected { .. } => "encrypted-as-expected",
            Finding::WrittenEncryptedReadPlain { .. } => "flash-encrypted",
            Finding::WrittenPlainReadDecrypted => "plain-but-read-decrypted",
            Finding::OutsideFlash => "outside-flash",
            Finding::Garbage => "garbage",
        }
    }

    /// What was seen, in a few words (empty for a partition without a problem).
    pub const fn detail(self) -> &'static str {
        match self {
            Finding::Nvs { verdict: Verdict::NvsEncrypted { keys_ok: None }, .. } => {
                "valid NVS page headers, no entry passes its CRC: NVS-encrypted, no nvs_keys given"
            }
            Finding::Nvs { verdict: Verdict::NvsEncrypted { keys_ok: Some(false) }, .. } => {
                "NVS-encrypted, and no entry passes its CRC after decryption with the given nvs_keys"
            }
            Finding::Nvs { verdict: Verdict::NvsNewerVersion, .. } => "NVS pages of a newer format",
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
            Finding::Nvs { verdict, entries } => match verdict {
                Verdict::PlainNvs => write!(f, "NVS, {entries} valid entries"),
                Verdict::NvsEncrypted { keys_ok: None } => f.write_str("NVS-ENCRYPTED, no nvs_keys given"),
                Verdict::NvsEncrypted { keys_ok: Some(false) } => {
                    f.write_str("NVS-ENCRYPTED, the nvs_keys do not fit")
                }
                Verdict::NvsEncrypted { keys_ok: Some(true) } => {
                    write!(f, "NVS-encrypted, {entries} valid entries with the nvs_keys")
                }
                Verdict::NvsNewerVersion => f.write_str("NVS of a newer format version"),
                other => f.write_str(other.name()),
            },
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

#[cfg(test)]
mod tests {
    use super::*;

    fn classification(verdict: Verdict) -> Classification {
        Classification {
            verdict,
            pages: 6,
            blank_pages: 5,
            valid_headers: 1,
            written_entries: 12,
            crc_ok_entries: 12,
            crc_ok_decrypted: Some(12),
            entropy: 1.6,
        }
    }

    const VERDICTS: [Verdict; 8] = [
        Verdict::Blank,
        Verdict::PlainNvs,
        Verdict::NvsEncrypted { keys_ok: None },
        Verdict::NvsEncrypted { keys_ok: Some(false) },
        Verdict::NvsEncrypted { keys_ok: Some(true) },
        Verdict::NvsNewerVersion,
        Verdict::LooksFlashEncrypted,
        Verdict::Garbage,
    ];

    #[test]
    fn a_finding_from_nvs_content_keeps_the_verdicts_name_and_diagnosis() {
        for v in VERDICTS {
            let f = Finding::from_nvs(&classification(v));
            assert_eq!(f.unreadable(), v.unreadable(), "{v:?}");
            assert_eq!(f.name(), v.name(), "{v:?}");
            assert_eq!(matches!(f, Finding::Nvs { .. }), v.is_nvs(), "{v:?}");
            // Every problem explains itself and says what to do.
            if f.unreadable().is_some() {
                assert!(!f.detail().is_empty() && !f.remedy().is_empty(), "{v:?}");
            }
        }
    }
}
