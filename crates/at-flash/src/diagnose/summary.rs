//! The whole-dump summary: every partition of both tables judged, each failure a [`Problem`]
//! (partition, offset, [`Unreadable`] cause, detail, remedy), and `mfg_nvs` as ESP-AT's boot
//! path sees it; the human form of a [`Diagnosis`].

use super::judge::judge_partition;
use super::tables::{FlashEncryption, Primary, Secondary};
use super::{DiagnoseOptions, Diagnosis, Finding};
use crate::layout::MFG_NVS;
use crate::table::{Label, PartitionEntry, subtypes, types};
use alloc::vec::Vec;
use at_hal::kv::Unreadable;
use core::fmt;
use embedded_storage::nor_flash::ReadNorFlash;

/// Which table a partition comes from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(rename_all = "snake_case"))]
pub enum TableId {
    /// The primary table at 0x8000.
    Primary,
    /// ESP-AT's secondary table in `at_customize`.
    Secondary,
}

/// One partition's report.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PartitionReport {
    /// The table it is listed in.
    pub table: TableId,
    /// The entry.
    pub entry: PartitionEntry,
    /// Whether the entry comes from ESP-AT's default table (its own table was unreadable).
    pub assumed: bool,
    /// Whether the chip decrypts reads of it.
    pub read_decrypted: bool,
    /// What it holds.
    pub finding: Finding,
}

/// A failure: which partition, where, why, and what to do.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Problem {
    /// The partition (`partition_table` for the primary table, `at_customize` for the
    /// secondary table).
    pub partition: Label,
    /// Its flash offset.
    pub offset: u32,
    /// The cause, in the shared vocabulary.
    #[cfg_attr(feature = "serde", serde(serialize_with = "ser_unreadable"))]
    pub reason: Unreadable,
    /// What was seen.
    pub detail: &'static str,
    /// What to do.
    pub remedy: &'static str,
    /// Whether the location comes from ESP-AT's default table (the real table was unreadable).
    pub assumed_location: bool,
}

#[cfg(feature = "serde")]
fn ser_unreadable<S: serde::Serializer>(u: &Unreadable, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeStruct;
    let mut st = s.serialize_struct("Unreadable", 2)?;
    st.serialize_field("kind", &alloc::format!("{u:?}"))?;
    st.serialize_field("message", &alloc::format!("{u}"))?;
    st.end()
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at 0x{:x}: {}", self.partition, self.offset, self.reason)?;
        if !self.detail.is_empty() {
            write!(f, " — {}", self.detail)?;
        }
        if self.assumed_location {
            f.write_str(" [location assumed from ESP-AT's default table]")?;
        }
        write!(f, "\n     remedy: {}", self.remedy)
    }
}

/// A problem with the cause's own remedy.
pub(super) fn problem(
    partition: Label,
    offset: u32,
    reason: Unreadable,
    detail: &'static str,
    assumed: bool,
) -> Problem {
    Problem { partition, offset, reason, detail, remedy: reason.remedy(), assumed_location: assumed }
}

/// A label from a name (ESP-AT's names all fit).
pub(super) fn label(s: &str) -> Label {
    Label::new(s).unwrap_or_default()
}

/// Judge every partition of the primary and the secondary table (read or assumed), adding a
/// [`Problem`] to `problems` for each that cannot be read as the chip reads it.
pub(super) fn judge_partitions<F: ReadNorFlash>(
    flash: &mut F,
    primary: &Primary,
    secondary: &Secondary,
    opts: &DiagnoseOptions<'_>,
    problems: &mut Vec<Problem>,
) -> Result<Vec<PartitionReport>, F::Error> {
    let fe_on = primary.fe_on();
    let mut partitions = Vec::new();
    let lists = primary
        .table
        .iter()
        .map(|t| (TableId::Primary, t, primary.assumed()))
        // A secondary table that parsed vouches for its own entries, even if at_customize's
        // location came from the default table.
        .chain(secondary.table.iter().map(|(t, a)| (TableId::Secondary, t, *a)));
    for (table, t, assumed) in lists {
        for e in t.entries() {
            let finding = judge_partition(flash, e, fe_on, opts.flash_key, opts.nvs_keys)?;
            if let Some(reason) = finding.unreadable() {
                problems.push(Problem {
                    partition: e.label,
                    offset: e.offset,
                    reason,
                    detail: finding.detail(),
                    remedy: finding.remedy(),
                    assumed_location: assumed,
                });
            }
            partitions.push(PartitionReport {
                table,
                entry: *e,
                assumed,
                read_decrypted: e.read_decrypted(fe_on),
                finding,
            });
        }
    }
    Ok(partitions)
}

/// What ESP-AT's boot path gets for `mfg_nvs`: the primary table, the secondary table, then
/// `(data, nvs, "mfg_nvs")` in it and its content. A missing entry in a secondary table that
/// was read (or assumed) is added to `problems`.
pub(super) fn mfg_nvs_path(
    primary: &Primary,
    secondary: &Secondary,
    partitions: &[PartitionReport],
    problems: &mut Vec<Problem>,
) -> Result<(), Problem> {
    if let Some(p) = primary.boot_blocker().or(secondary.problem) {
        return Err(p);
    }
    let is_mfg_nvs = |e: &PartitionEntry| {
        e.ty == types::DATA && e.subtype == subtypes::DATA_NVS && e.label.matches(MFG_NVS)
    };
    let found = partitions.iter().find(|p| p.table == TableId::Secondary && is_mfg_nvs(&p.entry));
    let Some(r) = found else {
        let offset = secondary.report.as_ref().map_or(0, |s| s.offset);
        let p = problem(
            label(MFG_NVS),
            offset,
            Unreadable::PartitionNotFound,
            "no (data, nvs, \"mfg_nvs\") in the secondary table",
            false,
        );
        if secondary.table.is_some() {
            problems.push(p);
        }
        return Err(p);
    };
    match problems.iter().find(|p| p.partition == r.entry.label && p.offset == r.entry.offset) {
        Some(p) => Err(*p),
        None => Ok(()),
    }
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fe = match self.flash_encryption {
            FlashEncryption::Off => "off (primary table stored plain)",
            FlashEncryption::On => "on (primary table stored encrypted)",
            FlashEncryption::Unknown => "unknown",
        };
        writeln!(
            f,
            "flash: {} KiB; flash encryption: {fe}; key: {}",
            self.flash_size / 1024,
            if self.key_given { "given" } else { "not given" }
        )?;
        writeln!(f, "primary table @0x{:x}: {}", self.primary.offset, self.primary.status)?;
        if let Some(s) = &self.secondary {
            writeln!(f, "secondary table (at_customize) @0x{:x}: {}", s.offset, s.status)?;
        }
        if self.primary.assumed_default || self.secondary.as_ref().is_some_and(|s| s.assumed_default) {
            writeln!(f, "(* = location assumed from ESP-AT's ESP32-C3 default tables)")?;
        }
        writeln!(
            f,
            "  {:<17} {:<16} {:>10} {:>10}  {:<9}  finding",
            "partition", "type/subtype", "offset", "size", "read"
        )?;
        for p in &self.partitions {
            let name = alloc::format!("{}{}", p.entry.label, if p.assumed { "*" } else { "" });
            let kind = alloc::format!("{}", p.entry.kind());
            writeln!(
                f,
                "  {:<17} {:<16} {:>#10x} {:>#10x}  {:<9}  {}",
                name,
                kind,
                p.entry.offset,
                p.entry.size,
                if p.read_decrypted { "decrypted" } else { "plain" },
                p.finding
            )?;
        }
        match &self.mfg_nvs {
            Ok(()) => writeln!(f, "mfg_nvs (ESP-AT boot path): readable")?,
            Err(p) => writeln!(
                f,
                "mfg_nvs (ESP-AT boot path): NOT READABLE: {} at 0x{:x}: {}",
                p.partition, p.offset, p.reason
            )?,
        }
        if self.problems.is_empty() {
            writeln!(f, "no problems found")
        } else {
            writeln!(f, "problems:")?;
            for (i, p) in self.problems.iter().enumerate() {
                writeln!(f, "  {}. {p}", i + 1)?;
            }
            Ok(())
        }
    }
}
