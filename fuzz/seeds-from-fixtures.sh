#!/usr/bin/env bash
# Seed corpora for the storage and certificate fuzz targets, made from the committed fixtures
# (real images from Espressif's tools) in the layout each target reads its input in:
#   nvs_mount  : mode byte 0 (the rest is the partition) + each NVS image
#   flash_dump : mode byte 0 (the rest goes at the primary table) + each partition table,
#                mode byte 1 (the rest is the image from address 0) + the first 64 KiB of each dump
#   cert_parse : each PEM file as it is
# Usage: fuzz/seeds-from-fixtures.sh OUTDIR   (creates OUTDIR/<target>/)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$1"
mkdir -p "$out/nvs_mount" "$out/flash_dump" "$out/cert_parse"
for f in "$root"/fixtures/nvs/*.bin; do
    { printf '\x00'; cat "$f"; } > "$out/nvs_mount/$(basename "$f")"
done
for f in "$root"/fixtures/flash/inputs/tables/*.bin "$root"/fixtures/flash/partitions_at.fe_0x8000.bin; do
    [ -f "$f" ] || continue
    { printf '\x00'; head -c 3072 "$f"; } > "$out/flash_dump/table-$(basename "$f")"
done
for f in "$root"/fixtures/flash/dumps/*.bin.gz; do
    # head closes the pipe early: gunzip's SIGPIPE is expected.
    { printf '\x01'; gunzip -c "$f" | head -c 65536 || true; } > "$out/flash_dump/dump-$(basename "$f" .gz)"
done
for f in "$root"/fixtures/nvs/pem/*.pem "$root"/crates/at-certstore/demo/*.pem; do
    [ -f "$f" ] || continue
    cp "$f" "$out/cert_parse/$(basename "$f")"
done
