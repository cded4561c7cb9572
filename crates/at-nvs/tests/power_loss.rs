//! Power-loss sweep: cut the power at every write and erase call and at every byte inside
//! the writes of a sequence of operations, remount, and check against a model that every key
//! holds its old or its new value — never garbage — and that no other key changed.
//!
//! Per cut point: read-only mount (must already see old-or-new), read-write mount (its repairs
//! must agree with the read-only view), a follow-up write, and a final remount. Where the
//! read-write mount itself writes repairs, those repairs are swept too (a second cut during
//! the recovery), for a spread of first-level cut points (about `NESTED_TARGET` per
//! scenario).

use std::collections::BTreeMap;
use std::time::Instant;

use at_hal::kv::{Kv, KvError, Value};
use at_mock::flash::{FlashOp, MockFlash, PowerCut};
use at_nvs::{Nvs, NvsKeys};

type Model = BTreeMap<(String, String), Vec<u8>>;

/// A value as stored in the model: a type tag byte then the bytes, so that a type change is
/// a different value.
fn enc(v: &Value<'_>) -> Vec<u8> {
    let mut out = vec![v.value_type() as u8];
    match v.as_bytes() {
        Some(b) => out.extend_from_slice(b),
        None => out.extend_from_slice(&v.as_integer().unwrap_or(0).to_le_bytes()),
    }
    out
}

#[derive(Clone, Debug)]
enum Op {
    Set(&'static str, &'static str, Val),
    Erase(&'static str, &'static str),
    EraseNs(&'static str),
}

#[derive(Clone, Debug)]
enum Val {
    U32(u32),
    I8(i8),
    Str(Vec<u8>),
    Blob(Vec<u8>),
}

impl Val {
    fn value(&self) -> Value<'_> {
        match self {
            Val::U32(v) => Value::U32(*v),
            Val::I8(v) => Value::I8(*v),
            Val::Str(s) => Value::Str(s),
            Val::Blob(b) => Value::Blob(b),
        }
    }
}

fn blob(len: usize, seed: u32) -> Val {
    Val::Blob((0..len as u32).map(|i| (i.wrapping_mul(seed) >> 3) as u8 ^ seed as u8).collect())
}

fn apply<K: Kv>(kv: &mut K, op: &Op) -> Result<(), KvError> {
    match op {
        Op::Set(ns, k, v) => kv.set(ns, k, v.value()),
        Op::Erase(ns, k) => kv.erase(ns, k),
        Op::EraseNs(ns) => kv.erase_namespace(ns),
    }
}

fn apply_model(m: &mut Model, op: &Op) {
    match op {
        Op::Set(ns, k, v) => {
            m.insert((ns.to_string(), k.to_string()), enc(&v.value()));
        }
        Op::Erase(ns, k) => {
            m.remove(&(ns.to_string(), k.to_string()));
        }
        Op::EraseNs(ns) => m.retain(|(n, _), _| n != ns),
    }
}

/// Everything the store holds, through the listing and `get`.
fn view<K: Kv>(kv: &mut K) -> Model {
    let mut namespaces = Vec::new();
    kv.for_each_namespace(&mut |n| namespaces.push(n.to_string())).expect("list namespaces");
    let mut out = Model::new();
    for ns in namespaces {
        let mut keys = Vec::new();
        kv.for_each_entry(&ns, &mut |k, i| keys.push((k.to_string(), i))).expect("list entries");
        for (k, info) in keys {
            let mut buf = vec![0u8; info.len];
            let v = kv.get(&ns, &k, &mut buf).unwrap_or_else(|e| panic!("get {ns}/{k}: {e} (garbage?)"));
            assert_eq!((v.value_type(), v.len()), (info.value_type, info.len), "{ns}/{k}: info/get disagree");
            out.insert((ns.clone(), k), enc(&v));
        }
    }
    out
}

/// A model value in a failure message: type tag, length, first bytes.
fn short(v: Option<&Vec<u8>>) -> String {
    match v {
        None => "absent".into(),
        Some(v) => format!("type {} len {} {:02x?}..", v[0], v.len() - 1, &v[1..v.len().min(9)]),
    }
}

fn assert_old_or_new(got: &Model, before: &Model, after: &Model, what: &str) {
    let keys: std::collections::BTreeSet<_> = before.keys().chain(after.keys()).chain(got.keys()).collect();
    for k in keys {
        let (g, b, a) = (got.get(k), before.get(k), after.get(k));
        assert!(
            g == b || g == a,
            "{what}: {k:?} is {}, neither old {} nor new {}",
            short(g),
            short(b),
            short(a)
        );
    }
}

struct Scenario {
    name: &'static str,
    pages: usize,
    keys: Option<NvsKeys>,
    setup: Vec<Op>,
    ops: Vec<Op>,
    /// The swept operations must include a page reclaim (an erase).
    reclaims: bool,
}

#[derive(Default, Debug)]
struct Counts {
    cuts: usize,
    nested: usize,
}

/// About this many first-level cut points per scenario get their recovery swept too.
const NESTED_TARGET: usize = 400;

/// Cut points of a recorded run: every byte of every write, a few points inside each erase
/// (untouched, barely started, half, almost done), and every call boundary.
fn cut_points(ops: &[FlashOp]) -> Vec<u64> {
    let mut points = Vec::new();
    let mut cum = 0u64;
    for op in ops {
        match *op {
            FlashOp::Write { len, .. } => {
                points.extend((0..u64::from(len)).map(|b| cum + b));
                cum += u64::from(len);
            }
            FlashOp::Erase { from, to } => {
                for sector in 0..u64::from((to - from) / 4096) {
                    points.extend([0, 1, 32, 2048, 4095].map(|b| cum + sector * 4096 + b));
                }
                cum += u64::from(to - from);
            }
        }
    }
    points
}

fn mount_rw<'a>(flash: &'a mut MockFlash, keys: Option<&NvsKeys>, what: &str) -> Nvs<&'a mut MockFlash> {
    Nvs::mount(flash, keys).unwrap_or_else(|e| panic!("{what}: remount failed: {e}"))
}

/// After a cut: check the read-only and read-write views, then that the store still takes
/// writes and keeps them.
fn check_after_cut(flash: &MockFlash, s: &Scenario, before: &Model, after: &Model, what: &str) -> Model {
    let keys = s.keys.as_ref();
    let mut f = flash.clone();
    f.reset_stats();
    let ro_view = {
        let mut ro =
            Nvs::mount_read_only(&mut f, keys).unwrap_or_else(|e| panic!("{what}: read-only mount: {e}"));
        view(&mut ro)
    };
    assert_eq!(f.stats().writes + f.stats().erases, 0, "{what}: read-only mount wrote");
    assert_old_or_new(&ro_view, before, after, &format!("{what} (read-only)"));
    let rw_view = view(&mut mount_rw(&mut f, keys, what));
    assert_eq!(rw_view, ro_view, "{what}: read-write repairs changed the view");
    // The store still works: a follow-up write, then a remount.
    {
        let mut nvs = mount_rw(&mut f, keys, what);
        nvs.set("zz", "follow", Value::U32(0xF011_0000))
            .unwrap_or_else(|e| panic!("{what}: follow-up set: {e}"));
    }
    let mut expect = rw_view.clone();
    expect.insert(("zz".into(), "follow".into()), enc(&Value::U32(0xF011_0000)));
    assert_eq!(view(&mut mount_rw(&mut f, keys, what)), expect, "{what}: after follow-up write");
    rw_view
}

fn sweep(s: &Scenario) -> Counts {
    let keys = s.keys.as_ref();
    let mut base = MockFlash::new(s.pages * 4096);
    let mut model = Model::new();
    {
        let mut nvs = Nvs::mount(&mut base, keys).expect("mount blank");
        for op in &s.setup {
            apply(&mut nvs, op).unwrap_or_else(|e| panic!("{}: setup {op:?}: {e}", s.name));
            apply_model(&mut model, op);
        }
    }
    let mut models = vec![model.clone()];
    for op in &s.ops {
        apply_model(&mut model, op);
        models.push(model.clone());
    }

    // The uncut run: records the calls and checks the final state.
    let mut probe = base.clone();
    probe.record_ops();
    {
        let mut nvs = Nvs::mount(&mut probe, keys).expect("mount");
        for op in &s.ops {
            apply(&mut nvs, op).unwrap_or_else(|e| panic!("{}: {op:?}: {e}", s.name));
        }
        assert_eq!(&view(&mut nvs), models.last().unwrap(), "{}: uncut run", s.name);
    }
    let points = cut_points(probe.ops());
    assert!(!points.is_empty());
    let erases = probe.ops().iter().filter(|o| matches!(o, FlashOp::Erase { .. })).count();
    assert_eq!(erases > 0, s.reclaims, "{}: {erases} page erases in the swept operations", s.name);
    let nested_every = (points.len() / NESTED_TARGET).max(1);

    let mut counts = Counts::default();
    for (n, &cut) in points.iter().enumerate() {
        let mut flash = base.clone();
        flash.cut_power(PowerCut::AfterBytes(cut));
        let mut done = 0;
        {
            let mut nvs = Nvs::mount(&mut flash, keys).expect("mount before the cut writes nothing");
            for op in &s.ops {
                if apply(&mut nvs, op).is_err() {
                    break;
                }
                done += 1;
            }
        }
        assert!(flash.is_powered_off(), "{}: cut at byte {cut} did not happen", s.name);
        flash.power_on();
        let what = format!("{} cut at byte {cut} during op {done}", s.name);
        let (before, after) = (&models[done], &models[done + 1]);
        check_after_cut(&flash, s, before, after, &what);
        counts.cuts += 1;

        // A second cut, during the recovery of the first.
        if n % nested_every == 0 {
            let mut rec = flash.clone();
            rec.record_ops();
            drop(mount_rw(&mut rec, keys, &what));
            for cut2 in cut_points(rec.ops()) {
                let mut f2 = flash.clone();
                f2.cut_power(PowerCut::AfterBytes(cut2));
                let ok = Nvs::mount(&mut f2, keys).is_ok();
                assert!(!ok || !f2.is_powered_off(), "{what}: a cut mount reported success");
                f2.power_on();
                check_after_cut(
                    &f2,
                    s,
                    before,
                    after,
                    &format!("{what}, then during recovery at byte {cut2}"),
                );
                counts.nested += 1;
            }
        }
    }
    counts
}

fn run(s: Scenario) {
    let t = Instant::now();
    let c = sweep(&s);
    eprintln!("{}: {} cut points + {} nested recovery cuts in {:?}", s.name, c.cuts, c.nested, t.elapsed());
}

fn base_setup() -> Vec<Op> {
    vec![
        Op::Set("at", "baud", Val::U32(115200)),
        Op::Set("at", "name", Val::Str(b"ESP32C3-TEST".to_vec())),
        Op::Set("pki", "cert", blob(300, 7)),
        Op::Set("pki", "key", blob(120, 11)),
        Op::Set("misc", "n", Val::I8(-5)),
    ]
}

#[test]
fn sweep_set_new_keys() {
    run(Scenario {
        name: "set",
        pages: 4,
        keys: None,
        setup: base_setup(),
        ops: vec![
            Op::Set("at", "port", Val::I8(1)),
            Op::Set("newns", "s", Val::Str(b"a string in a new namespace".to_vec())),
            Op::Set("pki", "ca", blob(200, 3)),
        ],
        reclaims: false,
    });
}

#[test]
fn sweep_overwrite() {
    run(Scenario {
        name: "overwrite",
        pages: 4,
        keys: None,
        setup: base_setup(),
        ops: vec![
            Op::Set("at", "baud", Val::U32(921600)),
            Op::Set("at", "name", Val::Str(b"a longer module name than before".to_vec())),
            Op::Set("misc", "n", Val::Str(b"now a string".to_vec())),
            Op::Set("pki", "key", blob(90, 13)),
        ],
        reclaims: false,
    });
}

#[test]
fn sweep_erase() {
    run(Scenario {
        name: "erase",
        pages: 4,
        keys: None,
        setup: base_setup(),
        ops: vec![Op::Erase("at", "baud"), Op::Erase("pki", "cert"), Op::EraseNs("at")],
        reclaims: false,
    });
}

#[test]
fn sweep_multipage_blob_update() {
    run(Scenario {
        name: "multi-page blob",
        pages: 6,
        keys: None,
        setup: vec![Op::Set("at", "baud", Val::U32(115200)), Op::Set("pki", "bundle", blob(5000, 5))],
        ops: vec![
            Op::Set("pki", "bundle", blob(4500, 9)),
            Op::Set("pki", "bundle", blob(6100, 17)),
            Op::Set("pki", "bundle", Val::U32(3)),
            Op::Set("pki", "bundle", blob(4100, 23)),
            Op::Erase("pki", "bundle"),
        ],
        reclaims: true,
    });
}

#[test]
fn sweep_reclaim() {
    // Three pages: one free page must remain, so filling two pages with overwrites forces
    // reclaims (FREEING → copy → erase) during the swept operations.
    let mut setup = vec![Op::Set("keep", "a", Val::U32(1)), Op::Set("keep", "b", Val::Str(b"bee".to_vec()))];
    for i in 0..232u32 {
        setup.push(Op::Set("churn", "x", Val::U32(i)));
    }
    run(Scenario {
        name: "reclaim",
        pages: 3,
        keys: None,
        setup,
        ops: vec![
            Op::Set("churn", "x", blob(700, 3)),
            Op::Set("churn", "y", Val::Str(vec![b'y'; 900])),
            Op::Set("keep", "a", Val::U32(2)),
        ],
        reclaims: true,
    });
}

#[test]
fn sweep_encrypted_overwrite_and_reclaim() {
    let mut setup = vec![Op::Set("keep", "a", Val::U32(1))];
    for i in 0..236u32 {
        setup.push(Op::Set("churn", "x", Val::U32(i)));
    }
    run(Scenario {
        name: "encrypted",
        pages: 3,
        keys: Some(NvsKeys::new([0x5A; 32], [0xA5; 32])),
        setup,
        ops: vec![
            Op::Set("churn", "x", blob(400, 3)),
            Op::Set("keep", "a", Val::Str(b"string now".to_vec())),
        ],
        reclaims: true,
    });
}
