"""The unit's hardening, enforced by a real systemd on a daemon that keeps working under it.

Write checks run in the running service's own mount namespace (``nsenter -t MAINPID -m``), where
ProtectSystem=, ProtectHome=, PrivateTmp= and the State/Cache directories are mounts: what is
read-only there is read-only for the daemon, whichever user asks.
"""

from __future__ import annotations

import re
from pathlib import Path

from systemd_container import SERVICE_TESTS, UNIT, Container, Service

pytestmark = SERVICE_TESTS

DOCS = Path(__file__).resolve().parents[2] / "docs" / "service.md"
NUMBA_CACHE = "/var/cache/edgepose/numba"
# Where the service's user may create files: its State and Cache directories, the private /tmp and
# /var/tmp (PrivateTmp=), and the world-writable /dev/shm and /dev/mqueue (POSIX shared memory and
# message queues, which the device file system keeps; RemoveIPC= clears them when it stops).
WRITABLE = {"/var/lib/edgepose", "/var/cache/edgepose", "/tmp", "/var/tmp", "/dev/shm", "/dev/mqueue"}


def writable_dirs(container: Container, pid: int, user: str = "") -> set[str]:
    """Every directory ``user`` (default root) could create a file in, inside the service's mounts.

    ``find -writable`` asks access(2), which says EROFS on a read-only mount whoever asks.
    """
    as_user = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups"] if user else []
    find = ["find", "/", "(", "-path", "/proc", "-o", "-path", "/sys", ")", "-prune", "-o", "-type", "d", "-writable"]
    done = container.run("nsenter", "-t", str(pid), "-m", *as_user, *find, "-print", check=False)
    # Subdirectories count as the directory listed: the longest listed one that holds them.
    listed = sorted(WRITABLE | {"/dev", "/etc/edgepose"}, key=len, reverse=True)
    return {next((w for w in listed if path == w or path.startswith(w + "/")), path) for path in done.stdout.split()}


def test_it_can_write_only_its_state_and_cache_directories(container: Container, service: Service):
    service.start()
    pid = service.main_pid()
    assert writable_dirs(container, pid, "edgepose") == WRITABLE
    # Even root there (which the service never is: no capabilities) finds the system, the venv,
    # /run and /home read-only or hidden. ConfigurationDirectory= is bind-mounted writable, but it
    # belongs to root: the service reads its config and cannot change it.
    assert writable_dirs(container, pid) == WRITABLE | {"/dev", "/etc/edgepose"}
    owner = container.run("stat", "-c", "%U %a", "/etc/edgepose", "/etc/edgepose/config.yaml").stdout.split()
    assert owner == ["root", "755", "root", "644"]
    # /tmp is the service's own, not the system's.
    container.run("nsenter", "-t", str(pid), "-m", "touch", "/tmp/edgepose-private")
    assert not container.exists("/tmp/edgepose-private")


def test_the_process_runs_unprivileged_and_filtered(container: Container, service: Service):
    service.start()
    lines = container.read(f"/proc/{service.main_pid()}/status").splitlines()
    status = dict(line.split(":\t", 1) for line in lines if ":\t" in line)
    assert status["NoNewPrivs"].strip() == "1"
    assert status["CapEff"].strip() == status["CapBnd"].strip() == "0000000000000000"
    assert status["Seccomp"].strip() == "2"  # SystemCallFilter=: a seccomp filter is installed
    uid = container.run("id", "-u", "edgepose").stdout.strip()
    assert status["Uid"].split()[0] == uid
    # ...and it works under all of that: frames flow, so the status carries a rate.
    container.wait_for("fps in StatusText", lambda: " fps, " in container.prop("StatusText"), 30)


def test_numba_compiles_into_the_cache_directory_once_and_reuses_it(
    container: Container, service: Service, figures: dict[str, float]
):
    # PoseNet's decoder is a Numba kernel (MoveNet's single pose is NumPy only).
    service.configure(model={"name": "posenet_mobilenet_v1_075_353x481"})
    service.drop_in("numba-debug", "Environment=NUMBA_DEBUG_CACHE=1\n")
    container.run("sh", "-c", f"rm -rf {NUMBA_CACHE}/*")
    starts = []
    for _ in range(2):
        cursor = container.cursor()
        service.start()
        ready = service.usec("ActiveEnterTimestampMonotonic") - service.usec("ExecMainStartTimestampMonotonic")
        starts.append((cursor, ready))
        service.stop()
    both = container.journal("-u", UNIT, after=starts[0][0])
    second = container.journal("-u", UNIT, after=starts[1][0])
    first = both[: len(both) - len(second)]
    saved = [line.split(" to ", 1)[1] for line in first if line.startswith("[cache] data saved to ")]
    assert saved, "the first start compiled nothing into the cache"
    # Numba's lines name the file with repr(): "[cache] data saved to '/var/cache/...nbc'".
    assert all(path.startswith(f"'{NUMBA_CACHE}/") for path in saved), saved
    # The second start compiles nothing: it loads what the first saved (the kernels it calls; the
    # helpers inlined into them are not loaded on their own).
    assert not [line for line in second if line.startswith("[cache] data saved to ")], second
    loaded = [line.split(" from ", 1)[1] for line in second if line.startswith("[cache] data loaded from ")]
    assert loaded and set(loaded) <= set(saved), (loaded, saved)
    owners = container.run("find", NUMBA_CACHE, "-type", "f", "-printf", "%u\n").stdout.split()
    assert owners and set(owners) == {"edgepose"}
    figures["ready_cold_numba_cache_s"] = starts[0][1] / 1e6
    figures["ready_warm_numba_cache_s"] = starts[1][1] / 1e6


def documented_security() -> tuple[float, set[str]]:
    """The exposure score and the remaining exposures that docs/service.md records."""
    text = DOCS.read_text()
    score = float(re.search(r"overall exposure level \*\*(\d+\.\d)\*\*", text).group(1))  # type: ignore[union-attr]
    section = text.split("### Remaining exposures", 1)[1].split("\n### ", 1)[0]
    names = {name.replace("\\|", "|") for name in re.findall(r"^\| `([^`]+)` \|", section, re.MULTILINE)}
    return score, names


def test_the_security_score_and_remaining_exposures_are_the_documented_ones(container: Container):
    out = container.run("systemd-analyze", "security", "--no-pager", UNIT).stdout
    score = float(re.search(r"Overall exposure level for edgepose\.service: (\d+\.\d)", out).group(1))  # type: ignore[union-attr]
    remaining = {line.split()[1] for line in out.splitlines() if line.startswith("✗")}
    assert (score, remaining) == documented_security(), out
