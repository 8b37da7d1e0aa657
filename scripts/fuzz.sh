#!/usr/bin/env bash
# Runs one cargo-fuzz target of the 9P codec for a while.
#
#   scripts/fuzz.sh [target] [seconds]     (defaults: frame_decode, 60)
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

exec cargo ${toolchain[@]+"${toolchain[@]}"} fuzz run "$target" -- -max_total_time="$seconds"
