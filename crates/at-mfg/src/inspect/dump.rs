//! Whole-flash dumps: at-flash's diagnosis, the classification of every partition, and the
//! entries of each NVS partition that can be read (as the device reads it, or — for a
//! `mfg_nvs` written encrypted — decrypted with the key).

use at_flash::diagnose::{Diagnosis, FlashEncryption, PartitionReport, Problem, TableStatus};
use at_flash::table::{subtypes, types};
use at_flash::view::{DecryptedView, MountView};
use at_flash::{DiagnoseOptions, Finding, FlashKey, SliceFlash, diagnose};
use at_hal::kv::Unreadable;
use at_nvs::NvsKeys;

use crate::entries::{Entry, NvsRead, read_nvs};
use crate::report::{Class, DumpPartition, DumpReport, EntriesSource, is_nvs};

/// Diagnose a dump and add the classification and the entries of every partition.
pub fn judge(data: &[u8], key: Option<&FlashKey>, nvs_keys: Option<&NvsKeys>) -> Result<DumpReport, String> {
    let opts = DiagnoseOptions { flash_key: key, nvs_keys, ..Default::default() };
    let d = diagnose(&mut SliceFlash(data), opts)
        .map_err(|_| "reading the dump failed (out of bounds)".to_string())?;
    let fe_on = d.flash_encryption == FlashEncryption::On;
    let partitions = d
        .partitions
        .iter()
        .map(|p| {
            let problem = d
                .problems
                .iter()
                .find(|q| q.partition == p.entry.label && q.offset == p.entry.offset)
                .copied();
            let class = if is_at_customize(p) {
                secondary_class(&d, problem.as_ref())
            } else {
                Class::Finding(p.finding)
            };
            let (entries, entries_note) = dump_entries(data, p, fe_on, key, nvs_keys);
            let finding = match (&d.secondary, is_at_customize(p)) {
                (Some(t), true) => format!("secondary table: {}", t.status),
                _ => p.finding.to_string(),
            };
            DumpPartition { report: p.clone(), class, problem, entries, entries_note, finding }
        })
        .collect();
    let summary = summary(&d);
    Ok(DumpReport { diagnosis: d, partitions, summary })
}

/// ESP-AT's `at_customize` container (type 0x40, subtype 0), which holds the secondary table.
fn is_at_customize(p: &PartitionReport) -> bool {
    p.entry.ty == types::AT_CUSTOMIZE && p.entry.subtype == subtypes::AT_CUSTOMIZE
}

/// List an NVS partition of the dump where that makes sense.
fn dump_entries(
    data: &[u8],
    p: &PartitionReport,
    fe_on: bool,
    key: Option<&FlashKey>,
    nvs_keys: Option<&NvsKeys>,
) -> (Option<(Vec<Entry>, EntriesSource)>, Option<String>) {
    if !is_nvs(&p.entry) {
        return (None, None);
    }
    let (read, source) = match p.finding {
        Finding::Blank => return (Some((Vec::new(), EntriesSource::Device)), None),
        // NVS the device reads (plain, or NVS-encrypted with keys that fit).
        f @ Finding::Nvs { .. } if f.unreadable().is_none() => {
            match MountView::for_partition(SliceFlash(data), &p.entry, fe_on, key) {
                Ok(v) => (read_nvs(v, nvs_keys), EntriesSource::Device),
                Err(e) => return (None, Some(format!("cannot open the partition: {e}"))),
            }
        }
        Finding::WrittenEncryptedReadPlain { confirmed_with_key: true } => {
            let Some(k) = key else { return (None, None) };
            match DecryptedView::new(SliceFlash(data), p.entry.offset, p.entry.size, k) {
                Ok(v) => (read_nvs(v, nvs_keys), EntriesSource::DecryptedWithKey),
                Err(e) => return (None, Some(format!("cannot open the partition: {e}"))),
            }
        }
        _ => return (None, None),
    };
    match read {
        Err(e) => (None, Some(format!("reading the partition: {e}"))),
        Ok(NvsRead { entries: Some(Ok(list)), .. }) => (Some((list, source)), None),
        Ok(NvsRead { entries: Some(Err(e)), .. }) => (None, Some(format!("the NVS mount failed: {e}"))),
        Ok(NvsRead { classification, entries: None }) => (
            None,
            Some(format!(
                "{} content: {}",
                if source == EntriesSource::DecryptedWithKey { "decrypted" } else { "its" },
                classification.verdict.name()
            )),
        ),
    }
}

/// The classification of `at_customize`: its secondary table as ESP-AT reads it.
fn secondary_class(d: &Diagnosis, problem: Option<&Problem>) -> Class {
    if problem.is_some_and(|p| p.reason == Unreadable::SecondaryTableUnreadable) {
        return Class::SecondaryTableUnreadable;
    }
    match d.secondary.as_ref().map(|s| s.status) {
        Some(TableStatus::Blank) => Class::SecondaryTableBlank,
        _ => Class::SecondaryTable,
    }
}

/// The one-line verdict on mfg_nvs at the top of the report.
fn summary(d: &Diagnosis) -> String {
    match &d.mfg_nvs {
        Ok(()) if d.problems.is_empty() => "SUMMARY: no problem found; ESP-AT can read mfg_nvs.".into(),
        Ok(()) => format!(
            "SUMMARY: ESP-AT can read mfg_nvs, but {} other problem(s) were found (below).",
            d.problems.len()
        ),
        Err(p) => format!(
            "SUMMARY: ESP-AT cannot read mfg_nvs (certificates, keys, factory_param): {} at 0x{:x}: {}.",
            p.partition, p.offset, p.reason
        ),
    }
}
