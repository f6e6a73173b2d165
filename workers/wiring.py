"""The one place that builds the pipeline's consumer stages, for one role or for all of them.

`build(bus, config, roles, callbacks)` makes the stages of the roles named and opens the
stores they use (feature groups for the alarm, the history for its writer); `vigil run`
(`pipeline.run_all`, every role in one process) and each role's own process
(`roles.run_capture`, `run_sink`, `run_alarm`, `run_history`) both get theirs from here.

    capture      CaptureWorker, its model steps on Celery
    sink         SinkWorker of the captures
    alert-sink   SinkWorker of the alerts, when `outputs.alerts` names any output
    alarm        AlarmWorker over the feature groups of `groups_uri`
    history      HistoryWriter into `history:` (else $VIGIL_HISTORY_URI)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

from vigil.capture.worker import CaptureWorker
from vigil.infra.bus.base import Bus
from vigil.infra.stage import ConsumerStage
from vigil.outputs.sink_worker import ALERT_STREAM, SinkWorker
from vigil.schemas.alert import Alert
from vigil.schemas.camera import PipelineConfig
from vigil.schemas.capture import Capture

if TYPE_CHECKING:  # imported when built: the alarm and the history bring their stores
    from vigil.alarm.worker import AlarmWorker
    from vigil.groups.service import GroupService
    from vigil.history.service import HistoryService
    from vigil.history.writer import HistoryWriter

ROLES = ("capture", "sink", "alert-sink", "alarm", "history")


@dataclass
class Callbacks:
    """What the caller hears of: each capture, each processed batch of frames, each alert."""

    on_capture: Callable[[Capture], None] | None = None
    on_frames: Callable[[int], None] | None = None
    on_alert: Callable[[Alert], None] | None = None


@dataclass
class Stages:
    """The consumer stages of one process and the stores they use, closed together."""

    capture: CaptureWorker | None = None
    sinks: list[SinkWorker] = field(default_factory=list)  # of the captures
    alarm: AlarmWorker | None = None
    history: HistoryWriter | None = None
    alert_sinks: list[SinkWorker] = field(default_factory=list)  # of the alerts
    stores: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    @property
    def all(self) -> list[ConsumerStage]:
        """Every stage: the capture step, then what reads captures, then what reads alerts."""
        present: list[ConsumerStage] = [
            s for s in (self.capture, *self.sinks, self.alarm, self.history) if s
        ]
        return [*present, *self.alert_sinks]

    @property
    def capture_readers(self) -> list[ConsumerStage]:
        """The stages that read the captures topic (and have something to do)."""
        return [s for s in (*self.sinks, self.alarm, self.history) if s and s.consuming]

    def close(self) -> None:
        """The stages, then the stores they used."""
        try:
            for stage in self.all:
                stage.close()
        finally:
            self.stores.close()

    def __enter__(self) -> Stages:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def build(
    bus: Bus,
    config: PipelineConfig,
    roles: Iterable[str],
    callbacks: Callbacks | None = None,
    *,
    groups: GroupService | None = None,
    history: HistoryService | None = None,
) -> Stages:
    """The stages of `roles` (names in ROLES), built in the order of ROLES.

    `groups` and `history`: stores the caller already holds (and closes), used instead of
    opening the configured ones; `vigil serve` gives its own, so an enrolment made over
    HTTP is what the alarm searches at once, and one Lite file has one client.
    """
    wanted = set(roles)
    unknown = wanted - set(ROLES)
    if unknown:
        raise ValueError(f"no such role: {', '.join(sorted(unknown))}")
    calls = callbacks or Callbacks()
    stages = Stages()
    try:
        if "capture" in wanted:
            stages.capture = CaptureWorker(
                bus,
                config,
                on_capture=calls.on_capture,
                on_frames=calls.on_frames,
                **celery_steps(),
            )
        if "sink" in wanted:
            stages.sinks.append(SinkWorker(bus, config))
        if "alarm" in wanted:
            from vigil.alarm.worker import AlarmWorker
            from vigil.groups.service import GroupService

            if groups is None:
                groups = stages.stores.enter_context(GroupService(config.groups_uri))
            stages.alarm = AlarmWorker(bus, config, groups, on_alert=calls.on_alert)
        if "alert-sink" in wanted and config.outputs.alerts.configured:
            stages.alert_sinks.append(SinkWorker(bus, config, ALERT_STREAM))
        if "history" in wanted:
            from vigil.history.service import HistoryService
            from vigil.history.writer import HistoryWriter

            if history is None:
                uri, crops = (
                    (config.history.uri, config.history.crops) if config.history else (None, None)
                )
                history = stages.stores.enter_context(HistoryService(uri, crops=crops))
            stages.history = HistoryWriter(bus, config, history)
    except BaseException:
        stages.close()
        raise
    return stages


class ModelSteps(TypedDict):
    """`CaptureWorker`'s two model steps, as keyword arguments."""

    detect_step: Callable[[list, str], Any]
    describe_step: Callable[[list, str], Any]


def celery_steps() -> ModelSteps:
    """The capture step's model steps on Celery (eager when no broker is configured)."""
    from vigil.workers.frame_tasks import submit_describe, submit_detect

    return {"detect_step": submit_detect, "describe_step": submit_describe}
