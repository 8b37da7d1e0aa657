#!/usr/bin/env bash
# Runs one cargo-fuzz target of the 9P client for a while.
#
#   scripts/fuzz.sh [target] [seconds]     (defaults: frame_decode, 60)
#
# Targets: frame_decode (the codec), session (the sans-I/O session fed a
# script and arbitrary server bytes). Runs start from the committed seeds in
# client/fuzz/seeds/<target> as well as the local corpus.
# FUZZ_SANITIZER overrides the sanitizer (default: address for
# frame_decode; none for session, whose every input builds a Session with
# 64 Ki-entry tag tables, which ASan makes ~10x slower; the code is safe Rust).
#
# Needs `cargo install cargo-fuzz`. Uses the nightly toolchain when there is
# one, else stable with RUSTC_BOOTSTRAP=1 (cargo-fuzz passes -Z flags).
# The corpus grows in client/fuzz/corpus/<target>; crashes are saved in
# client/fuzz/artifacts/<target> and make this script fail.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../client"

target=${1:-frame_decode}
seconds=${2:-60}

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is missing: cargo install cargo-fuzz" >&2
    exit 1
fi

toolchain=()
if rustup run nightly rustc --version >/dev/null 2>&1; then
    toolchain=(+nightly)
else
    export RUSTC_BOOTSTRAP=1
fi

case "$target" in
session) sanitizer=${FUZZ_SANITIZER:-none} ;;
*) sanitizer=${FUZZ_SANITIZER:-address} ;;
esac

corpus=fuzz/corpus/$target
seeds=fuzz/seeds/$target
mkdir -p "$corpus"
dirs=("$corpus")
[[ -d $seeds ]] && dirs+=("$seeds")

# New inputs go to the first directory (the git-ignored corpus); the seeds
# are only read.
exec cargo ${toolchain[@]+"${toolchain[@]}"} fuzz run -s "$sanitizer" "$target" "${dirs[@]}" \
    -- -max_total_time="$seconds"
