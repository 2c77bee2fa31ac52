"""The stack a forced stop logs for the thread that would not stop."""

from __future__ import annotations

import threading

from edgepose.service.stuck import thread_stack


def test_a_waiting_thread_is_shown_where_it_waits_innermost_last() -> None:
    release = threading.Event()

    def wait_for_the_broker() -> None:
        release.wait(30)

    thread = threading.Thread(target=wait_for_the_broker)
    thread.start()
    try:
        stack = thread_stack(thread, depth=3)
        lines = [line for line in stack.splitlines() if line.startswith("  File")]
        assert len(lines) == 3
        assert "in wait_for_the_broker" in lines[0] and "in wait" in lines[-1]
    finally:
        release.set()
        thread.join()


def test_a_thread_that_ended_or_never_started_says_so() -> None:
    thread = threading.Thread(target=lambda: None)
    assert thread_stack(thread) == "  (it has ended)"
    thread.start()
    thread.join()
    assert thread_stack(thread) == "  (it has ended)"
