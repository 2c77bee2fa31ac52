#!/usr/bin/env bash
# The benchmark venv for scripts/bench_peers.py: the models' own implementations (Ultralytics for
# YOLO-pose, MediaPipe 0.10.14 for BlazePose), kept OUTSIDE the repository and never a project
# dependency. torch is pinned and installed first so that pip takes its CPU wheel instead of a
# multi-gigabyte CUDA build; torchvision is left out (PyPI's build fails beside the CPU torch;
# the benchmark stands Ultralytics' own NMS in for it).
#
#   bash scripts/peers-venv.sh [VENV] [BLAZEPOSE_LITE_TFLITE]
#
# VENV defaults to ~/.cache/edgepose/peers-venv. MediaPipe's wheel carries the full landmark model
# only; the lite one (Apache-2.0, from the npm package @mediapipe/pose) is copied into the venv's
# installed mediapipe/modules/pose_landmark/ when BLAZEPOSE_LITE_TFLITE (default:
# $EDGEPOSE_SHARED/models/pose_landmark_lite.tflite) exists. Needs Python 3.11 (mediapipe 0.10.14
# has no wheel for newer Pythons).
set -euo pipefail

VENV=${1:-${EDGEPOSE_PEERS_VENV:-$HOME/.cache/edgepose/peers-venv}}
SRC_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
SHARED=${EDGEPOSE_SHARED:-$SRC_DIR/../shared}
LITE=${2:-$SHARED/models/pose_landmark_lite.tflite}
PYTHON=${PYTHON:-python3.11}

case "$VENV" in
    "$SRC_DIR"|"$SRC_DIR"/*)
        echo "edgepose: the peers venv must live outside the repository: $VENV" >&2
        exit 64 ;;
esac
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "edgepose: $PYTHON is not installed (mediapipe 0.10.14 needs Python 3.11)" >&2
    exit 69
fi

"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "torch==2.13.0"
"$VENV/bin/python" -m pip install -q "torch==2.13.0" "ultralytics==8.4.190"
"$VENV/bin/python" -m pip install -q "torch==2.13.0" "mediapipe==0.10.14"
# Ultralytics runs a .tflite through ai-edge-litert (and would try to install it at run time, which
# fails offline): the same release as the project's venv where there is one, so both sides invoke
# the same runtime.
litert=$("$SRC_DIR/.venv/bin/python" -c 'import importlib.metadata as m; print(m.version("ai-edge-litert"))' 2>/dev/null || true)
"$VENV/bin/python" -m pip install -q "torch==2.13.0" "ai-edge-litert${litert:+==$litert}"
# opencv-python (Ultralytics) and opencv-contrib-python (MediaPipe) both provide cv2; the last one
# installed wins, and either serves both peers.

dest=$("$VENV/bin/python" -c 'import mediapipe, os; print(os.path.join(os.path.dirname(mediapipe.__file__), "modules", "pose_landmark"))')
if [ -f "$LITE" ]; then
    cp "$LITE" "$dest/pose_landmark_lite.tflite"
else
    echo "edgepose: note: no $LITE; MediaPipe's model_complexity=0 (lite) will not load offline" >&2
fi
export YOLO_OFFLINE=1 YOLO_CONFIG_DIR="$VENV/ultralytics-config"  # no settings file in the home folder
"$VENV/bin/python" -c 'import ultralytics, mediapipe, torch; print("peers venv ready:", "ultralytics", ultralytics.__version__, "mediapipe", mediapipe.__version__, "torch", torch.__version__)'
echo "$VENV"
