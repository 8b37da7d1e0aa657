#!/usr/bin/env bash
# Real-workload benchmark: a source tree untarred, committed to git, git
# status, grep -r, a small C build and rm -rf, through native tmpfs (no
# FUSE), ninep-mount (cache=none, cache=loose and cache=cto), a FUSE ceiling
# (bindfs) and sshfs (to a throwaway sshd on 127.0.0.1), all on loopback, in
# the same run. Not run in CI: by hand, as root.
#
#   scripts/bench-work.sh [--rounds N] [--quick] [--quiet-wait SECS]
#                         [--only LIST] [--targets LIST]
#
#   --rounds      rounds (every target runs every workload once per round,
#                 the order of the targets rotating from round to round);
#                 medians over them; default 3
#   --quick       1 round and a smaller tree (~1,500 files, ~20 MB): to try
#                 the script out, not to quote
#   --only        time only these workloads (comma-separated: untar, git,
#                 status, statusw, grep, build, rm); the ones they need (the
#                 untar, the commit, ...) still run, untimed
#   --targets     only these targets (comma-separated: native, none, loose,
#                 cto, bindfs, sshfs)
#   --quiet-wait  before each round, wait up to SECS for the machine to be
#                 idle (< 0.1 CPUs busy for 2 s); default 30
#
# The tree: made once per run by scripts/lib/gen-tree.py with a fixed seed
# (no network): 9,200 files, ~120 MB, ~600 directories nested 2-5 deep,
# mostly 1-30 KB text files of identifiers (a tail up to 3 MB, a few binary
# files, executables and symlinks) and a C project (cbuild/: Makefile and
# 40 units), tarred on local disk (the temporary folder in /tmp). Each
# target works in its own folder, w-TARGET; the ninep-mount targets, bindfs
# and sshfs share the export (a tmpfs that diod exports), native has a
# tmpfs of its own.
#
# Workloads, in this order in each target's folder, seconds (lower is
# better); caches are dropped (sync; echo 3 > drop_caches) before all but
# the warm git status:
#   untar     tar xf TREE.tar -C DIR
#   git       git init -q && git add -A && git commit -q -m x
#   status    git status --porcelain
#   statusw   git status --porcelain again, right after (warm)
#   grep      grep -r -c WORD . (the tree and .git)
#   build     make -j2 in cbuild/
#   rm        rm -rf DIR
# git runs without the user's or the system's configuration, with gc.auto=0
# (the commit would start a gc in the background otherwise).
#
# Checked in every run, the script failing when one is wrong: after the
# untar, every file's path, mode and SHA-256, every directory and every
# symlink are the tarred tree's; after the commit, git fsck passes and HEAD's
# tree is the tarred tree's; git status shows nothing; grep counts the
# generator's number of lines with WORD; the program built prints the
# expected line; after rm -rf the folder is gone, also on the export.
#
# Needs root and a Debian machine; installs what is missing with apt-get
# (diod, fuse3, bindfs, sshfs, openssh-server, git, build-essential,
# python3) and builds ninep-mount (release). ninep-mount runs in the
# foreground (-f -o aname=EXPORT,cache=MODE), one process per cache mode; a
# mode the binary does not take (its mount fails) is skipped with a note.
# Everything is undone on exit, also on failure or Ctrl-C.
#
# Prints a table of medians (workload x target), the ratios of each
# ninep-mount mode to sshfs and to bindfs, the goals met or missed, the 9P
# requests per file of the tree of each workload and mode with the five
# most frequent request types (`ninep-mount stats --json` before and after;
# last round), cache=none's time against its floor (the round trips it
# waits for times the round trip `ninep-bench --rtt` measures, built here
# too), and every run.
set -euo pipefail
# shellcheck source=lib/bench.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/bench.sh"

rounds=3
quiet_wait=30
bench_takes_targets=true
bench_args "$@"

seed=9
marker=zqxbenchword
if "$quick"; then
    "$rounds_given" || rounds=1
    tree_files=1500
    tmpfs_mib=1024
else
    tree_files=9200
    tmpfs_mib=3072
fi

is_in() {
    local x=$1
    shift
    [[ " $* " == *" $x "* ]]
}

all_workloads=(untar git status statusw grep build rm)
all_targets=(native none loose cto bindfs sshfs)
timed=("${all_workloads[@]}")
if [ -n "$only" ]; then
    pick_list --only workload "$only" "${all_workloads[@]}"
    timed=("${picked[@]}")
fi
targets=("${all_targets[@]}")
if [ -n "$targets_only" ]; then
    pick_list --targets target "$targets_only" "${all_targets[@]}"
    targets=()
    for t in "${all_targets[@]}"; do
        ! is_in "$t" "${picked[@]}" || targets+=("$t")
    done
fi
# The workloads timed, in the order they run.
workloads=()
for w in "${all_workloads[@]}"; do
    ! is_in "$w" "${timed[@]}" || workloads+=("$w")
done
# The ones that run (timed or not): what the timed ones need.
declare -A needed=([untar]=1 [rm]=1)
for w in "${workloads[@]}"; do
    needed[$w]=1
    case "$w" in
    status | statusw | grep) needed[git]=1 ;;&
    statusw) needed[status]=1 ;;
    esac
done

declare -A label=([native]="native tmpfs" [none]="ninep cache=none"
    [loose]="ninep cache=loose" [cto]="ninep cache=cto"
    [bindfs]="bindfs (ceiling)" [sshfs]="sshfs")
declare -A column=([native]="native" [none]="9p none" [loose]="9p loose"
    [cto]="9p cto" [bindfs]="bindfs" [sshfs]="sshfs")
declare -A abbrev=([sshfs]=ssh [bindfs]=bnd)
declare -A wl_label=([untar]="untar (cold)" [git]="git init+add+commit"
    [status]="git status (cold)" [statusw]="git status (warm)"
    [grep]="grep -r (cold)" [build]="make -j2 (cold)" [rm]="rm -rf (cold)")

# --- setup -----------------------------------------------------------------

install_missing "${bench_packages[@]}" git:git build-essential:cc make:make \
    python3:python3
find_bins
build_ninep_mount

make_export ninep-bench-work "$((tmpfs_mib << 20))"

# The tree, tarred, and what every target must show of it.
src=$work/src
tarball=$work/tree.tar
say "generating the tree ($tree_files files, seed $seed) in $src"
gen_out=$(python3 scripts/lib/gen-tree.py "$src" --files "$tree_files" \
    --seed "$seed" --marker "$marker") || die "gen-tree.py failed"
declare -A tree=()
while IFS='=' read -r k v; do tree[$k]=$v; done <<<"$gen_out"
for k in files dirs symlinks bytes marker_lines build_output; do
    [ -n "${tree[$k]:-}" ] || die "gen-tree.py did not say $k: $gen_out"
done
tree_mb=$(awk -v b="${tree[bytes]}" 'BEGIN { printf "%.1f", b / 1e6 }')
tar cf "$tarball" --sort=name --owner=0 --group=0 --numeric-owner \
    --mtime=@1700000000 -C "$src" .
say "tree: ${tree[files]} files, ${tree[dirs]} directories, ${tree[symlinks]} symlinks," \
    "$tree_mb MB; tarball $(($(stat -c %s "$tarball") >> 20)) MiB"

# listing DIR: every directory and file with its mode, every file's SHA-256,
# every symlink's target; sorted.
listing() {
    (
        cd "$1"
        find . \( -type d -o -type f \) -printf '%y %m %p\n' | LC_ALL=C sort
        find . -type l -printf 'l %p -> %l\n' | LC_ALL=C sort
        find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
    )
}

# git without the user's or the system's configuration.
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
g() {
    git -c safe.directory='*' -c user.name=bench -c user.email=bench@example.invalid \
        -c commit.gpgsign=false -c init.defaultBranch=main -c gc.auto=0 \
        -c core.fsmonitor=false -c core.untrackedCache=false "$@"
}

listing "$src" >"$work/listing.ref"
g -C "$src" init -q
g -C "$src" add -A
g -C "$src" commit -q -m x
ref_tree=$(g -C "$src" rev-parse 'HEAD^{tree}')
ref_grep=$(cd "$src" && LC_ALL=C grep -r -c "$marker" . | awk -F: '{ s += $NF } END { print s + 0 }')
[ "$ref_grep" -eq "${tree[marker_lines]}" ] ||
    die "grep counts $ref_grep lines with $marker in the tree, gen-tree.py says ${tree[marker_lines]}"
rm -rf "$src"

# Native: a tmpfs of its own, unmounted on exit as the other mounts.
mnt[native]=$work/native
if is_in native "${targets[@]}"; then
    mkdir "${mnt[native]}"
    mount -t tmpfs -o "size=$((tmpfs_mib << 20))" tmpfs "${mnt[native]}"
fi

# Each mount must show this.
echo "ninep-mount bench-work export" >"$export_dir/export.txt"
start_diod
# The least a request that reaches the server costs (cache=none's floor).
rtt_us=""
if is_in none "${targets[@]}"; then
    build_ninep_bench
    rtt_line=$("$bench_bin" "127.0.0.1:$diod_port" \
        --aname "$export_dir" --rtt 10000) || die "ninep-bench --rtt failed"
    rtt_us=$(sed -n 's/.*median_us=\([0-9.]*\).*/\1/p' <<<"$rtt_line")
    [ -n "$rtt_us" ] || die "ninep-bench printed no round trip: $rtt_line"
    say "round trip to diod: $rtt_line"
fi
skipped=""
ninep_modes=()
for t in none loose cto; do
    is_in "$t" "${targets[@]}" || continue
    if [ "$t" = cto ]; then
        if ! try_mount_ninep cto export.txt; then
            why=$(tail -c 300 "$work/ninep-cto.log" | tr '\n' ' ')
            say "skipping ninep cache=cto: the mount failed: $why"
            skipped+="ninep cache=cto skipped: the mount failed ($why)"$'\n'
            continue
        fi
    else
        mount_ninep "$t" export.txt
    fi
    ninep_modes+=("$t")
done
if is_in bindfs "${targets[@]}"; then mount_bindfs; else bindfs_opts=""; fi
if is_in sshfs "${targets[@]}"; then
    start_sshd
    mount_sshfs export.txt
fi
# The targets that run.
ran=()
for t in "${targets[@]}"; do
    [ -z "${mnt[$t]:-}" ] || ! mountpoint -q "${mnt[$t]}" || ran+=("$t")
done
targets=("${ran[@]}")
[ "${#targets[@]}" -gt 0 ] || die "no target to run"

# Where a target's folder really is: on the export, or on native's tmpfs.
backing() {
    if [ "$1" = native ]; then echo "${mnt[native]}/w-native"; else echo "$export_dir/w-$1"; fi
}

# --- runs ------------------------------------------------------------------

t_start() { t0=$EPOCHREALTIME; }
t_stop() { secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'); }

# The 9P requests of a ninep-mount target around each workload.
stats_json() { "$mount_bin" stats "${mnt[$1]}" --json >"$2" || die "ninep-mount stats ${mnt[$1]} failed"; }
# requests_between BEFORE AFTER: "TOTAL<TAB>TCLUNK<TAB>TGETATTR<TAB>type n,
# type n, ..." (top 5).
requests_between() {
    python3 - "$1" "$2" <<'EOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
ta, tb = dict(a["requests_by_type"]), dict(b["requests_by_type"])
n = {k: tb[k] - ta.get(k, 0) for k in tb}
d = sorted(((c, k) for k, c in n.items()), key=lambda x: (-x[0], x[1]))
top = ", ".join(f"{k} {c}" for c, k in d[:5] if c > 0)
print(b["requests"] - a["requests"], n.get("Tclunk", 0), n.get("Tgetattr", 0), top, sep="\t")
EOF
}

# run_WORKLOAD TARGET DIR: does it, timed, into secs; checks the result.
run_untar() {
    local t=$1 d=$2
    t_start
    tar xf "$tarball" -C "$d" 2>"$work/tar.$t" ||
        die "tar xf through $t failed: $(tail -c 2000 "$work/tar.$t")"
    t_stop
    listing "$d" >"$work/listing.$t" || die "listing the tree through $t failed"
    cmp -s "$work/listing.ref" "$work/listing.$t" ||
        die "the tree untarred through $t is not the tarred one:" \
            "$(diff "$work/listing.ref" "$work/listing.$t" | head -n 20)"
}
run_git() {
    local t=$1 d=$2 tree
    t_start
    { g -C "$d" init -q && g -C "$d" add -A && g -C "$d" commit -q -m x; } ||
        die "git init/add/commit through $t failed"
    t_stop
    g -C "$d" fsck --no-progress >"$work/fsck.$t" 2>&1 ||
        die "git fsck through $t failed: $(head -c 2000 "$work/fsck.$t")"
    tree=$(g -C "$d" rev-parse 'HEAD^{tree}')
    [ "$tree" = "$ref_tree" ] || die "HEAD's tree through $t is $tree, not $ref_tree"
}
# sshfs has been seen (twice in ~15 runs of the full tree, sshfs 3.7.3) to
# make git status list a few of the tree's symlinks as modified when they
# are not: git diff right after shows nothing, and the next git status is
# clean. Through bindfs or sshfs, the references, a git status that is
# clean when run again at once is a note in the output, not a failure.
notes=""
run_status() {
    local t=$1 d=$2 again n note
    t_start
    g -C "$d" status --porcelain >"$work/status.$t" || die "git status through $t failed"
    t_stop
    [ -s "$work/status.$t" ] || return 0
    again=$(g -C "$d" status --porcelain 2>&1) || true
    if [ -z "$again" ] && is_in "$t" bindfs sshfs; then
        n=$(wc -l <"$work/status.$t")
        note="${label[$t]}, round $((r + 1)), ${wl_label[$w]}: git status listed $n"
        note+=" path(s) as modified ($(awk 'NR <= 3 { printf "%s%s", (NR > 1 ? ", " : ""), $2 }
            NR == 4 { printf ", ..." }' "$work/status.$t")); clean when run again"
        say "warning: $note"
        notes+="$note"$'\n'
        return 0
    fi
    die "git status through $t is not clean: $(head -n 20 "$work/status.$t");" \
        "git diff: $(g -C "$d" diff 2>&1 | head -n 40); git status again: $(head -n 20 <<<"$again")"
}
run_statusw() { run_status "$@"; }
run_grep() {
    local t=$1 d=$2 rc=0 n
    t_start
    (cd "$d" && LC_ALL=C grep -r -c "$marker" .) >"$work/grep.$t" || rc=$?
    t_stop
    [ "$rc" -eq 0 ] || die "grep -r through $t failed (exit status $rc)"
    n=$(awk -F: '{ s += $NF } END { print s + 0 }' "$work/grep.$t")
    [ "$n" -eq "$ref_grep" ] || die "grep counts $n lines with $marker through $t, not $ref_grep"
}
run_build() {
    local t=$1 d=$2 out
    t_start
    make -C "$d/cbuild" -j2 >"$work/make.$t" 2>&1 ||
        die "make through $t failed: $(tail -c 2000 "$work/make.$t")"
    t_stop
    out=$("$d/cbuild/prog") || die "the program built through $t failed"
    [ "$out" = "${tree[build_output]}" ] ||
        die "the program built through $t prints \"$out\", not \"${tree[build_output]}\""
}
run_rm() {
    local t=$1 d=$2
    t_start
    rm -rf "$d" || die "rm -rf through $t failed"
    t_stop
    [ ! -e "$d" ] || die "$d still there after rm -rf through $t"
    [ ! -e "$(backing "$t")" ] || die "$(backing "$t") still there after rm -rf through $t"
}

declare -A runs=() requests=() # "workload target" -> figures; last round's requests
# run_target TARGET: every workload needed, in order, in TARGET's folder.
run_target() {
    local t=$1 d=${mnt[$1]}/w-$1 w line=""
    [ ! -e "$d" ] || die "$d is there before the untar"
    mkdir "$d"
    for w in "${all_workloads[@]}"; do
        [ -n "${needed[$w]:-}" ] || continue
        [ "$w" = statusw ] || drop_caches
        [ -z "${ninep_pid[$t]:-}" ] || stats_json "$t" "$work/stats.before"
        "run_$w" "$t" "$d"
        is_in "$w" "${workloads[@]}" || continue
        runs["$w $t"]+="$secs "
        line+=" $w=$secs"
        if [ -n "${ninep_pid[$t]:-}" ]; then
            stats_json "$t" "$work/stats.after"
            requests["$w $t"]=$(requests_between "$work/stats.before" "$work/stats.after")
        fi
    done
    say "round $((r + 1))/$rounds: ${label[$t]}:$line"
}

for ((r = 0; r < rounds; r++)); do
    [ "$quiet_wait" -eq 0 ] || wait_quiet "$quiet_wait"
    round_order "$r" # the order of the targets rotates from round to round
    for t in "${order[@]}"; do run_target "$t"; done
done

# --- table -----------------------------------------------------------------

echo
echo "$(versions)" "tmpfs on loopback; medians of $rounds round(s)"
echo "tree: ${tree[files]} files, ${tree[dirs]} directories, ${tree[symlinks]} symlinks," \
    "$tree_mb MB (seed $seed); seconds, lower is better"
printf '%s' "$skipped"
if [ -n "$notes" ]; then
    mapfile -t note_lines <<<"${notes%$'\n'}"
    printf 'note: %s\n' "${note_lines[@]}"
fi
printf '%-22s' "workload"
for t in "${targets[@]}"; do printf ' %9s' "${column[$t]}"; done
echo
declare -A med=()
for w in "${workloads[@]}"; do
    printf '%-22s' "${wl_label[$w]}"
    for t in "${targets[@]}"; do
        med["$w $t"]=$(median <<<"${runs["$w $t"]}")
        printf ' %9s' "$(short "${med["$w $t"]}")"
    done
    echo
done

# The ratios of each ninep-mount mode to sshfs and bindfs.
pairs=()
for o in sshfs bindfs; do
    is_in "$o" "${targets[@]}" || continue
    for m in "${ninep_modes[@]}"; do pairs+=("$m $o"); done
done
if [ "${#pairs[@]}" -gt 0 ]; then
    echo
    printf '%-22s' "ratio"
    for p in "${pairs[@]}"; do
        read -r m o <<<"$p"
        printf ' %10s' "$m/${abbrev[$o]}"
    done
    echo
    for w in "${workloads[@]}"; do
        printf '%-22s' "${wl_label[$w]}"
        for p in "${pairs[@]}"; do
            read -r m o <<<"$p"
            printf ' %10s' "$(ratio "${med["$w $m"]}" "${med["$w $o"]}")"
        done
        echo
    done
    echo "(ratios: ninep-mount's seconds / the other's; lower is better)"
fi

# The goals, from the medians above; after each ratio, in brackets, the
# lowest and highest of the same ratio taken round by round.
echo
echo "goals (ratio of medians [per-round lowest-highest])$("$quick" &&
    echo "; --quick: a smaller tree than the goals'"):"
if [ -n "$skipped" ]; then
    echo "  cto: no figures (skipped: the mount with cache=cto failed)"
fi
for w in "${workloads[@]}"; do goal "$w" cto sshfs "<=" 0.7; done
goal statusw cto bindfs "<=" 2
for w in "${workloads[@]}"; do goal "$w" loose sshfs "<=" 0.5; done
goal statusw loose bindfs "<=" 1.5
goal grep loose bindfs "<=" 4

if [ "${#ninep_modes[@]}" -gt 0 ]; then
    echo
    echo "9P requests per file of the tree (${tree[files]} files), last round; the 5 most frequent:"
    for w in "${workloads[@]}"; do
        for m in "${ninep_modes[@]}"; do
            IFS=$'\t' read -r total _ _ top <<<"${requests["$w $m"]:-}"
            [ -n "${total:-}" ] || continue
            printf '  %-22s %-6s %8s req/file (%s requests): %s\n' "${wl_label[$w]}" "$m" \
                "$(awk -v n="$total" -v f="${tree[files]}" 'BEGIN { printf "%.2f", n / f }')" \
                "$total" "${top:--}"
        done
    done
fi

# cache=none against its floor: the round trips it waits for, one after
# the other, times the round trip ninep-bench measured. Each workload is
# one process issuing one system call at a time, and cache=none answers
# nothing from memory, so nearly every request waits; not a Tclunk (sent
# without waiting), and a Tgetattr may travel with the walk or open before
# it (one wait for both). Hence a range: the floor counts every request but
# the Tclunks (high) or also leaves out every Tgetattr (low). The work
# itself (native tmpfs's median, when it ran: the compiler's time in make)
# is added to both.
if [ -n "$rtt_us" ] && is_in none "${ninep_modes[@]}"; then
    echo
    echo "cache=none against its floor (round trip: median ${rtt_us} µs over 10,000 Tgetattr," \
        "ninep-bench --rtt; round trips waited for, last round$(is_in native "${targets[@]}" &&
            echo ", plus native's time")):"
    for w in "${workloads[@]}"; do
        IFS=$'\t' read -r total clunks getattrs _ <<<"${requests["$w none"]:-}"
        [ -n "${total:-}" ] || continue
        awk -v w="${wl_label[$w]}" -v s="${med["$w none"]}" -v rtt="$rtt_us" \
            -v work="${med["$w native"]:-0}" \
            -v hi="$((total - clunks))" -v lo="$((total - clunks - getattrs))" '
            BEGIN {
                fh = work + hi * rtt / 1e6; fl = work + lo * rtt / 1e6
                rh = fh > 0 ? s / fh : 0; rl = fl > 0 ? s / fl : 0
                v = rl <= 1.3 ? "met" : (rh > 1.3 ? "missed" : "unsure (met only if every Tgetattr waited)")
                printf "  %-22s %7d-%-7d round trips, floor %6.2f-%-6.2f s, measured %6.2f s:" \
                    " %.2f-%.2fx (goal <= 1.3x) %s\n", w, lo, hi, fl, fh, s, rh, rl, v
            }'
    done
fi

echo
print_runs
