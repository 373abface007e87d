"""What every step screen shares: the one handler that turns a failed worker into words."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.screen import Screen
from textual.worker import Worker, WorkerState

from station.progress import Progress
from tui.messages import WorkProgress

if TYPE_CHECKING:
    from tui.app import StationApp


class StepScreen(Screen[None]):
    """A screen of the procedure. Its blocking work runs in thread workers it owns.

    A worker that raises does not crash the kiosk (`exit_on_error=False`): the single
    `on_worker_state_changed` below hands the error to the app, which shows the failure
    screen with the error's message and hint. A cancelled worker (media removed, screen left)
    is not a failure: whoever cancelled it already told the operator.
    """

    @property
    def station_app(self) -> StationApp:
        from tui.app import StationApp

        app = self.app
        if not isinstance(app, StationApp):
            raise TypeError("step screens run inside StationApp")
        return app

    def post_progress(self, progress: Progress) -> None:
        """A core progress callback (runs on the worker thread): post, nothing else."""
        self.post_message(WorkProgress(progress))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.station_app.show_failure(event.worker.error, during=event.worker.name)
