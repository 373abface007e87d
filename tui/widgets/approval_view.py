"""What the approval forms show: what is being approved, and the approvals as they stand.

Pure functions returning `Text` (names from the media are never markup), so the screen stays
declarative and the words can be tested without an app.
"""

from __future__ import annotations

from rich.text import Text

from station.approval import ApprovalState, roles_in_words
from station.bundle.model import Bundle
from tui.format import countdown, digest_lines, local_and_utc
from tui.safe_text import SafeText

SHOWN_IMAGES = 4


def masked_digest_lines(digest: str) -> list[str]:
    """The digest in groups of four with its last 8 characters hidden: those come from the
    transfer request form, never from this screen."""
    lines = digest_lines(digest)
    if lines:
        lines[-1] = lines[-1][: -len("xxxx xxxx")] + "•••• ••••"
    return lines


def subject_text(bundle: Bundle | None, digest: str) -> Text:
    """Bundle name, image references and the (masked) digest: what a signature here means."""
    text = SafeText()
    if bundle is not None and bundle.info is not None:
        info = bundle.info
        text.append("Bundle  ", style="bold")
        text.append(f"{info.name} (channel {info.channel}, release {info.sequence})\n")
    elif bundle is not None:
        text.append("Bundle  ", style="bold")
        text.append(f"{bundle.manifest_name} (no name: a plain checksum list)\n")
    references = [ref for item in (bundle.items if bundle else ())
                  for image in item.images for ref in (image.references or ("(untagged)",))]
    for ref in references[:SHOWN_IMAGES]:
        text.append("Image   ", style="bold")
        text.append(f"{ref}\n")
    if len(references) > SHOWN_IMAGES:
        text.append(f"        … and {len(references) - SHOWN_IMAGES} more images\n")
    if not references:
        text.append("Images  none, files only\n")
    lines = masked_digest_lines(digest)
    text.append("Digest  ", style="bold")
    text.append("\n        ".join(lines) if lines else "-")
    return text


def state_text(state: ApprovalState) -> Text:
    """Who approved and when, how long each approval still counts, and what expired."""
    text = SafeText()
    minutes = state.settings.expiry_seconds / 60
    for approval, left in zip(state.approvals, state.seconds_left, strict=True):
        text.append(f"✔ {approval.order} of 2: ", style="bold")
        text.append(f"{approval.operator} ({approval.role.value}) approved "
                    f"{local_and_utc(approval.at, date=False)}; ")
        text.append(f"{countdown(left)} left", style="bold")
        text.append("\n")
    for approval in state.expired:
        text.append("✘ EXPIRED: ", style="bold")
        text.append(f"{approval.operator}'s approval expired at "
                    f"{local_and_utc(state.expires_at(approval), date=False)}: an approval "
                    f"counts {minutes:g} min. It is on record; approve again from 1 of 2.\n")
    if not state.approvals and not state.expired:
        text.append("No approval yet.\n")
    return text


def prompt_text(state: ApprovalState) -> str:
    """Whose turn it is and who may take it; the first form also says who goes second."""
    roles = roles_in_words(state.next_roles)
    if state.next_order == 1:
        return (f"Approval 1 of 2: {roles}. The second approval must come from "
                f"{roles_in_words(state.settings.second_roles)}.")
    earlier = ", ".join(a.operator for a in state.approvals)
    return f"Approval 2 of 2: {roles}, not {earlier}."
