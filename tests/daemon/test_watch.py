"""ConfigWatch: which file-system events make a reload, driven by method calls."""

from __future__ import annotations

import errno
import threading

import structlog
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


class _BrokenObserver:
    """An observer that cannot be armed, as when inotify's instance limit is reached."""

    daemon = True

    def start(self) -> None:
        raise OSError(errno.EMFILE, "inotify instance limit reached")

    def is_alive(self) -> bool:
        return False


class TestBurst:
    def test_a_burst_of_real_saves_makes_one_call(self, tmp_path):
        """Twenty atomic saves in a row, seen by inotify: one call once they settle."""
        path = tmp_path / "config.yaml"
        path.write_text("registries: []\n")
        calls: list[int] = []
        done = threading.Event()

        def on_change() -> None:
            calls.append(1)
            done.set()

        watch = ConfigWatch(path, on_change, debounce=0.05)
        watch.start()
        for i in range(20):
            staged = tmp_path / f".config.yaml.{i}"
            staged.write_text(f"# save {i}\nregistries: []\n")
            staged.replace(path)
        done.wait(WAIT)
        # Any straggler call would come within the debounce: a later, separate change
        # proves the wait is over (its call is the second).
        done.clear()
        path.write_text("# last\nregistries: []\n")
        done.wait(WAIT)
        watch.stop()

        assert 2 == len(calls)


class TestFallback:
    def test_a_watch_that_cannot_be_armed_polls_the_file_and_says_so(self, tmp_path):
        """The observer fails to start: config_watch_fallback, and a change is still seen."""
        path = tmp_path / "config.yaml"
        path.write_text("registries: []\n")
        called = threading.Event()
        watch = ConfigWatch(path, called.set, poll_interval=0.05, observer=_BrokenObserver)  # type: ignore[arg-type]
        with structlog.testing.capture_logs() as logs:
            watch.start()
        path.write_text("registries: [] # changed, and longer\n")
        changed = called.wait(WAIT)
        watch.stop()

        assert watch.polling
        assert changed
        assert ["config_watch_fallback"] == [e["event"] for e in logs]
        assert "inotify instance limit reached" in logs[0]["error"]

    def test_re_arming_that_fails_later_falls_back_too(self, tmp_path, monkeypatch):
        """The directory appears but cannot be watched (EACCES): polling, change still seen."""
        path = tmp_path / "later" / "config.yaml"
        called = threading.Event()
        watch = ConfigWatch(path, called.set, poll_interval=0.05, debounce=0.01)
        watch.start()

        def refuse(*_args: object, **_kwargs: object) -> None:
            raise PermissionError(errno.EACCES, "Permission denied")

        monkeypatch.setattr(watch._observer, "schedule", refuse)
        with structlog.testing.capture_logs() as logs:
            path.parent.mkdir()
            path.write_text("registries: []\n")
            first = called.wait(WAIT)
        called.clear()
        path.write_text("registries: [] # edited after the fallback\n")
        second = called.wait(WAIT)
        watch.stop()

        assert first
        assert second
        assert watch.polling
        assert "config_watch_fallback" in [e["event"] for e in logs]
