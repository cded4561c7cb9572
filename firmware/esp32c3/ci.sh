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
# The issue's goal is 900 KiB *with* TLS; Wi-Fi + the core alone are already above it (see
# firmware/esp32c3/README.md, "Size"). The budget here is the measured size plus a small margin,
# so that growth is caught; it moves only with a recorded reason.
budget="${FLASH_BUDGET:-983040}" # 960 KiB

rustup target add riscv32imc-unknown-none-elf >/dev/null 2>&1 || true
rustup component add llvm-tools >/dev/null 2>&1 || true

cargo fmt --check
cargo clippy --release --locked -- -D warnings
cargo build --release --locked

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
