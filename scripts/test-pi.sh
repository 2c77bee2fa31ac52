#!/usr/bin/env bash
# `make test-pi`: the project on an emulated Raspberry Pi OS (Debian Bookworm arm64 under qemu).
#
# 1. build or reuse the cached root (scripts/pi-root.sh): apt's Python 3.11 and NumPy 1.24, and
#    stand-ins for apt's picamera2 / libcamera / simplejpeg (simplejpeg compiled against apt's NumPy);
# 2. copy this checkout in (what git tracks, plus new files it does not ignore);
# 3. inside arm64, install as a Pi user would: `scripts/install.sh --no-start` (the service's venv in
#    /opt/edgepose) and `make venv` (the developer's venv), both with their NumPy rule;
# 4. set up a deliberately wrong venv (NumPy 2 beside apt's modules) to prove the ABI message;
# 5. run the tests marked `pi` there, against ../shared bound read-only.
#
# Everything downloaded (Debian packages, wheels) is fetched in steps 1-4, never by the tests;
# wheels are cached in ~/.cache/edgepose/pip-arm64. Set EDGEPOSE_PI_PYTEST to pass pytest options.
set -euo pipefail

SRC_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
SHARED=$(cd -- "${EDGEPOSE_SHARED:-$SRC_DIR/../shared}" && pwd) || { echo "test-pi: no ../shared" >&2; exit 66; }
PIP_CACHE=$HOME/.cache/edgepose/pip-arm64
START=$(date +%s)
lap=$START

phase() {
    local now
    now=$(date +%s)
    printf '==> [%4ss, +%ss] %s\n' "$((now - START))" "$((now - lap))" "$*"
    lap=$now
}

phase "root"
bash "$SRC_DIR/scripts/pi-root.sh" build
ROOT=$(bash "$SRC_DIR/scripts/pi-root.sh" path)

phase "copy the checkout to /home/pi/edgepose"
DEST=$ROOT/home/pi/edgepose
mkdir -p "$DEST"
# Keep the developer venv between runs (make rebuilds it when pyproject.toml changes); replace the rest.
find "$DEST" -mindepth 1 -maxdepth 1 ! -name .venv -exec rm -rf {} +
if git -C "$SRC_DIR" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$SRC_DIR" && git ls-files -z -co --exclude-standard |
        while IFS= read -r -d '' f; do [[ -e $f ]] && printf '%s\0' "$f"; done |
        tar --null -T - -cf -) | tar -C "$DEST" -xf -
else
    (cd "$SRC_DIR" && tar --exclude=./.venv --exclude=./.git -cf - .) | tar -C "$DEST" -xf -
fi
mkdir -p "$PIP_CACHE"

phase "install and test inside arm64"
bash "$SRC_DIR/scripts/pi-root.sh" run \
    --bind "$SHARED:/home/pi/shared:ro" \
    --bind "$PIP_CACHE:/root/.cache/pip" \
    /bin/bash -ec "
        cd /home/pi/edgepose
        t() { printf '==> [inside] %s\n' \"\$*\"; }
        t \"\$(uname -m), \$(. /etc/os-release; echo \$PRETTY_NAME), \$(python3 -V), apt NumPy \$(python3 -c 'import numpy; print(numpy.__version__)')\"
        t 'scripts/install.sh --no-start (as on a Pi)'
        time scripts/install.sh --no-start
        t 'make venv (as on a Pi)'
        time make venv
        if [ ! -x /opt/numpy2-venv/bin/python ]; then
            t 'a wrong venv for the ABI test: NumPy 2 beside apt modules built for 1.24'
            python3 -m venv --system-site-packages /opt/numpy2-venv
            /opt/numpy2-venv/bin/python -m pip install --quiet 'numpy>=2,<3'
        fi
        t 'pytest -m pi'
        export EDGEPOSE_SHARED=/home/pi/shared EDGEPOSE_PI_INSTALLED=/opt/edgepose/venv
        export EDGEPOSE_PI_NUMPY2=/opt/numpy2-venv NUMBA_CACHE_DIR=/var/cache/edgepose-tests/numba
        time .venv/bin/python -m pytest -q -m pi -p no:cacheprovider ${EDGEPOSE_PI_PYTEST:-}
    "
phase "done"
