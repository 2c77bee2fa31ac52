#!/usr/bin/env bash
# Before `make` creates the virtual environment: what this machine lacks, each as the line to run.
# Fatal gaps (no Python 3.11, no venv module, 32-bit ARM) exit 69; a missing camera stack is a note,
# since edgepose also runs on USB cameras and files.
#
#   bash scripts/preflight.sh [PYTHON]
set -uo pipefail

PYTHON=${1:-python3}
SRC_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
fatal=0

fail() { printf 'edgepose: %s\n  -> %s\n' "$1" "$2" >&2; fatal=1; }
note() { printf 'edgepose: note: %s\n  -> %s\n' "$1" "$2" >&2; }

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    fail "$PYTHON is not installed" "sudo apt install python3 python3-venv"
    exit 69
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    fail "$("$PYTHON" -V 2>&1) is too old: edgepose needs Python 3.11 or newer" \
        "use Raspberry Pi OS Bookworm (64-bit) or newer, which ships Python 3.11"
    exit 69
fi
# The platform verdict (32-bit ARM has no runtime wheels); standard library only.
if ! verdict=$(PYTHONPATH=$SRC_DIR "$PYTHON" -m edgepose.platforms 2>&1); then
    fail "${verdict#fail: }" "install Raspberry Pi OS (64-bit) with Raspberry Pi Imager"
fi
# Debian and Raspberry Pi OS split the venv module (and ensurepip) into its own package.
if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
    version=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    fail "$PYTHON cannot create virtual environments (no venv/ensurepip module)" \
        "sudo apt install python3-venv python${version}-venv"
fi

# On Raspberry Pi OS the camera stack is an apt package; Lite images may not have it.
is_pi_os=0
if [[ -e /etc/apt/sources.list.d/raspi.list || -e /etc/apt/sources.list.d/raspi.sources || -e /etc/rpi-issue ]]; then
    is_pi_os=1
fi
if [[ $is_pi_os -eq 1 ]] && ! dpkg-query -W -f='${Status}' python3-picamera2 2>/dev/null | grep -q "install ok installed"; then
    note "python3-picamera2 is not installed: the Pi camera will not work (USB cameras and files will)" \
        "sudo apt install python3-picamera2"
fi

if [[ $fatal -ne 0 ]]; then
    exit 69
fi
exit 0
