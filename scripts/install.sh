#!/usr/bin/env bash
# Install edgepose as a systemd service on Raspberry Pi OS Bookworm (64-bit or 32-bit).
#
#   sudo scripts/install.sh                 install (or update) and start the service
#   sudo scripts/install.sh --edgetpu       also install libedgetpu from Coral's apt archive
#   sudo scripts/install.sh --uninstall     remove it; config and data stay
#   sudo scripts/install.sh --uninstall --purge   remove config, data and the user too
#   scripts/install.sh --dry-run            print every step, change nothing
#   scripts/install.sh --root DIR           install the files under DIR (packaging, tests)
#   sudo scripts/install.sh --bridge HOST   also bridge the Pi's Mosquitto to the central broker HOST[:PORT]
#
# Running it again is safe: every step checks what is already there, and an existing
# /etc/edgepose/config.yaml is never overwritten.
set -euo pipefail

readonly SERVICE=edgepose
readonly USER_NAME=edgepose
SRC_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
readonly SRC_DIR

ROOT=""
DRY_RUN=0
UNINSTALL=0
PURGE=0
EDGETPU=0
SKIP_VENV=0
START=1
BRIDGE=""

usage() {
    cat <<'EOF'
usage: install.sh [--edgetpu] [--bridge HOST[:PORT]] [--no-start] [--skip-venv] [--root DIR] [--dry-run]
       install.sh --uninstall [--purge] [--root DIR] [--dry-run]

  --edgetpu    add Coral's apt archive and install libedgetpu1-std (USB/PCIe Coral)
  --bridge HOST[:PORT]
               install Mosquitto here, bridged over TLS to the central broker HOST (port 8883 by
               default), with its queue on disk (config/mosquitto-bridge.conf.example, docs/mqtt.md)
  --no-start   install and enable, but do not (re)start the service now
  --skip-venv  do not create or update the virtual environment in /opt/edgepose
  --uninstall  stop, disable and remove the service; keeps /etc/edgepose and /var/lib/edgepose
  --purge      with --uninstall: also remove config, state, cache and the edgepose user
  --root DIR   install into DIR instead of /; steps that change the running system
               (apt, users, systemctl start, udevadm) are skipped
  --dry-run    print every step and change nothing
EOF
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --edgetpu) EDGETPU=1 ;;
        --no-start) START=0 ;;
        --skip-venv) SKIP_VENV=1 ;;
        --uninstall) UNINSTALL=1 ;;
        --purge) PURGE=1 ;;
        --dry-run | -n) DRY_RUN=1 ;;
        --root)
            [[ $# -ge 2 ]] || { echo "install.sh: --root needs a directory" >&2; exit 64; }
            ROOT=$2
            shift
            ;;
        --root=*) ROOT=${1#--root=} ;;
        --bridge)
            [[ $# -ge 2 ]] || { echo "install.sh: --bridge needs the central broker's host name" >&2; exit 64; }
            BRIDGE=$2
            shift
            ;;
        --bridge=*) BRIDGE=${1#--bridge=} ;;
        -h | --help) usage; exit 0 ;;
        *) echo "install.sh: unknown option $1" >&2; usage >&2; exit 64 ;;
    esac
    shift
done

if [[ -n $ROOT ]]; then
    [[ -d $ROOT ]] || { echo "install.sh: --root $ROOT is not a directory" >&2; exit 66; }
    ROOT=$(cd -- "$ROOT" && pwd)
fi
if [[ $PURGE -eq 1 && $UNINSTALL -eq 0 ]]; then
    echo "install.sh: --purge goes with --uninstall" >&2
    exit 64
fi
if [[ -n $BRIDGE && ! $BRIDGE =~ ^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$ ]]; then
    echo "install.sh: --bridge $BRIDGE is not a host name or address, with an optional :PORT" >&2
    exit 64
fi
if [[ $DRY_RUN -eq 0 && -z $ROOT && $EUID -ne 0 ]]; then
    echo "install.sh: run as root (sudo), or try --dry-run" >&2
    exit 77
fi

readonly PREFIX="$ROOT/opt/edgepose"
readonly VENV="$PREFIX/venv"
readonly ETC="$ROOT/etc/edgepose"
readonly UNIT="$ROOT/etc/systemd/system/$SERVICE.service"
readonly RULE="$ROOT/etc/udev/rules.d/99-edgepose-coral.rules"
readonly STATE="$ROOT/var/lib/edgepose"
readonly CACHE="$ROOT/var/cache/edgepose"
readonly CORAL_LIST="$ROOT/etc/apt/sources.list.d/coral-edgetpu.list"
readonly CORAL_KEY="$ROOT/usr/share/keyrings/coral-edgetpu.gpg"
readonly BRIDGE_CONF="$ROOT/etc/mosquitto/conf.d/edgepose-bridge.conf"

step() { printf '==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }

# Every change goes through run: printed always, executed unless --dry-run.
run() {
    if [[ $DRY_RUN -eq 1 ]]; then
        printf '    would run: %s\n' "$*"
    else
        printf '    $ %s\n' "$*"
        "$@"
    fi
}

# Commands that change the running system rather than files under the root.
live() {
    if [[ -n $ROOT ]]; then
        printf '    skipped (--root): %s\n' "$*"
    else
        run "$@"
    fi
}

# systemd as PID 1 (what sd_booted() checks); not so in a chroot or most containers.
systemd_running() { [[ -d /run/systemd/system ]]; }

# Write stdin to a file (through run, so --dry-run prints instead).
write_file() {
    local path=$1 mode=$2 content
    content=$(cat)
    if [[ $DRY_RUN -eq 1 ]]; then
        printf '    would write %s (mode %s)\n' "$path" "$mode"
    else
        printf '    writing %s\n' "$path"
        printf '%s\n' "$content" >"$path"
        chmod "$mode" "$path"
    fi
}

install_packages() {
    step "system packages"
    local packages=(python3 python3-venv python3-pip python3-numpy python3-yaml ca-certificates)
    # picamera2 and libcamera's Python bindings come from the Raspberry Pi OS archive only.
    if [[ -n $ROOT ]] || apt-cache show python3-picamera2 >/dev/null 2>&1; then
        packages+=(python3-picamera2)
    else
        note "python3-picamera2 is not in this system's archive (not Raspberry Pi OS?): the Pi camera will not work"
    fi
    live apt-get update
    live apt-get install -y --no-install-recommends "${packages[@]}"
    if [[ $EDGETPU -eq 1 ]]; then
        step "libedgetpu from Coral's apt archive"
        live apt-get install -y --no-install-recommends curl gnupg
        if [[ -e $CORAL_KEY ]]; then
            note "$CORAL_KEY exists"
        else
            live sh -c "curl -fsSL https://packages.cloud.google.com/apt/doc/apt-key.gpg | gpg --dearmor -o '$CORAL_KEY'"
        fi
        if [[ -e $CORAL_LIST ]]; then
            note "$CORAL_LIST exists"
        else
            run mkdir -p "$(dirname "$CORAL_LIST")"
            write_file "$CORAL_LIST" 0644 <<EOF
deb [signed-by=/usr/share/keyrings/coral-edgetpu.gpg] https://packages.cloud.google.com/apt coral-edgetpu-stable main
EOF
        fi
        live apt-get update
        # -std: the default clock; libedgetpu1-max runs faster and hotter (swap it in by hand).
        live apt-get install -y libedgetpu1-std
    fi
}

create_user() {
    step "user $USER_NAME"
    if [[ -n $ROOT ]]; then
        note "skipped (--root): the user and groups belong to the running system"
        return
    fi
    if getent group plugdev >/dev/null; then
        note "group plugdev exists"
    else
        run groupadd --system plugdev
    fi
    if getent passwd "$USER_NAME" >/dev/null; then
        note "user $USER_NAME exists"
    else
        run useradd --system --user-group --home-dir /var/lib/edgepose --no-create-home \
            --shell /usr/sbin/nologin --comment "edgepose pose daemon" "$USER_NAME"
    fi
    # The unit adds these as SupplementaryGroups=; membership also helps when run by hand with sudo -u.
    run usermod --append --groups video,plugdev "$USER_NAME"
}

create_venv() {
    step "virtual environment $VENV"
    if [[ $SKIP_VENV -eq 1 ]]; then
        note "skipped (--skip-venv)"
        return
    fi
    if [[ -x $VENV/bin/python ]]; then
        note "$VENV exists: updating edgepose in it"
    else
        run mkdir -p "$PREFIX"
        # --system-site-packages: picamera2 and libcamera are system packages and must be visible.
        run python3 -m venv --system-site-packages "$VENV"
    fi
    run "$VENV/bin/python" -m pip install --upgrade pip
    # apt's picamera2 imports simplejpeg, built against apt's NumPy: where it is visible, the venv
    # keeps apt's NumPy (a pip constraint), so that one NumPy ABI serves both (docs/raspberry-pi.md).
    local constraints=$PREFIX/constraints.txt
    if [[ $DRY_RUN -eq 1 ]]; then
        printf '    would write %s from: python -m edgepose.syspackages constraints\n' "$constraints"
    else
        PYTHONPATH=$SRC_DIR "$VENV/bin/python" -m edgepose.syspackages constraints >"$constraints"
        sed 's/^/    constraint: /' "$constraints"
    fi
    case "$(uname -m)" in
        aarch64 | x86_64)
            run "$VENV/bin/python" -m pip install --upgrade -c "$constraints" "${SRC_DIR}[video]"
            ;;
        *)
            # 32-bit ARM: no ai-edge-litert wheel exists; tflite-runtime is the only route, with NumPy < 2.
            run "$VENV/bin/python" -m pip install --upgrade --no-deps "$SRC_DIR"
            if ! run "$VENV/bin/python" -m pip install --upgrade -c "$constraints" "numpy<2" "pyyaml>=6,<7" \
                "paho-mqtt>=2,<3" "opencv-python-headless<4.12" tflite-runtime; then
                echo "install.sh: no tflite-runtime wheel for $(uname -m) (32-bit ARM): edgepose cannot run models here." >&2
                echo "  -> install Raspberry Pi OS (64-bit) with Raspberry Pi Imager (Pi 3, 4, 5, Zero 2 W)" >&2
                exit 69
            fi
            ;;
    esac
    if [[ $DRY_RUN -eq 0 ]]; then
        PYTHONPATH=$SRC_DIR "$VENV/bin/python" -m edgepose.syspackages check | sed 's/^/    /'
    fi
}

install_config() {
    step "configuration $ETC"
    run mkdir -p "$ETC"
    if [[ -e $ETC/config.yaml ]]; then
        note "keeping the existing $ETC/config.yaml (the new default is $SRC_DIR/config/edgepose.yaml)"
    else
        run install -m 0644 "$SRC_DIR/config/edgepose.yaml" "$ETC/config.yaml"
    fi
    # LoadCredential= refuses to start the unit when its file is missing: create an empty one.
    if [[ -e $ETC/mqtt_password ]]; then
        note "keeping the existing $ETC/mqtt_password"
    else
        run install -m 0600 /dev/null "$ETC/mqtt_password"
    fi
}

install_udev_rule() {
    step "udev rule for the USB Coral"
    run mkdir -p "$(dirname "$RULE")"
    if cmp -s "$SRC_DIR/systemd/99-edgepose-coral.rules" "$RULE"; then
        note "$RULE is up to date"
    else
        run install -m 0644 "$SRC_DIR/systemd/99-edgepose-coral.rules" "$RULE"
        if [[ -z $ROOT ]] && ! command -v udevadm >/dev/null 2>&1; then
            note "no udevadm (a container?): the rule applies once udev runs"
        else
            live udevadm control --reload-rules
            live udevadm trigger --subsystem-match=usb
        fi
    fi
}

install_unit() {
    step "systemd unit"
    run mkdir -p "$(dirname "$UNIT")"
    if cmp -s "$SRC_DIR/systemd/$SERVICE.service" "$UNIT"; then
        note "$UNIT is up to date"
    else
        run install -m 0644 "$SRC_DIR/systemd/$SERVICE.service" "$UNIT"
    fi
    if [[ -n $ROOT ]]; then
        run systemctl --root="$ROOT" enable "$SERVICE.service"
        return
    fi
    if ! systemd_running; then
        # A chroot, a container or an image being built: enabling works on the files alone.
        note "systemd is not running here (a chroot or a container): enabling the unit for the next boot"
        run systemctl enable "$SERVICE.service"
        return
    fi
    run systemctl daemon-reload
    run systemctl enable "$SERVICE.service"
    if [[ $START -eq 1 ]]; then
        run systemctl restart "$SERVICE.service"
        note "follow it with: journalctl -u $SERVICE -f"
    fi
}

# The Pi's Mosquitto, bridged to the central broker: the example with the host and this device filled in.
install_bridge() {
    step "Mosquitto bridged to $BRIDGE"
    live apt-get install -y --no-install-recommends mosquitto
    local host=${BRIDGE%%:*} port=8883 device
    [[ $BRIDGE == *:* ]] && port=${BRIDGE##*:}
    device=$(hostname -s 2>/dev/null || echo edgepose)
    device=${device//[^A-Za-z0-9_-]/-}
    local rendered
    rendered=$(sed -e "s|@CENTRAL_HOST@:8883|$host:$port|" -e "s|@CENTRAL_HOST@|$host|g" -e "s|@DEVICE@|$device|g" \
        "$SRC_DIR/config/mosquitto-bridge.conf.example")
    run mkdir -p "$(dirname "$BRIDGE_CONF")"
    if [[ -e $BRIDGE_CONF ]] && [[ $(cat "$BRIDGE_CONF") == "$rendered" ]]; then
        note "$BRIDGE_CONF is up to date"
    else
        if [[ -e $BRIDGE_CONF ]]; then
            run cp -p "$BRIDGE_CONF" "$BRIDGE_CONF.bak"
        fi
        printf '%s\n' "$rendered" | write_file "$BRIDGE_CONF" 0644
    fi
    if [[ ! -e $ROOT/etc/mosquitto/certs/central-ca.pem ]]; then
        note "put the central broker's CA certificate at /etc/mosquitto/certs/central-ca.pem (bridge_cafile)"
    fi
    note "set mqtt.qos_poses: 1 in $ETC/config.yaml: the bridge queues QoS 1 messages only"
    if [[ -n $ROOT ]] || systemd_running; then
        live systemctl restart mosquitto.service
    fi
}

uninstall() {
    step "stopping and disabling the service"
    if [[ -n $ROOT ]]; then
        if [[ -e $UNIT ]]; then
            run systemctl --root="$ROOT" disable "$SERVICE.service"
        fi
    elif [[ -e $UNIT ]] && ! systemd_running; then
        run systemctl disable "$SERVICE.service"
    elif systemctl cat "$SERVICE.service" >/dev/null 2>&1; then
        run systemctl disable --now "$SERVICE.service"
    else
        note "not installed"
    fi
    step "removing the unit, the udev rule and $PREFIX"
    for path in "$UNIT" "$RULE" "$BRIDGE_CONF"; do
        if [[ -e $path ]]; then run rm -f "$path"; else note "$path is not there"; fi
    done
    if [[ -e $PREFIX ]]; then run rm -rf "$PREFIX"; else note "$PREFIX is not there"; fi
    if [[ -n $ROOT ]] || systemd_running; then
        live systemctl daemon-reload
    fi
    if [[ -n $ROOT ]] || command -v udevadm >/dev/null 2>&1; then
        live udevadm control --reload-rules
    fi
    if [[ $PURGE -eq 0 ]]; then
        note "kept $ETC, $STATE and $CACHE (remove them with --uninstall --purge)"
        return
    fi
    step "purging configuration, data and the user"
    for path in "$ETC" "$STATE" "$CACHE"; do
        if [[ -e $path ]]; then run rm -rf "$path"; else note "$path is not there"; fi
    done
    if [[ -z $ROOT ]] && getent passwd "$USER_NAME" >/dev/null; then
        run userdel "$USER_NAME"
    fi
    if [[ -e $CORAL_LIST ]]; then
        note "Coral's apt archive stays configured ($CORAL_LIST); remove it by hand if unwanted"
    fi
}

main() {
    if [[ $DRY_RUN -eq 1 ]]; then
        step "dry run: nothing will be changed"
    fi
    if [[ -n $ROOT ]]; then
        step "installing under $ROOT"
    fi
    if [[ $UNINSTALL -eq 1 ]]; then
        uninstall
    else
        install_packages
        create_user
        create_venv
        install_config
        install_udev_rule
        install_unit
        if [[ -n $BRIDGE ]]; then
            install_bridge
        fi
    fi
    step "done"
}

main
