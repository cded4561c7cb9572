//! The `serde` form of a diagnosis (what `at-mfg inspect --json` prints). Needs `--features serde`.
#![cfg(feature = "serde")]

mod common;
use at_flash::{DiagnoseOptions, SliceFlash, diagnose};
use common::{fixture, flash_key};

#[test]
fn seed_diagnosis_as_json_names_partitions_causes_and_remedies() {
    let key = flash_key();
    let img = fixture("dumps/seed.bin.gz");
    let d = diagnose(&mut SliceFlash(&img), DiagnoseOptions { flash_key: Some(&key), ..Default::default() })
        .unwrap();
    let v = serde_json::to_value(&d).unwrap();
    assert_eq!(v["flash_encryption"], "on");
    assert_eq!(v["secondary"]["offset"], 0x1E000);
    assert_eq!(v["secondary"]["status"]["encrypted"]["entries"], 2);
    let p0 = &v["problems"][0];
    assert_eq!(p0["partition"], "at_customize");
    assert_eq!(p0["reason"]["kind"], "SecondaryTableUnreadable");
    assert!(p0["remedy"].as_str().unwrap().contains("plaintext"));
    assert_eq!(v["problems"][1]["partition"], "mfg_nvs");
    assert_eq!(v["problems"][1]["reason"]["kind"], "FlashEncryptedReadAsPlain");
    assert_eq!(v["mfg_nvs"]["Err"]["reason"]["kind"], "SecondaryTableUnreadable");
    let mfg = v["partitions"].as_array().unwrap().iter().find(|p| p["entry"]["label"] == "mfg_nvs").unwrap();
    assert_eq!(mfg["finding"]["written_encrypted_read_plain"]["confirmed_with_key"], true);
    assert_eq!(mfg["entry"]["offset"], 0x1F000);
}

#[test]
fn an_nvs_finding_embeds_at_nvs_verdict() {
    let img = fixture("dumps/healthy.bin.gz");
    let d = diagnose(&mut SliceFlash(&img), DiagnoseOptions::default()).unwrap();
    let v = serde_json::to_value(&d).unwrap();
    let mfg = v["partitions"].as_array().unwrap().iter().find(|p| p["entry"]["label"] == "mfg_nvs").unwrap();
    assert_eq!(mfg["finding"]["nvs"]["verdict"], "plain_nvs");
    assert_eq!(mfg["finding"]["nvs"]["entries"], 33);
}
