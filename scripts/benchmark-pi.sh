#!/usr/bin/env bash
# On-device benchmark for a Raspberry Pi (or any Linux board): checks the CPU governor, the
# temperature and the firmware's throttling flags, then runs `edgepose bench` over the standard
# matrix and writes the results named by board and date:
#
#   results/bench-<board>-<YYYYmmdd-HHMM>.{md,json,csv,png}
#
# Usage: scripts/benchmark-pi.sh [--out DIR] [--frames N] [--models A,B] [--threads 1,2,4]
#                                [--source SRC] [--compare OLD.json] [--performance]
#                                [--max-temp C] [--limit] [--peer DIR] [--cold-calls N]
#                                [-- extra edgepose bench arguments]
#
#   --performance  set the CPU governor to 'performance' for the run (needs sudo) and put the
#                  previous governor back afterwards. Without it, a governor other than
#                  'performance' is reported and the run goes on.
#   --max-temp C   wait (up to 5 minutes) for the CPU to cool below C °C before starting (default 65).
#   --limit        then also the limit: `edgepose bench --summary` (pipeline against the bare invoke,
#                  CPU ms, PSS, first document) into -limit.{md,json}, and the cut after a wait
#                  (scripts/bench_cold_cut.py) into -cold.txt; needs --source VIDEO.
#   --peer DIR     with --limit: the TF example's movenet.py and data.py in DIR, timed beside it.
#   --cold-calls N with --limit: cuts timed after each wait (default 200).
#
# Exit status: that of `edgepose bench` (3 when --compare flags a regression).
set -euo pipefail

OUT=results
FRAMES=100
MODELS=movenet_lightning_int8,movenet_thunder_int8,posenet_mobilenet_v1_075_481x641
THREADS=1,2,4
SOURCE=
COMPARE=
PERFORMANCE=0
MAX_TEMP=65
LIMIT=0
PEER=
COLD_CALLS=200
EXTRA=()

usage() { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --out) OUT=$2; shift 2 ;;
        --frames) FRAMES=$2; shift 2 ;;
        --models) MODELS=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        --source) SOURCE=$2; shift 2 ;;
        --compare) COMPARE=$2; shift 2 ;;
        --performance) PERFORMANCE=1; shift ;;
        --max-temp) MAX_TEMP=$2; shift 2 ;;
        --limit) LIMIT=1; shift ;;
        --peer) PEER=$2; shift 2 ;;
        --cold-calls) COLD_CALLS=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        --) shift; EXTRA=("$@"); break ;;
        *) echo "benchmark-pi: unknown option $1 (see --help)" >&2; exit 64 ;;
    esac
done

if [ "$LIMIT" = 1 ] && [ -z "$SOURCE" ]; then
    echo "benchmark-pi: --limit times the pipeline on video frames: add --source VIDEO (a .mp4 or .avi)" >&2
    exit 64
fi
if [ -n "$PEER" ] && [ "$LIMIT" = 0 ]; then
    echo "benchmark-pi: --peer is timed in the limit run: add --limit" >&2
    exit 64
fi

# The edgepose command: $EDGEPOSE, the project's virtual environment, or the one on PATH.
HERE=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${EDGEPOSE:-}" ]; then
    read -r -a CMD <<< "$EDGEPOSE"
elif [ -x "$HERE/.venv/bin/edgepose" ]; then
    CMD=("$HERE/.venv/bin/edgepose")
elif command -v edgepose > /dev/null; then
    CMD=(edgepose)
else
    echo "benchmark-pi: edgepose is not installed (run 'make venv', or set EDGEPOSE)" >&2
    exit 69
fi

say() { echo "benchmark-pi: $*" >&2; }

# Board and date name the results; the board comes from the device tree (absent on a PC).
BOARD=$(tr -d '\0' 2> /dev/null < /proc/device-tree/model || uname -m)
SLUG=$(printf '%s' "$BOARD" | tr -cs 'A-Za-z0-9.' '-' | sed 's/^-//; s/-$//' | tr '[:upper:]' '[:lower:]')
STAMP=$(date +%Y%m%d-%H%M)
BASE="$OUT/bench-${SLUG:-unknown}-$STAMP"
mkdir -p "$OUT"
say "board: $BOARD"

temperature() {  # CPU temperature in whole °C, or nothing
    local milli
    if milli=$(cat /sys/class/thermal/thermal_zone0/temp 2> /dev/null); then
        echo $((milli / 1000))
    fi
}

# Governor: Coral's benchmarks ask for 'performance'; 'ondemand' moves the clock under the figures.
GOV_FILES=(/sys/devices/system/cpu/cpu*/cpufreq/scaling_governor)
OLD_GOV=
if [ -r "${GOV_FILES[0]}" ]; then
    OLD_GOV=$(cat "${GOV_FILES[0]}")
    if [ "$OLD_GOV" != performance ]; then
        if [ "$PERFORMANCE" = 1 ]; then
            say "setting the CPU governor to performance (was $OLD_GOV)"
            echo performance | sudo tee "${GOV_FILES[@]}" > /dev/null
            trap 'echo "$OLD_GOV" | sudo tee "${GOV_FILES[@]}" > /dev/null; say "governor back to $OLD_GOV"' EXIT
        else
            say "warning: CPU governor is '$OLD_GOV', not 'performance'; figures will vary (use --performance)"
        fi
    fi
else
    say "CPU governor: not exposed on this system"
fi

# Throttling: under-voltage or a hot SoC make every figure lower than the board can do.
if command -v vcgencmd > /dev/null; then
    THROTTLED=$(vcgencmd get_throttled | cut -d= -f2)
    if [ "$THROTTLED" != 0x0 ]; then
        say "warning: the firmware reports throttling ($THROTTLED): check the power supply and cooling"
    fi
fi

# Temperature: start cool, so the first configuration is not measured on a hot chip.
TEMP=$(temperature)
if [ -n "$TEMP" ]; then
    waited=0
    while [ "$TEMP" -ge "$MAX_TEMP" ] && [ "$waited" -lt 300 ]; do
        say "CPU at ${TEMP} °C, waiting to cool below ${MAX_TEMP} °C"
        sleep 10
        waited=$((waited + 10))
        TEMP=$(temperature)
    done
    say "CPU at ${TEMP} °C"
    [ "$TEMP" -lt "$MAX_TEMP" ] || say "warning: still at ${TEMP} °C after 5 minutes: figures may be throttled"
fi

ARGS=(bench --models "$MODELS" --threads "$THREADS" --frames "$FRAMES"
      --json "$BASE.json" --csv "$BASE.csv")
[ -z "$SOURCE" ] || ARGS+=(--source "$SOURCE")
[ -z "$COMPARE" ] || ARGS+=(--compare "$COMPARE")
# The plot needs matplotlib (the 'plot' extra) in edgepose's own Python.
PY=$(dirname "$(command -v "${CMD[0]}")")/python
[ -x "$PY" ] || PY=python3
if "$PY" -c 'import matplotlib' 2> /dev/null; then
    ARGS+=(--plot "$BASE.png")
else
    say "matplotlib is not installed: no plot (pip install 'edgepose[plot]')"
fi

say "running: ${CMD[*]} ${ARGS[*]} ${EXTRA[*]}"
status=0
"${CMD[@]}" "${ARGS[@]}" "${EXTRA[@]}" | tee "$BASE.md" || status=$?
say "results: $BASE.md $BASE.json $BASE.csv$([ ! -e "$BASE.png" ] || echo " $BASE.png")"

if [ "$LIMIT" = 1 ]; then
    # The table a limit report quotes: each model's pipeline against its bare invoke loop, CPU ms a
    # frame at a camera's pace, PSS and the first document; then how long a cut takes after a wait.
    LIMIT_ARGS=(bench --summary --models "$MODELS" --threads "$THREADS" --source "$SOURCE" --json "$BASE-limit.json")
    [ -z "$PEER" ] || LIMIT_ARGS+=(--peer "$PEER")
    say "running: ${CMD[*]} ${LIMIT_ARGS[*]} ${EXTRA[*]}"
    "${CMD[@]}" "${LIMIT_ARGS[@]}" "${EXTRA[@]}" | tee "$BASE-limit.md" || status=$?
    say "running: $PY $HERE/scripts/bench_cold_cut.py --video $SOURCE --calls $COLD_CALLS"
    "$PY" "$HERE/scripts/bench_cold_cut.py" --video "$SOURCE" --calls "$COLD_CALLS" | tee "$BASE-cold.txt" || status=$?
    say "results: $BASE-limit.md $BASE-limit.json $BASE-cold.txt"
fi
exit "$status"
