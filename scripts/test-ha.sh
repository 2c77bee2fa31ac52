#!/usr/bin/env bash
# `make test-ha`: edgepose's MQTT discovery against a real Home Assistant. Home Assistant runs in a
# cached Debian root (chroot, this machine's loopback), a real Mosquitto and the daemon run here,
# and the tests in tests/homeassistant/ (marked `ha`) assert through Home Assistant's REST and
# websocket APIs and its log.
#
#   scripts/test-ha.sh            build or reuse the root, then run pytest -m ha
#   scripts/test-ha.sh build      only build (or check) the cached root
#   scripts/test-ha.sh path       print where the cached root is
#
# Why Debian testing: Home Assistant 2026.3 and later need Python >= 3.14.2, which Debian 13
# (trixie, Python 3.13) lacks and Debian testing (forky) ships; 2026.2.3 is the last release for
# 3.13. The newest release is pinned (HA_VERSION) so that a run is repeatable; changing it, the
# suite or the package list rebuilds the root.
#
# 1. the root (debootstrap minbase of testing + python3) and Home Assistant with the MQTT
#    integration's paho in /opt/homeassistant (a venv, installed with uv from PyPI) are built once
#    and cached in $EDGEPOSE_HA_ROOT (default ~/.cache/edgepose/ha-root-testing-amd64);
# 2. pytest -m ha runs here with EDGEPOSE_HA_ROOT set, in a network namespace that has only
#    loopback (unshare --net): each test session starts Home Assistant with --skip-pip on a fresh
#    config directory, onboards it and adds its MQTT entry through its own APIs. Nothing is
#    downloaded from here on. docs/homeassistant.md says what the tests assert and how long it takes.
#
# EDGEPOSE_HA_PYTEST adds pytest options (words); EDGEPOSE_HA_KEEP=1 keeps Home Assistant's config
# directory and log; EDGEPOSE_HA_MIRROR sets debootstrap's mirror. Needs root, debootstrap, unshare.
set -euo pipefail

SRC_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
SUITE=testing
HA_VERSION=2026.11.0
ROOT=${EDGEPOSE_HA_ROOT:-$HOME/.cache/edgepose/ha-root-$SUITE-amd64}
MIRROR=${EDGEPOSE_HA_MIRROR:-}
PYTHON=${PYTHON:-$SRC_DIR/.venv/bin/python}
PACKAGES=python3,python3-venv,ca-certificates
START=$(date +%s)
lap=$START

die() { echo "test-ha: $*" >&2; exit "${2:-1}"; }
say() { printf '==> %s\n' "$*"; }
phase() {
    local now
    now=$(date +%s)
    printf '==> [%4ss, +%ss] %s\n' "$((now - START))" "$((now - lap))" "$*"
    lap=$now
}

recipe_base() { printf '%s\n' "$SUITE amd64 minbase $PACKAGES $MIRROR" | sha256sum | cut -c1-16; }
# The install step's own text is part of the recipe: changing how Home Assistant is installed reinstalls it.
recipe_ha() { printf '%s\n' "$(recipe_base) homeassistant==$HA_VERSION" "$(declare -f install_ha)" | sha256sum | cut -c1-16; }

preflight() {
    [[ $EUID -eq 0 ]] || die "run as root: debootstrap, chroot and mounts need it" 77
    command -v debootstrap >/dev/null || die "missing: debootstrap; install with: apt-get install debootstrap" 69
}

# debootstrap_root, copy_local_cas, remove_root
# shellcheck source=scripts/roots.sh
source "$(dirname "${BASH_SOURCE[0]}")/roots.sh"

MOUNTED=()
unmount_all() {
    local i
    for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
        umount -l "${MOUNTED[i]}" 2>/dev/null || true
    done
    MOUNTED=()
}

# /proc, /sys (read-only), /dev and a /dev/shm of its own in DIR, until unmount_all.
mount_system() {
    local dir=$1
    trap unmount_all EXIT
    mount -t proc proc "$dir/proc" && MOUNTED+=("$dir/proc")
    mount --bind /sys "$dir/sys" && MOUNTED+=("$dir/sys")
    mount -o remount,bind,ro "$dir/sys"
    mount --bind /dev "$dir/dev" && MOUNTED+=("$dir/dev")
    mount -t tmpfs tmpfs "$dir/dev/shm" && MOUNTED+=("$dir/dev/shm")
}

build_base() {
    local tmp=$ROOT.partial
    remove_root "$tmp"
    mkdir -p "$(dirname "$ROOT")"
    say "debootstrap Debian $SUITE amd64 into $tmp (a few minutes)"
    debootstrap_root amd64 "$PACKAGES" "$MIRROR" "$tmp" "$SUITE"
    printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$tmp/etc/hosts"
    recipe_base >"$tmp/.edgepose-base"
    remove_root "$ROOT"
    mv "$tmp" "$ROOT"
    rm -f "$tmp.log"
}

# Home Assistant and the MQTT integration's own requirements (read from its manifest), with uv.
install_ha() {
    say "Home Assistant $HA_VERSION into $ROOT/opt/homeassistant (uv, from PyPI)"
    rm -f "$ROOT/.edgepose-ha"
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
    # Home Assistant installs an integration's requirements when it first loads it; the tests start it
    # with --skip-pip, so what it loads at start (its default set, their dependencies) and MQTT's are
    # installed here.
    cat >"$ROOT/tmp/ha-requirements.py" <<'PY'
import json
import pathlib

import homeassistant.components
from homeassistant import bootstrap

here = pathlib.Path(homeassistant.components.__path__[0])
todo = {"mqtt"}
# What Home Assistant sets up whatever its configuration says (STAGE_1_INTEGRATIONS only when configured).
for name in ("CORE", "CRITICAL", "DEFAULT", "FRONTEND", "LOGGING_AND_HTTP_DEPS"):
    todo |= set(getattr(bootstrap, f"{name}_INTEGRATIONS", ()))
seen, requirements = set(), set()
while todo:
    domain = todo.pop()
    seen.add(domain)
    path = here / domain / "manifest.json"
    if path.exists():
        manifest = json.loads(path.read_text())
        requirements.update(manifest.get("requirements", []))
        # after_dependencies too: an integration imports them where they are loaded (MQTT imports hassio's)
        todo |= set(manifest.get("dependencies", []) + manifest.get("after_dependencies", [])) - seen
print("\n".join(sorted(requirements)))
PY
    mount_system "$ROOT"
    local certs=/etc/ssl/certs/ca-certificates.crt
    env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
        PIP_CERT=$certs SSL_CERT_FILE=$certs UV_NATIVE_TLS=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
        chroot "$ROOT" /bin/sh -ec "
            python3 -c 'import sys; sys.exit(sys.version_info < (3, 14, 2))' ||
                { echo \"Home Assistant $HA_VERSION needs Python >= 3.14.2; this root has \$(python3 -V)\" >&2; exit 1; }
            rm -rf /opt/homeassistant /opt/uv
            python3 -m venv /opt/uv
            /opt/uv/bin/pip install --quiet uv
            python3 -m venv /opt/homeassistant
            /opt/uv/bin/uv pip install --quiet --python /opt/homeassistant/bin/python homeassistant==$HA_VERSION
            # MQTT's must install; of the others, those without a wheel for this Python (they would
            # need a compiler) are left out: their integrations fail to load, which no test uses.
            /opt/homeassistant/bin/python /tmp/ha-requirements.py >/tmp/ha-requirements.txt
            rm /tmp/ha-requirements.py
            ha=\$(/opt/homeassistant/bin/python -c 'import homeassistant; print(homeassistant.__path__[0])')
            mqtt=\$(/opt/homeassistant/bin/python -c 'import json, sys
print(\" \".join(json.load(open(sys.argv[1]))[\"requirements\"]))' \$ha/components/mqtt/manifest.json)
            # Home Assistant's own pins hold, as when it installs a requirement itself.
            uv='/opt/uv/bin/uv pip install --quiet --python /opt/homeassistant/bin/python'
            \$uv -c \$ha/package_constraints.txt \$mqtt
            skipped=''
            while read -r req; do
                \$uv -c \$ha/package_constraints.txt --only-binary :all: \"\$req\" 2>/dev/null || skipped=\"\$skipped \$req\"
            done </tmp/ha-requirements.txt
            rm /tmp/ha-requirements.txt
            [ -z \"\$skipped\" ] || echo \"    left out (no wheel for this Python):\$skipped\"
            rm -rf /opt/uv /root/.cache /tmp/uv-*
            echo \"    \$(python3 -V), Home Assistant \$(/opt/homeassistant/bin/hass --version), MQTT with \$mqtt\"
        " || die "installing Home Assistant failed"
    unmount_all
    trap - EXIT
    rm -f "$ROOT/etc/resolv.conf"
    recipe_ha >"$ROOT/.edgepose-ha"
}

build() {
    preflight
    if [[ -f $ROOT/.edgepose-base && $(cat "$ROOT/.edgepose-base") == "$(recipe_base)" ]]; then
        say "cached root: $ROOT"
    else
        build_base
    fi
    if [[ -f $ROOT/.edgepose-ha && $(cat "$ROOT/.edgepose-ha") == "$(recipe_ha)" ]]; then
        say "cached Home Assistant $HA_VERSION in $ROOT/opt/homeassistant"
    else
        install_ha
    fi
}

run_all() {
    [[ -x $PYTHON ]] || die "no $PYTHON: make venv first (make test-ha does)" 69
    phase "root"
    build
    exec 9>"$ROOT.lock"
    flock -n 9 || die "another run holds $ROOT.lock"
    mount_system "$ROOT"
    phase "pytest -m ha"
    local status=0 args=()
    # shellcheck disable=SC2206 # EDGEPOSE_HA_PYTEST holds words (options without spaces in them)
    args+=(${EDGEPOSE_HA_PYTEST:-})
    # A network namespace with only loopback: Home Assistant, Mosquitto, the daemon and pytest reach
    # each other and nothing else.
    EDGEPOSE_HA_ROOT=$ROOT unshare --net -- sh -c 'ip link set lo up && exec "$@"' sh \
        "$PYTHON" -m pytest -q -m ha -p no:cacheprovider "$SRC_DIR/tests/homeassistant" "${args[@]}" || status=$?
    unmount_all
    trap - EXIT
    phase "done (pytest exit $status)"
    return "$status"
}

case "${1:-}" in
    build) build ;;
    path) echo "$ROOT" ;;
    "") run_all ;;
    *) sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 64 ;;
esac
