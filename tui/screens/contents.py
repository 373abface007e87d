"""Step 2: what the media holds, as a tree with a detail pane. Read-only; anyone may look."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer, Static, Tree

from station.bundle.model import Bundle, Item, ItemKind
from station.bundle.summaries import ItemSummary, summarise_items
from station.config import Limits
from tui.messages import WorkFinished
from tui.screens.base import StepScreen
from tui.widgets import StepHeader
from tui.widgets.bundle_tree import BundleTree, describe
from tui.widgets.report_summary import ReportSummary

if TYPE_CHECKING:
    from station.workflow import Transfer


class ContentsScreen(StepScreen):
    """Reads the bundle's names (not contents) in a worker, then shows them."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("v", "verify", "Verify the bundle")]

    def __init__(self, transfer: Transfer) -> None:
        super().__init__(classes="contents-screen")
        self.transfer = transfer
        self.bundle: Bundle | None = transfer.bundle
        self._summaries: dict[str, ItemSummary] = {}
        self._reading: set[str] = set()
        self._summary_path: str | None = None

    def compose(self) -> ComposeResult:
        yield StepHeader(2, "Check what the media holds")
        yield Static(_media_line(self.transfer), id="media-line")
        with Horizontal(id="contents-body"):
            yield BundleTree(id="bundle-tree")
            with VerticalScroll(id="detail-pane", classes="panel"):
                yield Static("Reading the media…", id="detail")
                yield ReportSummary(id="report-summary")
        yield Static("Reading the list of files on the media…", classes="next-action")
        yield Footer()

    def on_mount(self) -> None:
        if self.bundle is None:
            self.inspect()
        else:
            self._show(self.bundle)

    @work(thread=True, exit_on_error=False, group="inspect", name="reading the bundle")
    def inspect(self) -> None:
        bundle = self.transfer.inspect()
        self.post_message(WorkFinished("bundle", bundle))

    def on_work_finished(self, message: WorkFinished) -> None:
        if message.kind == "bundle":
            message.stop()
            self._show(message.result)
        elif message.kind == "summaries":
            message.stop()
            self._summaries.update(message.result)
            self._reading.difference_update(message.result)
            shown = self._summaries.get(self._summary_path or "")
            if self._summary_path in message.result and shown is not None:
                self.query_one(ReportSummary).show_summary(shown)

    def _show(self, bundle: Bundle) -> None:
        self.bundle = bundle
        tree = self.query_one(BundleTree)
        tree.show(bundle)
        tree.focus()
        self.query_one("#detail", Static).update(describe(bundle))
        self.query_one(".next-action", Static).update(
            "Next: press V to verify every file and signature. Remove the media to stop."
        )
        self.refresh_bindings()

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[object]) -> None:
        if event.node.data is not None:
            self.query_one("#detail", Static).update(describe(event.node.data))
            self._show_summary(event.node.data)

    def _show_summary(self, thing: object) -> None:
        """An SBOM's or scan report's summary under its details, read once in a worker."""
        view = self.query_one(ReportSummary)
        if (
            self.bundle is None
            or not isinstance(thing, Item)
            or thing.kind not in (ItemKind.SBOM, ItemKind.SCAN_REPORT)
        ):
            self._summary_path = None
            view.hide()
            return
        self._summary_path = thing.path
        if thing.path in self._summaries:
            view.show_summary(self._summaries[thing.path])
            return
        view.show_reading()
        if thing.path not in self._reading:
            self._reading.add(thing.path)
            self.read_summary(self.bundle.root, thing, self.station_app.station.config.limits)

    @work(thread=True, exit_on_error=False, group="summaries", name="reading a report")
    def read_summary(self, root: Path, item: Item, limits: Limits) -> None:
        """Read one SBOM or scan report off the media (never raises: notes instead)."""
        self.post_message(WorkFinished("summaries", summarise_items(root, [item], limits)))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "verify":
            return self.bundle is not None
        return True

    def action_verify(self) -> None:
        from tui.screens.verify import VerifyScreen

        if self.bundle is not None:
            self.station_app.go_to(VerifyScreen(self.transfer))


def _media_line(transfer: Transfer) -> str:
    device = transfer.device
    what = device.describe() if device is not None else "media folder"
    return f"Media: {what}"
