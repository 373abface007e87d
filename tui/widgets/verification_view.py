"""The verdict of a verification, complete enough to decide on and to read aloud.

Signatures with signer, fingerprint, scheme and valid-or-why; what the station's own
malware and vulnerability scans found; every problem and warning; the bundle digest in
groups of four. Text from the media is shown as plain `Text`.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from station.bundle.model import Finding
from station.progress import format_size
from station.verify.check_report import check_lines
from station.verify.signatures import SignatureCheck
from station.verify.verification import Verification
from tui.safe_text import SafeText
from tui.widgets.digest_view import DigestView
from tui.widgets.verdict_badge import VerdictBadge


def signature_line(check: SignatureCheck) -> Text:
    """`✔ valid  demo-release  (minisign, key 1A2B…)`, or `✘ NOT VALID …` with the reason."""
    mark = "✔ valid    " if check.valid else "✘ NOT VALID"
    signer = check.signer or "unknown signer"
    line = SafeText(f"{mark}  {signer}  ({check.scheme}, key {check.fingerprint or '-'})")
    line.append(f"  {check.file}" if check.valid else f"\n             why: {check.reason}")
    line.stylize("bold" if check.valid else "bold reverse", 0, len(mark))
    return line


class VerificationView(Vertical):
    """Badge, sentence, signatures, problems, warnings, digest."""

    def __init__(self, verification: Verification, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="verification-view")
        self.verification = verification

    def compose(self) -> ComposeResult:
        result = self.verification
        accepted = bool(result.accepted)
        yield VerdictBadge("accepted" if accepted else "rejected", id="verdict")
        if accepted:
            yield Static("Every file matches its checksum and a trusted key signed the list.",
                         classes="verdict-sentence")
        else:
            yield Static("This bundle must not be imported. The reasons are below.",
                         classes="verdict-sentence")
        good = [item for item in result.items if item.ok]
        size = format_size(sum(item.size or 0 for item in good))
        yield Static(
            f"Files: {len(good)} of {len(result.items)} match the signed list ({size})",
            classes="files-line",
        )
        yield Static("Signatures", classes="section-title")
        if result.signatures:
            for check in result.signatures:
                yield Static(signature_line(check), classes="signature-line")
        else:
            yield Static(SafeText("✘ no signature found"), classes="signature-line")
        checked = check_lines(result.checks)
        if checked:
            yield Static("Content checks", classes="section-title")
            for text, style in checked:
                yield Static(SafeText(text), classes=f"check-line {style}")
        if result.problems:
            yield Static(f"Problems ({len(result.problems)})", classes="section-title")
            for finding in result.problems:
                yield Static(SafeText(f"✘ {_where(finding)}{finding.message}"), classes="problem")
        if result.warnings:
            yield Static(f"Warnings ({len(result.warnings)})", classes="section-title")
            for finding in result.warnings:
                yield Static(SafeText(f"! {_where(finding)}{finding.message}"), classes="warning")
        yield DigestView(result.bundle_digest, id="bundle-digest")


def _where(finding: Finding) -> str:
    """The file's name in front, unless the message names it already."""
    if finding.path and finding.path not in finding.message:
        return f"{finding.path}: "
    return ""
