#!/usr/bin/env bash
# Load test: 32 workers doing mixed operations (create, write,
# read back and compare, overwrite, rename, stat, readdir, unlink) on a
# ninep-mount mount of diod, for 5 minutes by default.
#
#   scripts/load.sh [--secs N] [--workers N] [--cache none|loose]
#
# Needs root and a Debian machine (installs diod and fuse3 if missing).
# Starts diod exporting a fresh temporary directory on a free loopback
# port, mounts it with the release ninep-mount in the foreground, runs
# ninep-load (tests/src/bin/ninep-load.rs) on it, samples ninep-mount's
# resident memory every second, and at the end drops the kernel's caches
# and asks the mount for its counters (SIGUSR1). Prints one summary:
# operations, wrong bytes, errors, peak RSS, and fids, quarantined tags
# and requests in flight after the run. Exits non-zero if the load saw a
# wrong byte or an error, or fids or tags were left over. Undoes
# everything on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

secs=300
workers=32
cache=none

say() { printf '==> %s\n' "$*" >&2; }
die() {
    say "error: $*"
    exit 1
}

while [ $# -gt 0 ]; do
    case "$1" in
    --secs) secs=${2:?}; shift 2 ;;
    --workers) workers=${2:?}; shift 2 ;;
    --cache) cache=${2:?}; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1" ;;
    esac
done
[ "$(id -u)" -eq 0 ] || die "needs root"

missing=()
command -v diod >/dev/null || [ -x /usr/sbin/diod ] || missing+=(diod)
command -v fusermount3 >/dev/null || missing+=(fuse3)
if [ "${#missing[@]}" -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >&2
fi
diod_bin=$(command -v diod || echo /usr/sbin/diod)

say "cargo build --release -p ninep-mount -p ninep-tests --bin ninep-mount --bin ninep-load"
cargo build --release -p ninep-mount -p ninep-tests --bin ninep-mount --bin ninep-load >&2
target_dir=$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin_dir=${target_dir:-target}/release

work=$(mktemp -d /tmp/ninep-load.XXXXXX)
mnt=$work/mnt
diod_pid=""
mount_pid=""
sampler_pid=""
cleanup() {
    local rc=$?
    [ -z "$sampler_pid" ] || kill "$sampler_pid" 2>/dev/null || true
    if mountpoint -q "$mnt"; then
        umount "$mnt" 2>/dev/null || umount -l "$mnt" || true
    fi
    for p in "$mount_pid" "$diod_pid"; do
        [ -n "$p" ] || continue
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf --one-file-system "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir "$work/export" "$mnt"
port=""
for _ in 1 2 3 4 5; do
    p=$((20000 + RANDOM % 30000))
    [ -z "$(ss -Htln "sport = :$p")" ] || continue
    "$diod_bin" -f -n -c /dev/null -l "127.0.0.1:$p" -e "$work/export" -L "$work/diod.log" &
    diod_pid=$!
    for _ in $(seq 50); do
        [ -n "$(ss -Htln "sport = :$p")" ] && break
        sleep 0.1
    done
    if [ -n "$(ss -Htln "sport = :$p")" ]; then
        port=$p
        break
    fi
    kill "$diod_pid" 2>/dev/null || true
    diod_pid=""
done
[ -n "$port" ] || die "diod did not start"

"$bin_dir/ninep-mount" -f -o "aname=$work/export,cache=$cache" "127.0.0.1:$port" "$mnt" \
    >"$work/mount.log" 2>&1 &
mount_pid=$!
for _ in $(seq 100); do
    mountpoint -q "$mnt" && break
    sleep 0.1
done
mountpoint -q "$mnt" || die "did not mount: $(tail -c 2000 "$work/mount.log")"
say "ninep-mount (pid $mount_pid, cache=$cache) on $mnt, diod on 127.0.0.1:$port"

# Resident memory, KiB, every second.
(
    while kill -0 "$mount_pid" 2>/dev/null; do
        awk '/^VmRSS/ {print $2}' "/proc/$mount_pid/status" 2>/dev/null || true
        sleep 1
    done
) >"$work/rss" &
sampler_pid=$!

set +e
"$bin_dir/ninep-load" "$mnt" --workers "$workers" --secs "$secs" 2>"$work/load.err" | tee "$work/load.out"
load_rc=${PIPESTATUS[0]}
set -e
head -n 20 "$work/load.err" >&2

# Let the kernel forget, then read the counters.
sync
echo 3 >/proc/sys/vm/drop_caches
sleep 1
echo 3 >/proc/sys/vm/drop_caches
sleep 1
kill -USR1 "$mount_pid"
sleep 1
stats=$(grep 'stats:' "$work/mount.log" | tail -n 1)
field() { sed -n "s/.*$1: \([0-9]*\).*/\1/p" <<<"$stats" | head -n 1; }
fids=$(field fids_in_use)
quarantined=$(field quarantined_tags)
in_flight=$(field in_flight)
peak=$(sort -n "$work/rss" | tail -n 1)
flight=$(tail -n 1 "$work/load.out")

printf '\nload: %s\n' "$flight"
printf 'ninep-mount peak RSS: %s MiB\n' "$(((${peak:-0} + 1023) / 1024))"
printf 'after the run: fids in use %s (the root: 1), quarantined tags %s, in flight %s\n' \
    "${fids:-?}" "${quarantined:-?}" "${in_flight:-?}"
echo 'mount log lines at WARN or ERROR (first 10):'
{ grep -E ' (WARN|ERROR) ' "$work/mount.log" || true; } | head -n 10

rc=0
[ "$load_rc" -eq 0 ] || { say "FAIL: the load saw errors or wrong bytes"; rc=1; }
[ "${fids:-99}" -le 1 ] || { say "FAIL: fids left over: $fids"; rc=1; }
[ "${quarantined:-99}" -eq 0 ] || { say "FAIL: quarantined tags: $quarantined"; rc=1; }
[ "${in_flight:-99}" -eq 0 ] || { say "FAIL: requests still in flight: ${in_flight:-unknown}"; rc=1; }
[ "$rc" -ne 0 ] || say "PASS"
exit "$rc"
