"""``edgepose bench --footprint``: each model as its own daemon process, measured from outside."""

from __future__ import annotations

import json

import pytest

from edgepose.tools.bench.footprint import (
    Footprint,
    bench_share_kb,
    cpu_seconds,
    daemon_argv,
    file_mappings,
    markdown,
    memory_mb,
)
from tests.builders.cli import run_cli
from tests.builders.paths import MOVENET


def test_memory_is_read_from_smaps_rollup(tmp_path):
    rollup = tmp_path / "smaps_rollup"
    rollup.write_text(
        "55d0c0000000-7ffd00000000 ---p 00000000 00:00 0    [rollup]\n"
        "Rss:              163840 kB\nPss:               97280 kB\nPss_Anon:          40960 kB\n"
    )
    assert memory_mb(rollup) == (95.0, 160.0)  # Pss_Anon is not Pss
    assert memory_mb(tmp_path / "gone") == (None, None)


def test_cpu_time_is_user_plus_system_after_a_name_with_spaces(tmp_path):
    import os

    ticks = os.sysconf("SC_CLK_TCK")
    stat = tmp_path / "stat"
    rest = ["S", "1", "1", "1", "0", "-1", "4194560", "0", "0", "0", "0", str(3 * ticks), str(ticks)] + ["0"] * 30
    stat.write_text(f"4242 (python3 -m edgepose) {' '.join(rest)}\n")
    assert cpu_seconds(stat) == pytest.approx(4.0)
    assert cpu_seconds(tmp_path / "gone") == 0.0


SMAPS = """\
55d0c0000000-55d0c0100000 r-xp 00000000 fd:01 1001                       /usr/lib/libpython3.11.so
Rss:                1000 kB
Pss:                 500 kB
Pss_Dirty:             0 kB
7f0000000000-7f0000200000 r--p 00000000 fd:01 2002                       /opt/cv2.abi3.so
Rss:                 800 kB
Pss:                 800 kB
7f0000400000-7f0000600000 r--p 00000000 fd:01 3003                       /usr/lib/libc.so.6
Rss:                 300 kB
Pss:                 100 kB
7f0000800000-7f0000a00000 rw-p 00000000 00:00 0
Rss:                5000 kB
Pss:                5000 kB
VmFlags: rd wr mr mw me ac
"""


def test_pages_shared_with_the_bench_count_whole_in_the_daemons_pss():
    bench = file_mappings(
        "55d0c0000000-55d0c0100000 r-xp 00000000 fd:01 1001    /usr/lib/libpython3.11.so\n"
        "7f1000000000-7f1000001000 rw-p 00000000 00:00 0\n"
        "7f1000400000-7f1000600000 r--p 00000000 fd:02 2002    /other/disk/same-inode.so\n"
    )
    assert bench == {((0xFD, 0x01), 1001), ((0xFD, 0x02), 2002)}  # the anonymous mapping is no file
    assert bench_share_kb(SMAPS, bench) == 500  # libpython: shared with the bench; cv2: same inode, other disk
    assert bench_share_kb(SMAPS, bench | {((0xFD, 0x01), 3003)}) == 700  # libc too, when the bench maps it


def test_the_daemon_loops_the_source_at_a_cameras_pace(tmp_path):
    argv = daemon_argv("m.tflite", "numpy", "clip.mp4", 15.0, tmp_path, ["tracking.enabled=false"])
    sets = [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]
    assert argv[argv.index("--model") + 1] == "m.tflite" and argv[argv.index("--sink") + 1] == "stdout"
    assert sets == [
        "cameras.cam0.source.uri=clip.mp4",
        "cameras.cam0.source.loop=true",
        "cameras.cam0.source.realtime=true",
        "cameras.cam0.fps_cap=15.0",
        "decoder.kernel=numpy",
        f"decoder.numba_cache_dir={tmp_path}",
        "tracking.enabled=false",  # the user's --set last: it wins
    ]


def test_the_daemon_also_publishes_to_the_sinks_asked_for(tmp_path):
    argv = daemon_argv("m.tflite", "numpy", "clip.mp4", 15.0, tmp_path, [], sinks=["mqtt", "stdout", "mqtt"])
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--sink"] == ["stdout", "mqtt"]  # stdout is counted


def test_the_table_names_the_sinks_only_when_a_daemon_published_beyond_stdout():
    alone = Footprint("m", "numpy", 15.0, 1.0, 1.0, 95.0, 108.0, 4.5, 14.9)
    assert "sinks" not in markdown([alone])
    published = Footprint("m", "numpy", 15.0, 1.0, 1.0, 99.0, 112.0, 4.6, 14.9, ("stdout", "mqtt"))
    head, rule, *rows = markdown([alone, published]).splitlines()
    assert head.endswith("| sinks |") and rule.count("---") == 9
    assert rows == [
        "| m | numpy | 95 | 108 | 4.5 | 14.9 (cap 15) | 1 | 1 | stdout |",
        "| m | numpy | 99 | 112 | 4.6 | 14.9 (cap 15) | 1 | 1 | stdout, mqtt |",
    ]


def test_the_table_says_what_was_not_measured():
    row = Footprint("m", "numba", 15.0, 3.2, 1.1, 95.0, None, 4.5, 14.9)
    table = markdown([row])
    assert "| m | numba | 95 | - | 4.5 | 14.9 (cap 15) | 3.2 | 1.1 |" in table


@pytest.mark.slow
def test_a_real_daemon_is_measured(walking_video, tmp_path):
    out = tmp_path / "footprint.json"
    args = ["--footprint", "--models", MOVENET, "--kernels", "numpy", "--source", str(walking_video)]
    proc = run_cli("bench", *args, "--seconds", "1.5", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(out.read_text())["footprint"]
    assert row["kernel"] == "numpy" and row["fps_cap"] == 15.0
    assert row["pss_mb"] > 20 and row["rss_mb"] >= row["pss_beside_bench_mb"]
    # The bench maps Python, NumPy and OpenCV too: counted whole, the daemon holds more than /proc said.
    assert row["pss_mb"] > row["pss_beside_bench_mb"] + 1
    assert row["first_document_cold"] > 0 and row["first_document_warm"] > 0
    assert 0 < row["fps"] <= 16 and row["cpu_ms_per_frame"] > 0  # the cap holds (one frame of slack)


@pytest.mark.slow
def test_a_daemon_publishing_to_mqtt_is_measured(walking_video, tmp_path, broker):
    out = tmp_path / "footprint.json"
    args = ["--footprint", "--models", MOVENET, "--kernels", "numpy", "--source", str(walking_video)]
    args += ["--sink", "mqtt", "--set", f"mqtt.port={broker.port}", "--set", "mqtt.host=127.0.0.1"]
    proc = run_cli("bench", *args, "--seconds", "1.5", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(out.read_text())["footprint"]
    assert row["sinks"] == ["stdout", "mqtt"] and row["pss_mb"] > 20
    assert "Received PUBLISH from edgepose" in broker.log()  # the measured daemon published


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kernels", "fortran"], "is not a kernel set"),
        (["--fps-cap", "0"], "--fps-cap"),
    ],
)
def test_footprint_refusals(squat_path, args, message):
    proc = run_cli("bench", "--footprint", "--source", str(squat_path), *args)
    assert proc.returncode == 78 and message in proc.stderr


def test_a_daemon_that_ends_without_a_document_is_named_with_its_exit_and_error():
    import sys

    from edgepose.errors import InputError
    from edgepose.tools.bench.footprint import run_once

    script = "import sys; print('INFO: noise', file=sys.stderr); print('edgepose: error: no model', file=sys.stderr)"
    argv = [sys.executable, "-c", f"{script}; sys.exit(66)"]
    with pytest.raises(InputError, match=r"exited with 66: edgepose: error: no model$"):
        run_once(argv, settle=0.0, seconds=0.0)
