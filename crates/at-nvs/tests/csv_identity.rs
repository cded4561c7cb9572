//! The CSV generator (`at_nvs::csv`) produces the committed images of Espressif's tool byte
//! for byte.

mod common;

use at_nvs::NvsKeys;
use at_nvs::csv::{Options, generate_files};
use at_nvs::image::FormatVersion;
use common::{fixture, fixtures};

#[test]
fn csv_generator_matches_the_tool() {
    let keys_file: [u8; 64] = fixture("keys/nvs_keys.bin")[..64].try_into().unwrap();
    let keys = NvsKeys::from_bytes(&keys_file);
    let hmac = NvsKeys::from_hmac_key(&fixture("keys/hmac_key.bin"));
    let cases: Vec<(&str, &str, usize, FormatVersion, Option<&NvsKeys>)> = vec![
        ("single_ns.csv", "single_ns_plain.bin", 0x6000, FormatVersion::V2, None),
        ("single_ns.csv", "single_ns_plain_v1.bin", 0x6000, FormatVersion::V1, None),
        ("multipage.csv", "multipage_plain.bin", 0x6000, FormatVersion::V2, None),
        ("all_types.csv", "all_types_plain.bin", 0x6000, FormatVersion::V2, None),
        ("all_types.csv", "all_types_v1.bin", 0x6000, FormatVersion::V1, None),
        ("mfg_nvs.csv", "mfg_nvs_plain.bin", 0x6000, FormatVersion::V2, None),
        ("mfg_nvs.csv", "mfg_nvs_plain_124k.bin", 0x1F000, FormatVersion::V2, None),
        ("single_ns.csv", "single_ns_nvsenc.bin", 0x6000, FormatVersion::V2, Some(&keys)),
        ("multipage.csv", "multipage_nvsenc.bin", 0x6000, FormatVersion::V2, Some(&keys)),
        ("all_types.csv", "all_types_nvsenc.bin", 0x6000, FormatVersion::V2, Some(&keys)),
        ("mfg_nvs.csv", "mfg_nvs_nvsenc.bin", 0x6000, FormatVersion::V2, Some(&keys)),
        ("single_ns.csv", "single_ns_nvsenc_hmac.bin", 0x6000, FormatVersion::V2, Some(&hmac)),
    ];
    for (csv, image, size, version, keys) in cases {
        let opts = Options { size, version, keys: keys.cloned() };
        let csv_path = fixtures().join("csv").join(csv);
        let got = generate_files(&[csv_path.as_path()], &fixtures(), &opts)
            .unwrap_or_else(|e| panic!("{csv}: {e}"));
        let want = fixture(image);
        if got != want {
            let first = got.iter().zip(&want).position(|(a, b)| a != b);
            panic!("{image}: differs (lengths {} vs {}), first at {first:x?}", got.len(), want.len());
        }
    }
}

#[test]
fn several_csv_files_continue_one_image() {
    let dir = fixtures();
    let a = dir.join("csv/single_ns.csv");
    let b = dir.join("csv/multipage.csv");
    let opts = Options { size: 0x8000, ..Options::default() };
    let both = generate_files(&[a.as_path(), b.as_path()], &dir, &opts).unwrap();
    let mut nvs = at_nvs::Nvs::mount_read_only(at_mock::flash::MockFlash::from_image(both), None).unwrap();
    // `at_certs` is re-opened by the second file: its entries land in the newest namespace,
    // which is still `at_certs` because it was the only one — then `misc` is added. Both
    // files write `server_key` (the same PEM): the newer copy wins, it is listed once.
    let mut all = common::single_ns();
    for (ns, entries) in common::multipage() {
        match all.iter_mut().find(|(n, _)| *n == ns) {
            Some((_, e)) => {
                for (k, v) in entries {
                    e.retain(|(old, _)| *old != k);
                    e.push((k, v));
                }
            }
            None => all.push((ns, entries)),
        }
    }
    common::assert_contents(&mut nvs, &all, "two CSV files");
}
