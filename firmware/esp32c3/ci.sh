#!/usr/bin/env bash
# CI step for the ESP32-C3 firmware: release build for riscv32imc-unknown-none-elf on stable,
# then its sizes from `llvm-size -A`; fails if the flash-resident image exceeds the budget.
#
#   firmware/esp32c3/ci.sh            # from anywhere
#   FLASH_BUDGET=921600 firmware/esp32c3/ci.sh
#
# Flash-resident = every section the image carries: allocated sections with a load address
# (addr != 0) except the NOBITS ones (.bss, .noinit, .stack, .dram2_uninit, .rtc_fast.bss /
# .persistent, and esp-hal's *_dummy address-space placeholders). For this firmware that is
# .trap + .rwtext (copied to IRAM at boot) + .data (copied to DRAM) + .flash.appdesc +
# .rodata + .text (+ the .rtc_fast.text/.data and *.wifi sections once they are non-empty).
# .eh_frame and the other addr-0 sections are not loaded and not counted.
# Static RAM = .data + .bss (the .bss includes the main heap region; the reclaimed heap region,
# .dram2_uninit, is RAM the bootloader used and is shown separately).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
# The issue's goal is 900 KiB *with* TLS, and it is NOT met: Wi-Fi + the core alone were
# already 915 KiB, and the prebuilt MbedTLS (default configuration, with TLS 1.2/1.3 client and
# server, every cipher the prebuilt library has) adds ≈ 396 KiB: measured 1 366 264 bytes
# (1334.2 KiB) with TLS, flash-encryption routing, HMAC keys and the interrupt-driven AT port
# (see firmware/esp32c3/README.md, "Sizes"). The budget here is that measurement rounded up to
# the next 16 KiB plus 16 KiB, so that growth is caught; it moves only with a recorded reason.
budget="${FLASH_BUDGET:-1392640}" # 1360 KiB

rustup target add riscv32imc-unknown-none-elf >/dev/null 2>&1 || true
rustup component add llvm-tools >/dev/null 2>&1 || true

# MbedTLS must be the library mbedtls-rs-sys ships prebuilt for riscv32imc, never a rebuild
# from C (not the build mbedtls-rs publishes and checks, and a cmake/clang/ninja
# dependency). mbedtls-rs-sys switches to an on-the-fly build *silently* (one cargo warning)
# whenever its feature set differs from the prebuilt configuration, so two checks:
#  1. Poison: its build script compiles MbedTLS with the `cmake` crate, which runs $CMAKE. With
#     CMAKE=/bin/false a rebuild fails the build here instead of succeeding on any machine that
#     happens to have cmake and clang installed (CI installs them for the host tests).
#  2. Cached results cannot hide one: cargo reports every build script's result, fresh or
#     not (`build-script-executed` in --message-format=json); mbedtls-rs-sys must link from its
#     own `libs/riscv32imc-unknown-none-elf` directory, not from its OUT_DIR where an
#     on-the-fly build puts the library.
export CMAKE=/bin/false

cargo fmt --check
cargo clippy --release --locked -- -D warnings
build_json="$(mktemp)"
trap 'rm -f "$build_json"' EXIT
cargo build --release --locked --message-format=json-render-diagnostics >"$build_json"
mbedtls_line="$(grep '"reason":"build-script-executed"' "$build_json" | grep 'mbedtls-rs-sys@' || true)"
[ -n "$mbedtls_line" ] || { echo "ci.sh: FAIL: no build-script result for mbedtls-rs-sys" >&2; exit 1; }
linked="$(printf '%s\n' "$mbedtls_line" | sed -n 's/.*"linked_paths":\[\([^]]*\)\].*/\1/p')"
echo "mbedtls-rs-sys links from: $linked"
case "$linked" in
    *"/libs/riscv32imc-unknown-none-elf\""*) ;;
    *) echo "ci.sh: FAIL: MbedTLS is not the prebuilt library (rebuilt from C?)" >&2; exit 1 ;;
esac
case "$linked" in
    *"/out"*) echo "ci.sh: FAIL: MbedTLS links from mbedtls-rs-sys's OUT_DIR (rebuilt from C)" >&2; exit 1 ;;
esac

# Ask cargo where it put the build (CARGO_TARGET_DIR, a wrapper, or ./target).
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
elf="$target_dir/riscv32imc-unknown-none-elf/release/esp-at-rs-esp32c3"
[ -f "$elf" ] || { echo "ci.sh: no ELF at $elf" >&2; exit 1; }

llvm_size="$(ls "$(rustc --print sysroot)"/lib/rustlib/*/bin/llvm-size 2>/dev/null | head -n1 || true)"
[ -n "$llvm_size" ] || llvm_size="$(command -v llvm-size || true)"
[ -n "$llvm_size" ] || { echo "ci.sh: llvm-size not found (rustup component add llvm-tools)" >&2; exit 1; }

echo "$ $llvm_size -A $elf"
"$llvm_size" -A "$elf"

"$llvm_size" -A "$elf" | awk -v budget="$budget" '
    NF == 3 && $2 ~ /^[0-9]+$/ && $3 ~ /^[0-9]+$/ {
        name = $1; size = $2; addr = $3
        if (name ~ /^\.bss/) bss += size
        if (name == ".stack") stack = size
        if (name == ".dram2_uninit") reclaimed = size
        if (addr == 0) next
        if (name ~ /(^\.bss|^\.noinit|^\.stack|uninit|_dummy|\.rtc_fast\.bss|\.rtc_fast\.persistent)/) next
        flash += size
        if (name ~ /^\.data/) data += size
    }
    END {
        printf "flash-resident: %d bytes (%.1f KiB; budget %d bytes = %.0f KiB)\n", flash, flash / 1024, budget, budget / 1024
        printf "static RAM (.data + .bss): %d bytes (%.1f KiB; .data %d, .bss %d)\n", data + bss, (data + bss) / 1024, data, bss
        printf "stack (rest of DRAM): %d bytes; reclaimed bootloader RAM (.dram2_uninit, heap): %d bytes\n", stack, reclaimed
        if (flash > budget) { print "ci.sh: FAIL: flash-resident size over budget"; exit 1 }
        print "ci.sh: OK"
    }'
