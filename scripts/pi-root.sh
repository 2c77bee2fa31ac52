#!/usr/bin/env bash
# An emulated Raspberry Pi OS: Debian Bookworm arm64 (what Raspberry Pi OS 64-bit is built on) with
# apt's Python 3.11 and NumPy 1.24, plus stand-ins for Raspberry Pi's camera packages, run under
# qemu-user-static. Built once and cached; `run` executes a command inside it.
#
#   scripts/pi-root.sh build              build the root if it is missing or its recipe changed
#   scripts/pi-root.sh run [--bind SRC:DST[:ro]]... CMD...   run CMD inside (as root)
#   scripts/pi-root.sh path               print where the root is
#
# The root lives in $EDGEPOSE_PI_ROOT (default ~/.cache/edgepose/pi-root-bookworm-arm64). The apt
# mirror is debootstrap's default unless EDGEPOSE_PI_MIRROR is set; the emulated core is
# EDGEPOSE_PI_CPU (default cortex-a72, a Pi 4's). Needs root, debootstrap,
# qemu-user-static and binfmt_misc (mounted and with qemu-aarch64 enabled).
set -euo pipefail

SRC_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=${EDGEPOSE_PI_ROOT:-$HOME/.cache/edgepose/pi-root-bookworm-arm64}
MIRROR=${EDGEPOSE_PI_MIRROR:-}
# The emulated core: cortex-a72 (Pi 4); cortex-a76 (Pi 5) and cortex-a53 (Pi 3, Zero 2 W) also work.
CPU=${EDGEPOSE_PI_CPU:-cortex-a72}
STANDINS=$SRC_DIR/tests/pi/standins
# What Raspberry Pi OS Lite brings for Python, the build tools that apt's simplejpeg is built with,
# systemd (for systemctl in the install script) and make (for the Makefile).
PACKAGES=python3,python3-venv,python3-pip,python3-numpy,python3-yaml,python3-dev,gcc,libc6-dev,cython3,ca-certificates,make,systemd
SITE=/usr/lib/python3/dist-packages

die() { echo "pi-root: $*" >&2; exit "${2:-1}"; }
say() { printf '==> %s\n' "$*"; }

# Changes to the package list or the stand-ins rebuild what depends on them.
recipe_base() { printf '%s\n' "bookworm arm64 minbase $PACKAGES $MIRROR" | sha256sum | cut -c1-16; }
recipe_standins() { (cd "$STANDINS" && find . -type f ! -name '*.pyc' | sort | xargs sha256sum) | sha256sum | cut -c1-16; }

preflight() {
    [[ $EUID -eq 0 ]] || die "run as root: debootstrap, chroot and mounts need it" 77
    local missing=()
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    [[ -x /usr/bin/qemu-aarch64-static ]] || missing+=(qemu-user-static)
    command -v update-binfmts >/dev/null || missing+=(binfmt-support)
    if [[ ${#missing[@]} -gt 0 ]]; then
        die "missing: ${missing[*]}; install with: apt-get install ${missing[*]}" 69
    fi
    if [[ ! -e /proc/sys/fs/binfmt_misc/register ]]; then
        say "binfmt_misc is not mounted: mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc"
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc ||
            die "could not mount binfmt_misc (in a container, the host must allow it)" 69
    fi
    if [[ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]] || ! grep -q enabled /proc/sys/fs/binfmt_misc/qemu-aarch64; then
        say "qemu-aarch64 is not registered with binfmt_misc: update-binfmts --enable qemu-aarch64"
        update-binfmts --enable qemu-aarch64 || die "could not enable qemu-aarch64 in binfmt_misc" 69
    fi
}

# debootstrap_root, copy_local_cas, remove_root
# shellcheck source=scripts/roots.sh
source "$(dirname "${BASH_SOURCE[0]}")/roots.sh"

build_base() {
    local tmp=$ROOT.partial
    remove_root "$tmp"
    mkdir -p "$(dirname "$ROOT")"
    say "debootstrap Debian Bookworm arm64 into $tmp (about 10 minutes under qemu)"
    debootstrap_root arm64 "$PACKAGES" "$MIRROR" "$tmp"
    recipe_base >"$tmp/.edgepose-base"
    remove_root "$ROOT"
    mv "$tmp" "$ROOT"
    rm -f "$tmp.log"
}

# apt's picamera2 stack, stood in for: picamera2 and libcamera as packages in apt's dist-packages,
# simplejpeg built with Cython against apt's NumPy headers, as apt builds the real one.
install_standins() {
    say "stand-in picamera2, libcamera and simplejpeg (built against apt's NumPy) in $SITE"
    for pkg in picamera2 libcamera simplejpeg; do
        rm -rf "${ROOT:?}$SITE/$pkg"
        cp -r "$STANDINS/$pkg" "$ROOT$SITE/$pkg"
    done
    chroot "$ROOT" sh -ec "
        cd $SITE/simplejpeg
        cython3 -3 _jpeg.pyx -o /tmp/_jpeg.c
        gcc -shared -fPIC -O1 -w \$(python3-config --includes) -I $SITE/numpy/core/include /tmp/_jpeg.c \
            -o _jpeg\$(python3-config --extension-suffix)
        rm -f /tmp/_jpeg.c _jpeg.pyx
        python3 -c 'import picamera2, simplejpeg, numpy; print(\"    apt NumPy\", numpy.__version__, \"loads\", simplejpeg._jpeg.__file__)'
    "
    recipe_standins >"$ROOT/.edgepose-standins"
}

build() {
    preflight
    if [[ -f $ROOT/.edgepose-base && $(cat "$ROOT/.edgepose-base") == "$(recipe_base)" ]]; then
        say "cached root: $ROOT"
    else
        build_base
    fi
    if [[ ! -f $ROOT/.edgepose-standins || $(cat "$ROOT/.edgepose-standins") != "$(recipe_standins)" ]]; then
        install_standins
    fi
}

MOUNTED=()
unmount_all() {
    local i
    for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
        umount -l "${MOUNTED[i]}" 2>/dev/null || true
    done
    MOUNTED=()
}

bind() {
    local src=$1 dst=$ROOT$2 mode=${3:-rw}
    mkdir -p "$dst"
    mount --bind "$src" "$dst"
    MOUNTED+=("$dst")
    if [[ $mode == ro ]]; then
        mount -o remount,bind,ro "$dst"
    fi
}

run_inside() {
    preflight
    [[ -f $ROOT/.edgepose-standins ]] || die "no root at $ROOT: run scripts/pi-root.sh build first"
    local binds=()
    while [[ $# -gt 0 && $1 == --bind ]]; do
        binds+=("$2")
        shift 2
    done
    [[ $# -gt 0 ]] || die "run needs a command"
    exec 9>"$ROOT.lock"
    flock -n 9 || die "another run holds $ROOT.lock"
    trap unmount_all EXIT
    mount -t proc proc "$ROOT/proc"
    MOUNTED+=("$ROOT/proc")
    bind /sys /sys ro
    bind /dev /dev
    mount -t devpts devpts "$ROOT/dev/pts" -o newinstance,ptmxmode=0666 2>/dev/null && MOUNTED+=("$ROOT/dev/pts")
    mount -t tmpfs tmpfs "$ROOT/dev/shm" && MOUNTED+=("$ROOT/dev/shm")
    local spec src dst mode
    for spec in "${binds[@]}"; do
        IFS=: read -r src dst mode <<<"$spec"
        bind "$src" "$dst" "${mode:-rw}"
    done
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
    # A clean environment: what a login shell on the Pi would have, not the host's settings.
    local status=0
    # QEMU_CPU: a Raspberry Pi's core, not qemu's default "max" (which adds SVE, SME and i8mm that no
    # Pi has, and on which LiteRT's arm64 kernels compute wrong results under qemu 7.2).
    env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
        QEMU_CPU="$CPU" \
        PIP_CERT=/etc/ssl/certs/ca-certificates.crt TERM="${TERM:-dumb}" CI="${CI:-}" chroot "$ROOT" "$@" || status=$?
    unmount_all
    trap - EXIT
    return $status
}

case "${1:-}" in
    build) build ;;
    run) shift; run_inside "$@" ;;
    path) echo "$ROOT" ;;
    *) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 64 ;;
esac
