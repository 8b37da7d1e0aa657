#!/usr/bin/env bash
# CPU cost of sequential I/O through ninep-mount, for comparing builds
# (run by hand, not CI). The mount's CPU time is less noisy than
# MB/s on a shared machine.
#
#   scripts/bench-seq-cpu.sh [--rounds N] [--cache none|loose] LABEL=BINARY...
#
# For each round, for each binary in turn (alternating): a tmpfs exported
# by diod on 127.0.0.1, mounted with that binary (in the foreground), a
# 1 GiB file of random bytes put in the export, caches dropped, then
#   dd if=MNT/f of=/dev/null bs=1M
#   dd if=/dev/zero of=MNT/w bs=1M count=1024 conv=fsync
# and the mount's utime+stime ticks (fields 14+15 of /proc/PID/stat) over
# each. Prints one line per run and the medians per binary. Needs root,
# diod, fusermount3. Default: 5 rounds, cache=none.
set -euo pipefail

rounds=5
cache=none
say() { printf '==> %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
while [ $# -gt 0 ]; do
    case "$1" in
    --rounds) rounds=${2:?}; shift 2 ;;
    --cache) cache=${2:?}; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *=*) break ;;
    *) die "unknown argument: $1" ;;
    esac
done
[ $# -gt 0 ] || die "no LABEL=BINARY given"
[ "$(id -u)" -eq 0 ] || die "needs root"
diod_bin=$(command -v diod || echo /usr/sbin/diod)
[ -x "$diod_bin" ] || die "no diod"

work=$(mktemp -d /tmp/ninep-bench-seq.XXXXXX)
src=$work/src
head -c 1G /dev/urandom >"$src"
w="" dpid="" mpid=""
down() {
    [ -n "$w" ] || return 0
    mountpoint -q "$w/mnt" && umount "$w/mnt"
    [ -z "$mpid" ] || wait "$mpid" 2>/dev/null || true
    [ -z "$dpid" ] || { kill "$dpid" 2>/dev/null; wait "$dpid" 2>/dev/null || true; }
    mountpoint -q "$w/exp" && umount "$w/exp"
    rm -rf "$w"
    w="" dpid="" mpid=""
}
trap 'down; rm -rf "$work"' EXIT

up() {
    w=$(mktemp -d "$work/run.XXXXXX")
    mkdir "$w/exp" "$w/mnt"
    mount -t tmpfs tmpfs "$w/exp"
    local port=$((20000 + RANDOM % 20000))
    # diod dumps core when killed; keep that out of the way.
    (cd "$w" && exec "$diod_bin" -f -n -l "127.0.0.1:$port" -e "$w/exp" -L "$w/diod.log") &
    dpid=$!
    sleep 0.5
    "$1" "127.0.0.1:$port" "$w/mnt" -o "aname=$w/exp,cache=$cache" -f 2>"$w/mount.log" &
    mpid=$!
    for _ in $(seq 50); do mountpoint -q "$w/mnt" && return 0; sleep 0.1; done
    die "mount with $1 failed: $(cat "$w/mount.log")"
}

ticks() { awk '{ print $14 + $15 }' "/proc/$mpid/stat"; }
rate() { awk '/copied/ { print $(NF - 1), $NF }'; }
declare -A res=()
for ((r = 1; r <= rounds; r++)); do
    for spec in "$@"; do
        label=${spec%%=*} bin=${spec#*=}
        up "$bin"
        cp "$src" "$w/exp/f"
        sync
        echo 3 >/proc/sys/vm/drop_caches
        t0=$(ticks)
        rd=$(dd if="$w/mnt/f" of=/dev/null bs=1M 2>&1 | rate)
        t1=$(ticks)
        wr=$(dd if=/dev/zero of="$w/mnt/w" bs=1M count=1024 conv=fsync 2>&1 | rate)
        t2=$(ticks)
        down
        echo "round $r $label cache=$cache: read $rd, $((t1 - t0)) ticks;" \
            "write $wr, $((t2 - t1)) ticks; load $(cut -d' ' -f1-3 /proc/loadavg)"
        res["$label rt"]+="$((t1 - t0)) " res["$label wt"]+="$((t2 - t1)) "
    done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 }
    END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "medians of $rounds rounds, ticks of $(getconf CLK_TCK)/s per GiB:"
for spec in "$@"; do
    label=${spec%%=*}
    echo "  $label: read $(median <<<"${res["$label rt"]}"), write $(median <<<"${res["$label wt"]}")"
done
