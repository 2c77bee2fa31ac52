#!/usr/bin/env bash
# `make test-service`: edgepose under a real systemd. Debian Bookworm amd64 booted with
# systemd-nspawn (systemd as its PID 1, real journald, its own Mosquitto service); the project is
# installed there with scripts/install.sh as on a Pi, and the tests in tests/service_systemd/ drive
# it from this machine through nsenter.
#
#   scripts/test-service.sh               build or reuse the root, install, boot, test, power off
#   scripts/test-service.sh build         only build (or check) the cached root
#   scripts/test-service.sh path          print where the cached root is
#   scripts/test-service.sh again [ARGS]  boot the copy a run kept (EDGEPOSE_SERVICE_KEEP=1) and run
#                                         the tests again (pytest ARGS added), without installing
#
# 1. the base root (debootstrap minbase + systemd, dbus, mosquitto, python3) is built once and
#    cached in $EDGEPOSE_SERVICE_ROOT (default ~/.cache/edgepose/service-root-bookworm-amd64);
#    each run works on a fresh copy of it, so install.sh always installs on a clean system;
# 2. the checkout (what git tracks, plus new files it does not ignore) goes to /root/edgepose and
#    ../shared to /srv/shared;
# 3. boot with the host's network: `scripts/install.sh --no-start`, twice (the second run must
#    keep the config); wheels are cached in ~/.cache/edgepose/pip-amd64;
# 4. boot again with a private network (only lo: nothing is downloaded from here on), with a
#    password-protected Mosquitto, and run `pytest -m service_systemd` here with
#    EDGEPOSE_SERVICE_PID naming the container's systemd;
# 5. power the container off (killed if it does not stop), whatever happened.
#
# EDGEPOSE_SERVICE_PYTEST adds pytest options (words, e.g. "-x -k watchdog"); EDGEPOSE_SERVICE_KEEP=1 keeps
# the working copy for a look afterwards; EDGEPOSE_SERVICE_MIRROR sets debootstrap's mirror.
# Needs root, debootstrap and systemd-nspawn (apt-get install systemd-container).
set -euo pipefail

SRC_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
BASE=${EDGEPOSE_SERVICE_ROOT:-$HOME/.cache/edgepose/service-root-bookworm-amd64}
WORK=$BASE.run
PIP_CACHE=$HOME/.cache/edgepose/pip-amd64
MIRROR=${EDGEPOSE_SERVICE_MIRROR:-}
PYTHON=${PYTHON:-$SRC_DIR/.venv/bin/python}
# What a Raspberry Pi OS Lite brings for this (systemd, dbus, Python 3.11 with venv, apt's NumPy
# and PyYAML), the broker the service talks to, and what the tests use inside (mosquitto_sub/pub).
# No udev: install.sh must cope with a system without it, as in any container.
PACKAGES=systemd,systemd-sysv,dbus,libpam-systemd,mosquitto,mosquitto-clients,python3,python3-venv,python3-pip,python3-numpy,python3-yaml,ca-certificates,procps
START=$(date +%s)
lap=$START

die() { echo "test-service: $*" >&2; exit "${2:-1}"; }
say() { printf '==> %s\n' "$*"; }
phase() {
    local now
    now=$(date +%s)
    printf '==> [%4ss, +%ss] %s\n' "$((now - START))" "$((now - lap))" "$*"
    lap=$now
}

recipe() { printf '%s\n' "bookworm amd64 minbase $PACKAGES $MIRROR" | sha256sum | cut -c1-16; }

preflight() {
    [[ $EUID -eq 0 ]] || die "run as root: debootstrap and systemd-nspawn need it" 77
    local missing=()
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
    command -v nsenter >/dev/null || missing+=(util-linux)
    if [[ ${#missing[@]} -gt 0 ]]; then
        die "missing: ${missing[*]}; install with: apt-get install ${missing[*]}" 69
    fi
}

# debootstrap_root, copy_local_cas, remove_root
# shellcheck source=scripts/roots.sh
source "$(dirname "${BASH_SOURCE[0]}")/roots.sh"

build_base() {
    local tmp=$BASE.partial
    remove_root "$tmp"
    mkdir -p "$(dirname "$BASE")"
    say "debootstrap Debian Bookworm amd64 into $tmp (a few minutes)"
    debootstrap_root amd64 "$PACKAGES" "$MIRROR" "$tmp"
    # What every installed system has and a debootstrap root lacks: a host name that resolves and
    # localhost (the MQTT sink's default broker), and a machine id for journald.
    echo edgepose-test >"$tmp/etc/hostname"
    printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tedgepose-test\n' >"$tmp/etc/hosts"
    : >"$tmp/etc/machine-id"
    # A console login would wait on the container's terminal for nothing.
    chroot "$tmp" systemctl mask console-getty.service getty@tty1.service >/dev/null 2>&1 || true
    recipe >"$tmp/.edgepose-base"
    remove_root "$BASE"
    mv "$tmp" "$BASE"
    rm -f "$tmp.log"
}

build() {
    preflight
    if [[ -f $BASE/.edgepose-base && $(cat "$BASE/.edgepose-base") == "$(recipe)" ]]; then
        say "cached root: $BASE"
    else
        build_base
    fi
}

# -- the booted container --------------------------------------------------------------------------

NSPAWN=""    # systemd-nspawn, started in the background
CONTAINER="" # the container's systemd (its PID 1), as this machine numbers it

# The child of systemd-nspawn that is PID 1 in its own PID namespace.
find_init() {
    local deadline=$((SECONDS + 30)) pid
    while ((SECONDS < deadline)); do
        kill -0 "$NSPAWN" 2>/dev/null || return 1
        for pid in $(ps -o pid= --ppid "$NSPAWN"); do
            if awk '/^NSpid:/ {exit !($NF == 1 && NF > 2)}' "/proc/$pid/status" 2>/dev/null; then
                echo "$pid"
                return 0
            fi
        done
        sleep 0.2
    done
    return 1
}

inside() {
    nsenter -t "$CONTAINER" -a env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        LANG=C.UTF-8 HOME=/root TERM=dumb SYSTEMD_PAGER= CI="${CI:-}" "$@"
}

# boot NAME [nspawn options] [-- systemd arguments]: boots the working root, waits for the end of
# start-up (systemctl is-system-running --wait).
boot() {
    local name=$1 state
    shift
    say "booting the container ($name)"
    systemd-nspawn -D "$WORK" --boot --register=no --keep-unit --console=read-only --quiet \
        --machine=edgepose-test "$@" >"$WORK.$name.log" 2>&1 &
    NSPAWN=$!
    CONTAINER=$(find_init) || { tail -n 30 "$WORK.$name.log" >&2; die "the container did not start"; }
    # Until its systemd listens, systemctl cannot even connect: wait for that first.
    local deadline=$((SECONDS + 60))
    until inside test -S /run/systemd/private 2>/dev/null || ((SECONDS > deadline)); do sleep 0.1; done
    state=$(timeout 180 nsenter -t "$CONTAINER" -a systemctl is-system-running --wait 2>/dev/null) || true
    say "container systemd: PID $CONTAINER here, system ${state:-unknown}"
    if [[ $state != running && $state != degraded ]]; then
        inside systemctl --no-pager --failed || true
        die "the container did not finish booting ($state)"
    fi
    if [[ $state == degraded ]]; then
        inside systemctl --no-pager --failed || true
    fi
}

# Power off and wait; kill it when it does not go within 30 s. Safe to call twice.
poweroff() {
    [[ -n $NSPAWN ]] || return 0
    if kill -0 "$NSPAWN" 2>/dev/null; then
        say "powering the container off"
        inside systemctl poweroff --no-block >/dev/null 2>&1 || kill -TERM "$NSPAWN" 2>/dev/null || true
        local deadline=$((SECONDS + 30))
        while kill -0 "$NSPAWN" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
        if kill -0 "$NSPAWN" 2>/dev/null; then
            say "the container did not power off within 30 s: killing it"
            # SIGKILL to a PID namespace's init ends every process in it.
            [[ -n $CONTAINER ]] && kill -KILL "$CONTAINER" 2>/dev/null
            sleep 1
            kill -KILL "$NSPAWN" 2>/dev/null || true
        fi
    fi
    wait "$NSPAWN" 2>/dev/null || true
    NSPAWN=""
    CONTAINER=""
}

cleanup() {
    local status=$?
    poweroff
    phase "powered off"
    if [[ ${EDGEPOSE_SERVICE_KEEP:-0} == 1 ]]; then
        say "kept $WORK (EDGEPOSE_SERVICE_KEEP=1)"
    else
        remove_root "$WORK"
        rm -f "$WORK".*.log
    fi
    exit "$status"
}

copy_checkout() {
    local dest=$WORK/root/edgepose
    mkdir -p "$dest"
    if git -C "$SRC_DIR" rev-parse --git-dir >/dev/null 2>&1; then
        (cd "$SRC_DIR" && git ls-files -z -co --exclude-standard |
            while IFS= read -r -d '' f; do [[ -e $f ]] && printf '%s\0' "$f"; done |
            tar --null -T - -cf -) | tar -C "$dest" -xf -
    else
        (cd "$SRC_DIR" && tar --exclude=./.venv --exclude=./.git -cf - .) | tar -C "$dest" -xf -
    fi
    mkdir -p "$WORK/srv/shared"
    cp -r "$SHARED/." "$WORK/srv/shared/"
}

secret() { head -c 24 /dev/urandom | base64 | tr -d '/+='; }

lock() {
    exec 9>"$BASE.lock"
    flock -n 9 || die "another run holds $BASE.lock"
    trap cleanup EXIT
}

run_all() {
    [[ -x $PYTHON ]] || die "no $PYTHON: make venv first (make test-service does)" 69
    SHARED=$(cd -- "${EDGEPOSE_SHARED:-$SRC_DIR/../shared}" && pwd) || die "no ../shared" 66
    phase "root"
    build
    lock
    phase "fresh copy of the root, the checkout and ../shared"
    remove_root "$WORK"
    cp -a --reflink=auto "$BASE" "$WORK"
    copy_checkout
    mkdir -p "$PIP_CACHE"

    phase "install (host network; mosquitto masked so that it does not listen on this machine's ports)"
    cp /etc/resolv.conf "$WORK/etc/resolv.conf"
    boot install --bind="$PIP_CACHE:/root/.cache/pip" -- systemd.mask=mosquitto.service
    inside sh -c 'cd /root/edgepose && scripts/install.sh --no-start' >"$WORK/root/install-1.log" 2>&1 ||
        { tail -n 30 "$WORK/root/install-1.log" >&2; die "scripts/install.sh failed (first run)"; }
    sed 's/^/    | /' "$WORK/root/install-1.log" | tail -n 12
    # An operator's edit that the second run must keep.
    echo "# edited after the first install" >>"$WORK/etc/edgepose/config.yaml"
    inside sh -c 'cd /root/edgepose && scripts/install.sh --no-start' >"$WORK/root/install-2.log" 2>&1 ||
        { tail -n 30 "$WORK/root/install-2.log" >&2; die "scripts/install.sh failed (second run)"; }
    cp "$WORK/etc/edgepose/config.yaml" "$WORK/root/config-after-install.yaml"
    # The broker: passwords for the service and for the tests' observer; no anonymous clients.
    local password observer
    password=$(secret)
    observer=$(secret)
    inside sh -ec "mosquitto_passwd -c -b /etc/mosquitto/passwd edgepose '$password'
        mosquitto_passwd -b /etc/mosquitto/passwd observer '$observer'
        chown mosquitto: /etc/mosquitto/passwd && chmod 0600 /etc/mosquitto/passwd"
    poweroff
    printf 'listener 1883\nallow_anonymous false\npassword_file /etc/mosquitto/passwd\n' \
        >"$WORK/etc/mosquitto/conf.d/edgepose-test.conf"
    printf '%s\n' "$observer" >"$WORK/root/observer-password"
    chmod 0600 "$WORK/root/observer-password"
    # The password reaches the service only as the credential LoadCredential= names.
    install -m 0600 /dev/null "$WORK/etc/edgepose/mqtt_password"
    printf '%s\n' "$password" >"$WORK/etc/edgepose/mqtt_password"
    install -m 0644 "$SRC_DIR/tests/service_systemd/config.yaml" "$WORK/etc/edgepose/config.yaml"
    rm -f "$WORK/etc/resolv.conf"

    touch "$WORK/.edgepose-installed"
    test_booted
}

# Boot the installed working copy on a private network and run the tests against it.
test_booted() {
    local args=("$@")
    # shellcheck disable=SC2206 # EDGEPOSE_SERVICE_PYTEST holds words (options without spaces in them)
    args+=(${EDGEPOSE_SERVICE_PYTEST:-})
    phase "boot with a private network (edgepose is enabled: it starts at boot)"
    boot test --private-network
    inside systemctl show edgepose.service >"$WORK/root/edgepose-at-boot.txt"
    inside systemctl --no-pager status edgepose.service | head -n 12 || true

    phase "pytest -m service_systemd"
    local status=0 figures=$WORK.figures.log
    : >"$figures"
    EDGEPOSE_SERVICE_PID=$CONTAINER EDGEPOSE_SERVICE_FIGURES=$figures \
        "$PYTHON" -m pytest -q -m service_systemd -p no:cacheprovider "$SRC_DIR/tests/service_systemd" \
        "${args[@]}" || status=$?
    # The whole journal of the test boot, kept beside the cache for a look afterwards.
    inside journalctl -b --no-pager -o short-monotonic >"$BASE.journal.txt" 2>&1 || true
    inside journalctl -b --no-pager -o short-monotonic -p warning >"$BASE.journal-warnings.txt" 2>&1 || true
    if [[ $status -ne 0 ]]; then
        say "the end of edgepose's journal (all of the boot's: $BASE.journal.txt)"
        inside journalctl -u edgepose.service --no-pager -n 60 | sed 's/^/    | /' || true
    fi
    if [[ -s $figures ]]; then
        say "measured (seconds; docs/service.md):"
        column -t -s $'\t' "$figures" | sed 's/^/    /'
    fi
    phase "done (pytest exit $status)"
    return "$status"
}

case "${1:-}" in
    build) build ;;
    path) echo "$BASE" ;;
    "") run_all ;;
    again)
        preflight
        [[ -f $WORK/.edgepose-installed ]] || die "no installed copy at $WORK: run with EDGEPOSE_SERVICE_KEEP=1 first"
        EDGEPOSE_SERVICE_KEEP=1
        lock
        shift
        test_booted "$@"
        ;;
    *) sed -n '2,29p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 64 ;;
esac
