#!/usr/bin/env bash
# The random-read prefetch of cache=loose (-o prefetch=), on and
# off, by hand (not CI; the full comparison is scripts/bench-mount.sh):
#
#   scripts/bench-prefetch.sh [ROUNDS]      default 3
#
# diod exports a tmpfs; two cache=loose mounts of it run side by side,
# prefetch=65536 (the default) and prefetch=0. Each round runs, for each
# mount in turn (the order alternating from round to round), with the page
# cache dropped before every run:
#   fio 4 KiB random reads, psync, 256 MiB file, 10 s, 1 job and 4 jobs  IOPS
#   dd if=FILE of=/dev/null bs=1M, the same file                       MB/s
# and prints every run, then the medians and the load average. Needs root,
# diod, fio; BIN= the ninep-mount binary (default: this tree's release
# build, built if missing).
set -euo pipefail
rounds=${1:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${BIN:-$here/target/release/ninep-mount}
[ -x "$bin" ] || (cd "$here" && cargo build --release -p ninep-mount)

w=$(mktemp -d)
pids=()
cleanup() {
    for m in "$w"/on "$w"/off; do mountpoint -q "$m" && umount "$m"; done
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    mountpoint -q "$w/exp" && umount "$w/exp"
    rm -rf "$w"
}
trap cleanup EXIT
mkdir "$w/exp" "$w/on" "$w/off"
mount -t tmpfs -o size=600m tmpfs "$w/exp"
port=$((20000 + RANDOM % 20000))
diod -f -n -l 127.0.0.1:$port -e "$w/exp" -L "$w/diod.log" &
pids+=($!)
sleep 0.5
for m in on off; do
    p=65536; [ $m = off ] && p=0
    "$bin" 127.0.0.1:$port "$w/$m" -o aname="$w/exp",cache=loose,prefetch=$p -f \
        2>"$w/$m.log" &
    pids+=($!)
done
for m in on off; do
    for _ in $(seq 50); do mountpoint -q "$w/$m" && break; sleep 0.1; done
done
head -c 256M /dev/urandom >"$w/exp/fio.dat"

drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
fio_iops() { # MOUNT JOBS
    drop
    fio --name=r --rw=randread --bs=4k --size=256m --runtime=10 --time_based \
        --ioengine=psync --numjobs="$2" --group_reporting --direct=0 \
        --filename="$1/fio.dat" --minimal | cut -d';' -f8
}
dd_mbs() { # MOUNT
    drop
    dd if="$1/fio.dat" of=/dev/null bs=1M 2>&1 |
        awk '/copied/ {for (i = 2; i <= NF; i++) if ($i == "s,") print int($1 / $(i-1) / 1e6)}'
}
declare -A runs
for r in $(seq "$rounds"); do
    order="on off"; [ $((r % 2)) = 0 ] && order="off on"
    for m in $order; do
        for j in 1 4; do
            v=$(fio_iops "$w/$m" $j)
            runs[$m.fio$j]+="$v "
            echo "round $r $m fio numjobs=$j: $v IOPS"
        done
        v=$(dd_mbs "$w/$m")
        runs[$m.dd]+="$v "
        echo "round $r $m dd bs=1M: $v MB/s"
    done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "medians over $rounds rounds (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
for k in fio1 fio4 dd; do
    printf '%-6s prefetch on %10s   off %10s\n' "$k" \
        "$(echo "${runs[on.$k]}" | median)" "$(echo "${runs[off.$k]}" | median)"
done
