#!/usr/bin/env bash
# Installs ninep-mount for everyone on this machine (as root):
#
#   scripts/install.sh [--root DIR] [--binary PATH]
#
# - the binary:           /usr/local/bin/ninep-mount (a release build)
# - mount(8)'s helper:    /sbin/mount.ninep -> the binary, so that
#                         `mount -t ninep` and fstab lines of type ninep work
# - the man page:         /usr/local/share/man/man8/ninep-mount.8
# - completions:          bash, zsh and fish, under /usr/local/share
#
# --root DIR installs under DIR instead of / (for packaging and tests);
# --binary PATH installs that binary instead of building one.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

root=""
binary=""
while [ $# -gt 0 ]; do
    case "$1" in
        --root) root="${2:?--root needs a directory}"; shift 2 ;;
        --binary) binary="${2:?--binary needs a path}"; shift 2 ;;
        *) echo "usage: $0 [--root DIR] [--binary PATH]" >&2; exit 1 ;;
    esac
done

say() { printf '==> %s\n' "$*" >&2; }

if [ -z "$binary" ]; then
    say "cargo build --release -p ninep-mount"
    cargo build --release -p ninep-mount
    binary=target/release/ninep-mount
fi

bin="$root/usr/local/bin/ninep-mount"
share="$root/usr/local/share"
say "installing $bin"
install -D -m 0755 "$binary" "$bin"
install -d "$root/sbin"
# mount(8) runs /sbin/mount.TYPE; the link names the installed binary.
ln -sfn /usr/local/bin/ninep-mount "$root/sbin/mount.ninep"
say "installed $root/sbin/mount.ninep"

install -d "$share/man/man8" "$share/bash-completion/completions" \
    "$share/zsh/site-functions" "$share/fish/vendor_completions.d"
"$bin" generate man >"$share/man/man8/ninep-mount.8"
"$bin" generate bash >"$share/bash-completion/completions/ninep-mount"
"$bin" generate zsh >"$share/zsh/site-functions/_ninep-mount"
"$bin" generate fish >"$share/fish/vendor_completions.d/ninep-mount.fish"
say "installed the man page (man 8 ninep-mount) and bash, zsh and fish completions"
