"""Step 2: what the media holds, as a tree with a detail pane. Read-only; anyone may look."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import Footer, Static, Tree

from station.bundle.model import Bundle, Item, ItemKind
from station.bundle.summaries import ItemSummary, summarise_items
from station.config import Limits
from tui.keys import letter
from tui.messages import BundleRead, SummariesRead
from tui.screens.base import StepScreen
from tui.widgets import StepHeader
from tui.widgets.bundle_tree import BundleTree, describe
from tui.widgets.report_summary import ReportSummary
from tui.widgets.scroll_pane import ScrollPane

if TYPE_CHECKING:
    from station.workflow import Transfer

NEXT = ("↑/↓ choose an item, PgUp/PgDn scroll its details. Next: press V to verify every "
        "file and signature. Remove the media to stop.")


class ContentsScreen(StepScreen):
    """Reads the bundle's names (not contents) in a worker, then shows them."""

    BINDINGS: ClassVar[list[BindingType]] = [
        letter("v", "verify", "Verify the bundle"),
        # The tree keeps the arrows; the details scroll with PgUp/PgDn wherever focus is.
        Binding("pagedown", "details(1)", "Details ▼", key_display="PgDn", priority=True,
                show=False),
        Binding("pageup", "details(-1)", "Details ▲", key_display="PgUp", priority=True,
                show=False),
    ]

    bundle: reactive[Bundle | None] = reactive(None, init=False, bindings=True)
    """The bundle once read; until then only "reading" is shown and V is not offered."""

    def __init__(self, transfer: Transfer) -> None:
        super().__init__(classes="contents-screen")
        self.transfer = transfer
        self._summaries: dict[str, ItemSummary] = {}
        self._reading: set[str] = set()
        self._summary_path: str | None = None

    def compose(self) -> ComposeResult:
        yield StepHeader(2, "Check what the media holds")
        yield Static(_media_line(self.transfer), id="media-line")
        with Horizontal(id="contents-body"):
            yield BundleTree(id="bundle-tree")
            with ScrollPane(id="detail-pane"):
                yield Static("Reading the media…", id="detail")
                yield ReportSummary(id="report-summary")
        yield Static("Reading the list of files on the media…", classes="next-action")
        yield Footer()

    def on_mount(self) -> None:
        if self.transfer.bundle is None:
            self.inspect()
        else:
            self.bundle = self.transfer.bundle

    @work(thread=True, exit_on_error=False, group="inspect", name="reading the bundle")
    def inspect(self) -> None:
        self.post_message(BundleRead(self.transfer.inspect()))

    def on_bundle_read(self, message: BundleRead) -> None:
        message.stop()
        self.bundle = message.bundle

    def watch_bundle(self, bundle: Bundle | None) -> None:
        if bundle is None:
            return
        tree = self.query_one(BundleTree)
        tree.show(bundle)
        tree.focus()
        self.query_one("#detail", Static).update(describe(bundle))
        self.query_one(".next-action", Static).update(NEXT)

    def on_summaries_read(self, message: SummariesRead) -> None:
        message.stop()
        self._summaries.update(message.summaries)
        self._reading.difference_update(message.summaries)
        shown = self._summaries.get(self._summary_path or "")
        if self._summary_path in message.summaries and shown is not None:
            self.query_one(ReportSummary).show_summary(shown)

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[object]) -> None:
        if event.node.data is not None:
            self.query_one("#detail", Static).update(describe(event.node.data))
            self.query_one("#detail-pane", ScrollPane).scroll_home(animate=False)
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
        self.post_message(SummariesRead(summarise_items(root, [item], limits)))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "verify":
            return self.bundle is not None
        return True

    def action_details(self, direction: int) -> None:
        pane = self.query_one("#detail-pane", ScrollPane)
        if direction > 0:
            pane.scroll_page_down(animate=False)
        else:
            pane.scroll_page_up(animate=False)

    def action_verify(self) -> None:
        from tui.screens.verify import VerifyScreen

        if self.bundle is not None:
            self.station_app.go_to(VerifyScreen(self.transfer))


def _media_line(transfer: Transfer) -> str:
    device = transfer.device
    what = device.describe() if device is not None else "media folder"
    return f"Media: {what}"
