#!/usr/bin/env bash
# Installs what the tests need, if it is missing, then runs the test suite.
#
#   scripts/test.sh [--deps-only] [extra `cargo test` arguments...]
#
# Meant for a Debian machine as root (as CI runs it). Idempotent: when
# everything is present it installs nothing and runs no apt-get at all.
# --deps-only installs and stops (used by .ci/run before clippy).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

APT_PACKAGES=(diod fuse3 libfuse3-dev pkg-config attr)
UNPFS_VERSION=0.13.0
UNPFS_ROOT=/opt/unpfs
# aio9p's example 9P2000 and 9P2000.u servers (tests/tests/mount/aio9p.rs).
AIO9P_VERSION=0.3.3

say() { printf '==> %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        say "need root to run: $*"
        return 1
    fi
}

apt_installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

install_apt_packages() {
    if ! command -v dpkg-query >/dev/null 2>&1; then
        say "not a Debian system: install ${APT_PACKAGES[*]} yourself"
        return 0
    fi
    local missing=() pkg
    for pkg in "${APT_PACKAGES[@]}"; do
        apt_installed "$pkg" || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        say "apt packages present: ${APT_PACKAGES[*]}"
        return 0
    fi
    say "installing apt packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
}

install_unpfs() {
    if [ -n "${UNPFS_BIN:-}" ] && [ -x "${UNPFS_BIN}" ]; then
        say "unpfs present: ${UNPFS_BIN} (UNPFS_BIN)"
    elif [ -x "${UNPFS_ROOT}/bin/unpfs" ]; then
        say "unpfs present: ${UNPFS_ROOT}/bin/unpfs"
    elif command -v unpfs >/dev/null 2>&1; then
        say "unpfs present: $(command -v unpfs)"
    else
        say "installing unpfs ${UNPFS_VERSION} into ${UNPFS_ROOT} (about 1.5 min)"
        cargo install unpfs --version "${UNPFS_VERSION}" --locked --root "${UNPFS_ROOT}"
    fi
}

install_aio9p() {
    local py="${AIO9P_PYTHON:-python3}"
    if ! command -v "$py" >/dev/null 2>&1; then
        say "warning: no $py: the aio9p mount tests will fail (set AIO9P_PYTHON)"
        return 0
    fi
    if "$py" -c 'import aio9p.example.simple_u' >/dev/null 2>&1; then
        say "aio9p present ($py)"
        return 0
    fi
    say "installing aio9p ${AIO9P_VERSION} with pip ($py)"
    # A failed install fails the aio9p tests (they say why), not the others.
    "$py" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "aio9p==${AIO9P_VERSION}" ||
        say "warning: pip could not install aio9p; the aio9p mount tests will fail"
}

check_fuse_device() {
    if [ ! -e /dev/fuse ]; then
        say "warning: /dev/fuse is missing; mount tests will say so"
    fi
}

deps_only=false
if [ "${1:-}" = "--deps-only" ]; then
    deps_only=true
    shift
fi

install_apt_packages
install_unpfs
install_aio9p
check_fuse_device
if "$deps_only"; then
    exit 0
fi

# Every tier: the real-server tests are behind the `servers` feature, so
# that a plain `cargo test` (no root, no servers) runs the rest.
features="ninep-tests/servers,ninep-mount/servers"

# FUSE over io_uring (Linux 6.14 on) is offered to new mounts only while
# the fuse module's enable_uring is on. As root, and when no arguments
# narrow the run, the whole suite runs with it off (the /dev/fuse path),
# then the mount suites once more with it on (their mounts ask for it with
# `uring`; NINEP_EXPECT_URING=1 makes them fail if they do not get it);
# the parameter is put back as it was. NINEP_URING_RUN=0 skips the second
# run.
uring_param=/sys/module/fuse/parameters/enable_uring
uring_was=""
if [ "$#" -eq 0 ] && [ "${NINEP_URING_RUN:-1}" != 0 ] && [ -w "$uring_param" ]; then
    uring_was=$(cat "$uring_param")
    trap 'echo "$uring_was" > "$uring_param"' EXIT
    echo N > "$uring_param"
    say "FUSE over io_uring off for the first run (enable_uring was $uring_was)"
fi

say "cargo test --workspace --features $features $*"
cargo test --workspace --features "$features" "$@"

if [ -n "$uring_was" ]; then
    echo Y > "$uring_param"
    say "the mount suites again, with FUSE over io_uring (enable_uring=Y)"
    NINEP_EXPECT_URING=1 cargo test -p ninep-tests --features servers \
        --test mount --test caches
fi
