#!/usr/bin/env bash
# The device's heap for a realistic session against the ESP32-C3 RAM budget (README, "RAM
# budget"): core + link manager + smoltcp + MbedTLS with 5 links, one of them SSL, must fit in
# the 160 KiB (163840 B) free with Wi-Fi up. Exits non-zero above it.
#
# examples/device_heap.rs runs the session on the host; valgrind massif counts every malloc /
# calloc / realloc of the process — Rust's allocator and MbedTLS's libc calloc alike (dhat only
# sees Rust's). Each allocation is attributed by its call stack in massif's detailed snapshots:
# a `device_heap::peer::` frame anywhere makes it the test peers'; otherwise the innermost frame
# from a known crate names the component (source paths: line-table debug info of the release
# profile, inlined frames included). Counted for the device: core (at-core, at-parser,
# at-certstore, at-hal), links (at-links), IP stack (at-smoltcp, smoltcp), TLS (at-tls-mbedtls,
# mbedtls-rs, MbedTLS's C code). Not counted: the peers, the host harness, at-mock's simulated
# Wi-Fi (esp-radio's heap is outside the 160 KiB), smoltcp's loopback queue (the radio's packet
# buffers on the chip) and the in-memory settings stores (flash on the device); what matches no
# rule is "unattributed" (not counted; more than 4 KiB of it, or a device component at 0, fails
# the run: the attribution would be broken, e.g. without debug info). Figures are requested
# bytes (massif's mem_heap_B); the allocator's own per-block overhead (mem_heap_extra_B) is
# printed for the whole process.
#
# Usage: crates/at-smoltcp/ram-budget.sh [--keep DIR]   (DIR keeps massif's output)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

BUDGET=163840
keep=""
if [ "${1:-}" = "--keep" ]; then keep="$2"; fi

command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 2; }

cargo build --release -p at-smoltcp --example device_heap
bin=target/release/examples/device_heap

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# --threshold=0: every allocation site in the trees (none lumped as "below threshold");
# --depth=60: deep enough to reach the peers' frame from inside MbedTLS; --detailed-freq=1:
# a tree at every snapshot, and the exact peak (--peak-inaccuracy=0).
valgrind --tool=massif --massif-out-file="$work/massif.out" --max-snapshots=200 --detailed-freq=1 \
    --threshold=0 --depth=60 --peak-inaccuracy=0 --read-inline-info=yes --fullpath-after= \
    "$bin" 2>"$work/valgrind.log" || { cat "$work/valgrind.log" >&2; exit 1; }
if [ -n "$keep" ]; then mkdir -p "$keep" && cp "$work/massif.out" "$keep/"; fi

python3 - "$work/massif.out" "$BUDGET" <<'EOF'
import re, sys

path, budget = sys.argv[1], int(sys.argv[2])
DEVICE = ["core", "links", "IP stack", "TLS"]
RULES = [
    ("/crates/at-tls-mbedtls/", "TLS"), ("/mbedtls-rs-sys-", "TLS"), ("/mbedtls-rs-", "TLS"),
    ("/crates/at-smoltcp/examples/device_heap.rs", "harness"),
    ("/src/phy/loopback.rs", "loopback device"),
    ("/crates/at-smoltcp/src/", "IP stack"), ("/smoltcp-0.", "IP stack"),
    ("/crates/at-links/", "links"),
    ("/crates/at-hal/src/kv", "stores"),
    ("/crates/at-core/", "core"), ("/crates/at-parser/", "core"), ("/crates/at-certstore/", "core"),
    ("/crates/at-hal/", "core"),
    ("/crates/at-mock/", "simulated Wi-Fi"),
]
NODE = re.compile(r"^( *)n(\d+): (\d+) (.*)$")
# A C function of this binary without debug info: MbedTLS (the only C code linked in).
C_FRAME = re.compile(r"^0x[0-9A-F]+: ([A-Za-z_][A-Za-z0-9_]*) \(in .*device_heap\)$")

def classify(frames):
    if any("device_heap::peer::" in f for f in frames):
        return "peers"
    for f in frames:
        for pat, comp in RULES:
            if pat in f:
                return comp
        m = C_FRAME.match(f)
        if m and not m.group(1).startswith("__r"):
            return "TLS"
    return "unattributed"

def tree_totals(lines):
    """Bytes per component: each node's bytes not accounted for by its children belong to the
    call stack that ends at that node."""
    totals = {}
    stack = []  # [frame, remaining bytes]
    def pop_to(depth):
        while len(stack) > depth:
            frame, rest = stack.pop()
            if rest > 0:
                # Below the root: the allocation site first, then its callers outwards.
                frames = [f for f, _ in stack[1:]] + [frame]
                c = classify(frames)
                totals[c] = totals.get(c, 0) + rest
    for line in lines:
        m = NODE.match(line)
        if not m:
            continue
        depth, size, desc = len(m.group(1)), int(m.group(3)), m.group(4)
        pop_to(depth)
        if stack:
            stack[-1][1] -= size
        stack.append([desc, size])
    pop_to(0)
    return totals

snaps = []
cur = None
def close(snap):
    # Trees are summed as they are read (massif's file is hundreds of MB with every tree).
    if snap is not None and snap["kind"] in ("detailed", "peak"):
        snap["totals"] = tree_totals(snap["lines"])
        snap["device"] = sum(snap["totals"].get(c, 0) for c in DEVICE)
    if snap is not None:
        snap["lines"] = None
with open(path) as f:
    for line in f:
        if line.startswith("snapshot="):
            close(cur)
            cur = {"lines": [], "kind": None}
            snaps.append(cur)
        elif cur is None:
            continue
        elif line.startswith("mem_heap_B="):
            cur["heap"] = int(line.split("=")[1])
        elif line.startswith("mem_heap_extra_B="):
            cur["extra"] = int(line.split("=")[1])
        elif line.startswith("heap_tree="):
            cur["kind"] = line.strip().split("=")[1]
        elif cur["kind"] in ("detailed", "peak"):
            cur["lines"].append(line.rstrip("\n"))
close(cur)

detailed = [s for s in snaps if s["kind"] in ("detailed", "peak")]
peak_total = max(snaps, key=lambda s: s["heap"])
worst = max(detailed, key=lambda s: s["device"])
peak_snap = next(s for s in detailed if s["kind"] == "peak")
# Once the session runs, the rest of the process (peers, harness) holds what it allocated up
# front and varies only with the peer's own TLS handshake: the process peak minus the least
# the rest ever held bounds the device's peak from above, between snapshots too.
running = [s for s in detailed if s["totals"].get("harness", 0) >= 128 * 1024]
rest_floor = min(s["heap"] - s["device"] for s in running) if running else 0
upper = peak_total["heap"] - rest_floor

kib = lambda b: f"{b / 1024:7.1f} KiB"
print(f"valgrind massif: {len(snaps)} snapshots, {len(detailed)} with call trees")
print(f"process heap peak: {peak_total['heap']} B requested + {peak_total['extra']} B allocator overhead")
print()
print(f"device heap at its largest snapshot ({'the process peak' if worst is peak_snap else 'a detailed snapshot'}):")
print(f"  {'component':<38}{'bytes':>9}  {'':>11}")
for c in DEVICE:
    b = worst["totals"].get(c, 0)
    print(f"  {c:<38}{b:>9}  {kib(b)}")
print(f"  {'device total':<38}{worst['device']:>9}  {kib(worst['device'])}")
print(f"  {'(device at the process peak)':<38}{peak_snap['device']:>9}  {kib(peak_snap['device'])}")
print(f"  {'(bound between snapshots)':<38}{upper:>9}  {kib(upper)}")
print(f"  {'budget (README: free heap, Wi-Fi up)':<38}{budget:>9}  {kib(budget)}")
print()
print("not counted (same snapshot):")
for c in ["peers", "harness", "loopback device", "simulated Wi-Fi", "stores", "unattributed"]:
    b = worst["totals"].get(c, 0)
    print(f"  {c:<38}{b:>9}  {kib(b)}")
print()
broken = [c for c in DEVICE if worst["totals"].get(c, 0) == 0]
if broken or worst["totals"].get("unattributed", 0) > 4096 or worst["totals"].get("peers", 0) == 0:
    print(f"ERROR: allocations not attributed (components at 0: {broken}); is there debug info?")
    sys.exit(2)
if worst["device"] > budget:
    print(f"FAIL: the device's heap {worst['device']} B is over the budget of {budget} B "
          f"by {worst['device'] - budget} B")
    sys.exit(1)
print(f"OK: the device's heap {worst['device']} B is within the budget of {budget} B "
      f"({budget - worst['device']} B to spare)")
EOF
