"""ConfigWatch: which file-system events make a reload, driven by method calls."""

from __future__ import annotations

import threading

from watchdog.events import FileClosedNoWriteEvent, FileModifiedEvent, FileOpenedEvent

from ecrd.daemon.watch import ConfigWatch

WAIT = 10.0


class TestConfigWatch:
    def test_reading_the_file_is_no_change(self, tmp_path):
        """Opening and closing the file unwritten (a reload's own read) schedules nothing."""
        path = tmp_path / "config.yaml"
        path.write_text("registries: []\n")
        called = threading.Event()
        watch = ConfigWatch(path, called.set, debounce=0.01)
        watch.start()

        watch.on_any_event(FileOpenedEvent(str(path)))
        watch.on_any_event(FileClosedNoWriteEvent(str(path)))
        pending_after_reads = watch.pending
        watch.on_any_event(FileModifiedEvent(str(path)))
        changed = called.wait(WAIT)
        watch.stop()

        assert not pending_after_reads
        assert changed

    def test_a_burst_of_events_makes_one_call(self, tmp_path):
        """Ten events in a row: one call, after they settle."""
        path = tmp_path / "config.yaml"
        calls: list[int] = []
        done = threading.Event()

        def on_change() -> None:
            calls.append(1)
            done.set()

        watch = ConfigWatch(path, on_change, debounce=0.2)
        watch.start()

        for _ in range(10):
            watch.on_any_event(FileModifiedEvent(str(path)))
        done.wait(WAIT)
        # A second burst's call proves the first burst's timers are all spent.
        done.clear()
        watch.on_any_event(FileModifiedEvent(str(path)))
        done.wait(WAIT)
        watch.stop()

        assert 2 == len(calls)
