//! Property tests: no panic on arbitrary bytes, and flash encryption is an involution pair.

use at_flash::csv::parse_csv;
use at_flash::table::{PartitionTable, TABLE_LEN};
use at_flash::xts::FlashKey;
use at_flash::{DiagnoseOptions, SliceFlash, diagnose};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_table_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..TABLE_LEN + 64), fs in any::<Option<u32>>()) {
        let _ = PartitionTable::parse(&bytes, fs);
    }

    #[test]
    fn slots_with_valid_magic_never_panic(slots in proptest::collection::vec((any::<[u8; 30]>(), 0u8..4), 0..100)) {
        // Mostly well-formed slots (AA 50 / EB EB / FF FF magic) to reach MD5, overlap and
        // bounds checks rather than stopping at the first bad magic.
        let mut b = Vec::new();
        for (rest, kind) in &slots {
            b.extend_from_slice(match kind { 0 | 1 => &[0xAA, 0x50], 2 => &[0xEB, 0xEB], _ => &[0xFF, 0xFF] });
            b.extend_from_slice(rest);
        }
        b.resize(TABLE_LEN, 0xFF);
        if let Ok(t) = PartitionTable::parse(&b, Some(0x40_0000)) {
            // whatever parses re-emits and re-parses to the same entries
            if let Ok(again) = t.to_bytes(false) {
                let reparsed = PartitionTable::parse(&again, None).unwrap();
                prop_assert_eq!(reparsed.entries(), t.entries());
            }
        }
    }

    #[test]
    fn arbitrary_csv_never_panics(s in "[ -~\n]{0,400}") {
        let _ = parse_csv(&s, 0x8000);
    }

    #[test]
    fn csv_like_lines_never_panic(lines in proptest::collection::vec(
        ("[a-z_]{0,18}", "(app|data|0x40|7|x)", "(nvs|ota_0|factory|0x[0-9a-f]{1,3}|)", "(0x[0-9a-f]{1,8}|[0-9]{1,10}|)", "([0-9]{1,5}[KkMm]?|0x[0-9a-f]{1,9})", "(encrypted|readonly|encrypted:readonly|)"),
        0..20))
    {
        let text: String = lines.iter().map(|(a, b, c, d, e, f)| format!("{a}, {b}, {c}, {d}, {e}, {f}\n")).collect();
        if let Ok(t) = parse_csv(&text, 0x8000) {
            // a parsed CSV never has overlapping entries and always emits or says why not
            let _ = t.to_bytes(true);
            for (i, a) in t.entries().iter().enumerate() {
                for b in &t.entries()[i + 1..] {
                    prop_assert!(!a.overlaps(b));
                }
            }
        }
    }

    #[test]
    fn encrypt_then_decrypt_is_identity(
        key in any::<[u8; 32]>(),
        block in 0u32..(1 << 24),
        data in proptest::collection::vec(any::<u8>(), 0..40).prop_map(|v| v.repeat(16)),
    ) {
        let k = FlashKey::new(&key);
        let addr = block * 16;
        let mut buf = data.clone();
        k.encrypt(addr, &mut buf).unwrap();
        if data.len() >= 32 { prop_assert_ne!(&buf, &data); }
        k.decrypt(addr, &mut buf).unwrap();
        prop_assert_eq!(&buf, &data);
        // and the other order
        k.decrypt(addr, &mut buf).unwrap();
        k.encrypt(addr, &mut buf).unwrap();
        prop_assert_eq!(buf, data);
    }

    #[test]
    fn diagnosis_of_arbitrary_small_images_never_panics(
        seed in proptest::collection::vec(any::<u8>(), 0..4096),
        at in 0usize..0x9000,
        size in 0usize..0x10000,
        with_key in any::<bool>(),
    ) {
        let mut img = vec![0xFFu8; size];
        let end = (at + seed.len()).min(size);
        if at < end { img[at..end].copy_from_slice(&seed[..end - at]); }
        let key = FlashKey::new(&[1; 32]);
        let opts = DiagnoseOptions { flash_key: with_key.then_some(&key), ..Default::default() };
        let d = diagnose(&mut SliceFlash(&img), opts).unwrap();
        let _ = d.to_string();
    }
}
