# shellcheck shell=bash
# What the scripts that build a Debian root (pi-root.sh, test-service.sh) share. Sourced; the
# caller defines die().

# The host's own added certificate authorities are trusted inside too, so that whatever the host
# trusts for reaching the package archives works from the root as well.
copy_local_cas() {
    local dir=$1
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        mkdir -p "$dir/usr/local/share/ca-certificates"
        cp /usr/local/share/ca-certificates/*.crt "$dir/usr/local/share/ca-certificates/"
        chroot "$dir" update-ca-certificates >/dev/null 2>&1 || true
    fi
}

# Never recurse into a root that still has something mounted in it (a run killed before its
# cleanup leaves /dev bound read-write): unmount what is there, and stay on one file system.
remove_root() {
    local dir=$1 mnt
    [[ -e $dir ]] || return 0
    while read -r mnt; do
        umount -l "$mnt" || die "cannot unmount $mnt: remove $dir by hand"
    done < <(awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r)
    rm -rf --one-file-system "$dir"
}

# debootstrap ARCH PACKAGES MIRROR DIR [SUITE]: a Debian minbase root of SUITE (default bookworm)
# with PACKAGES (a comma list) in DIR, from MIRROR (empty: debootstrap's default), trusting the
# host's added CAs; apt's cache emptied. On failure: the log's tail, then die.
debootstrap_root() {
    local arch=$1 packages=$2 mirror=$3 dir=$4 suite=${5:-bookworm}
    local args=(--arch="$arch" --variant=minbase "--include=$packages" "$suite" "$dir")
    [[ -n $mirror ]] && args+=("$mirror")
    if ! debootstrap "${args[@]}" >"$dir.log" 2>&1; then
        tail -n 20 "$dir.log" >&2
        die "debootstrap failed (log: $dir.log)"
    fi
    copy_local_cas "$dir"
    chroot "$dir" apt-get clean
}
