"""Reusable pieces of the kiosk screens."""

from tui.widgets.digest_view import DigestView
from tui.widgets.step_header import STEP_COUNT, StepHeader
from tui.widgets.transfer_progress import TransferProgress
from tui.widgets.verdict_badge import VerdictBadge

__all__ = ["STEP_COUNT", "DigestView", "StepHeader", "TransferProgress", "VerdictBadge"]
