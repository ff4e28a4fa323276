"""What the rounds tell others: systemd (status, READY=1), the metrics, the person at hand."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ecrd.logs import get_logger

if TYPE_CHECKING:
    from ecrd.config.model import Config, Group
    from ecrd.daemon.seams import MetricsSink, Notice, Supervisor
    from ecrd.errors import TokenError
    from ecrd.metrics_textfile import TextfileWriter
    from ecrd.refresh_round import RoundResult

log = get_logger("ecrd")


class Reports:
    """Tells ``notifier``, ``metrics`` (and their ``textfile``) and ``notice`` what happened."""

    def __init__(
        self,
        *,
        notifier: Supervisor,
        notice: Notice,
        metrics: MetricsSink,
        textfile: TextfileWriter,
    ) -> None:
        self._notifier = notifier
        self._notice = notice
        self._metrics = metrics
        self._textfile = textfile

    def round_written(self, config: Config, result: RoundResult) -> None:
        """The round into the metrics, and the metrics into their textfile when configured.

        After the outputs: a metrics write that fails never stops a login from being written.
        """
        self._metrics.observe_round(result)
        self._textfile.write(config.metrics.textfile)

    def status(self, summary: str, *, ready: str | None = None) -> None:
        """The summary line for systemd; READY=1 with ``ready`` once the first round ended."""
        self._notifier.status(summary)
        self.ready(ready)

    def ready(self, status: str | None) -> None:
        """READY=1 with ``status``, when there is one (the first round has just ended)."""
        if status is not None:
            self._notifier.ready(status)

    def login_needed(self, group: Group, error: TokenError | None) -> None:
        """Retrying cannot help until a person logs in: said once, in the log and a notice."""
        log.error("login_needed", group=group.name, hosts=list(group.hosts), error=str(error))
        self._notice.show("ecrd: AWS login needed", str(error))

    def login_restored(self, group: Group) -> None:
        """The group that waited for a login was fetched."""
        log.info("login_restored", group=group.name, hosts=list(group.hosts))
