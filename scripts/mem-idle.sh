#!/usr/bin/env bash
# The resident memory of an idle mount, by hand (not CI; docs/performance.md
# quotes its output):
#
#   scripts/mem-idle.sh [FILES]      default 5000
#
# diod exports a tmpfs; ninep-mount mounts it with cache=none, cto and
# loose in turn. For each mode the script prints the mount's resident
# memory (VmRSS) and the anonymous part of it (RssAnon: the heap, what the
# mount itself holds) twice: just mounted, and idle after FILES files were
# made, listed with `ls -l` and read through the mount (its caches full).
# Each figure is taken after 2 s without requests. Needs root; installs
# diod and fuse3 if missing.
set -euo pipefail
# shellcheck source=lib/bench.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/bench.sh"

case "${1:-}" in -h | --help) usage; exit 0 ;; esac
files=${1:-5000}
[[ "$files" =~ ^[1-9][0-9]*$ ]] || die "usage: $0 [FILES]"
[ "$(id -u)" -eq 0 ] || die "needs root (mounts)"

install_missing diod:diod fuse3:fusermount3
diod_bin=$(bin diod)
build_ninep_mount
make_export ninep-mem-idle 1G
start_diod

# memory PID: "VmRSS RssAnon" in MiB, one decimal.
memory() {
    awk '$1 == "VmRSS:" { r = $2 } $1 == "RssAnon:" { a = $2 }
         END { printf "%.1f %.1f\n", r / 1024, a / 1024 }' "/proc/$1/status"
}


printf '\n%-6s %-26s %10s %14s\n' mode when "VmRSS MiB" "RssAnon MiB"
for mode in none cto loose; do
    mount_ninep "$mode"
    pid=${ninep_pid[$mode]}
    sleep 2
    read -r rss anon < <(memory "$pid")
    printf '%-6s %-26s %10s %14s\n' "$mode" "just mounted" "$rss" "$anon"
    dir=${mnt[$mode]}/files-$mode
    mkdir "$dir"
    for i in $(seq "$files"); do printf 'file %d\n' "$i" >"$dir/f$i"; done
    ls -l "$dir" >/dev/null
    cat "$dir"/f* | wc -l | grep -qx "$files" || die "read back fewer than $files lines"
    sleep 2
    read -r rss anon < <(memory "$pid")
    printf '%-6s %-26s %10s %14s\n' "$mode" "idle after $files files" "$rss" "$anon"
    fusermount3 -u "${mnt[$mode]}"
    wait "$pid" 2>/dev/null || true
    unset "ninep_pid[$mode]"
done
