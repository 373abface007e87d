"""Audit records as sentences people read: "alice approved bundle hello-1.0 (1 of 2)".

The viewer shows one sentence per record (what happened first, so a verdict is never cut
off behind a digest), keeps the full record for its detail view, and files each event under
a kind for the filter. Bundles are named by their manifest's name wherever a `bundle-opened`
record gave one, else by a short digest. Pure functions: no Textual, testable on their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from station.progress import format_size

KINDS: dict[str, tuple[str, ...]] = {
    "media": ("media-inserted", "media-removed", "media-refused"),
    "verification": ("bundle-opened", "verification", "policy-override"),
    "approvals": ("approval", "approval-refused", "approvals-cleared", "approval-expired",
                  "approvals-restarted", "reimport-confirmed"),
    "import": ("import-step", "import-done", "import-failed", "database-installed",
               "database-refused"),
    "transfer": ("state-change", "step-refused", "abort"),
    "admin": ("login", "login-failed", "admin-action", "station-started", "audit-recovered"),
}
"""The filter's kinds of record, in the operator's words."""

_DATABASES = {"vulndb": "vulnerability database", "clamav-db": "malware (ClamAV) database"}

_KIND_OF = {event: kind for kind, events in KINDS.items() for event in events}


def kind_of(record: Mapping[str, Any]) -> str:
    """The filter kind of a record ("other" for an event this viewer does not know)."""
    return _KIND_OF.get(str(record.get("event")), "other")


def bundle_names(records: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Bundle digest → bundle name, from `bundle-opened` records."""
    names: dict[str, str] = {}
    for record in records:
        if record.get("event") == "bundle-opened" and record.get("name"):
            names[str(record.get("digest"))] = str(record["name"])
    return names


def bundle_label(record: Mapping[str, Any], names: Mapping[str, str]) -> str:
    """`bundle hello-1.0`, or `bundle sha256:8c56bcaa…` when it had no name."""
    digest = record.get("digest")
    if not digest:
        return "the bundle"
    name = names.get(str(digest))
    if name:
        return f"bundle {name}"
    algorithm, _, hexpart = str(digest).partition(":")
    return f"bundle {algorithm}:{hexpart[:8]}…" if hexpart else f"bundle {digest}"


def _device(record: Mapping[str, Any]) -> str:
    device = record.get("device")
    if not isinstance(device, Mapping):
        return "a device"
    if device.get("bus") == "folder":
        return f'media folder "{device.get("label") or device.get("device")}"'
    words = " ".join(str(device.get(k)) for k in ("vendor", "model") if device.get(k))
    serial = f" (serial {device.get('serial')})" if device.get("serial") else ""
    return f"{words or 'unknown device'}{serial}"


def _who(record: Mapping[str, Any], unknown: str = "someone") -> str:
    actor = record.get("actor")
    return str(actor) if actor else unknown


def _first(values: Any) -> str:
    if isinstance(values, list) and values:
        more = f" (+{len(values) - 1} more)" if len(values) > 1 else ""
        return f"{values[0]}{more}"
    return ""


def sentence(record: Mapping[str, Any], names: Mapping[str, str]) -> str:
    """One line, most important words first."""
    event = str(record.get("event"))
    bundle = bundle_label(record, names)
    get = record.get
    if event == "station-started":
        cleaned = get("staging_cleaned") or 0
        return "station started" + (f"; {cleaned} leftovers cleaned from staging" if cleaned
                                    else "")
    if event == "media-inserted":
        return f"media inserted: {_device(record)}"
    if event == "media-removed":
        return f"media removed: {_device(record)}"
    if event == "media-refused":
        return f"REFUSED device {_device(record)}: {get('reason')}"
    if event == "bundle-opened":
        size = get("size")
        size_text = f", {format_size(size)}" if isinstance(size, int) else ""
        problems = get("problems") or []
        tail = f"; problem: {_first(problems)}" if problems else ""
        return f"{bundle} opened: {get('items')} items{size_text}{tail}"
    if event == "verification":
        if get("verdict") == "accepted":
            signers = ", ".join(str(s) for s in get("signers") or []) or "nobody"
            return f"{bundle} ACCEPTED, signed by {signers}"
        return f"{bundle} REJECTED: {_first(get('problems')) or 'see the detail'}"
    if event == "policy-override":
        return f"{_who(record)} OVERRODE the policy for {bundle}: {get('reason')}"
    if event == "approval":
        how = ", non-interactive" if get("noninteractive") else ""
        return f"{_who(record)} approved {bundle} ({get('order')} of 2{how})"
    if event == "approval-refused":
        who = _who(record, "an unknown name (not recorded)")
        return f"approval REFUSED for {who}: {get('reason')}"
    if event == "approval-expired":
        return f"{_who(record)}'s approval of {bundle} EXPIRED ({get('order')} of 2)"
    if event == "approvals-restarted":
        dropped = ", ".join(str(n) for n in get("operators") or []) or "none given"
        return f"approvals of {bundle} started again (dropped: {dropped}): {get('reason')}"
    if event == "approvals-cleared":
        return f"{get('count')} approvals dropped: {get('reason')}"
    if event == "reimport-confirmed":
        return f"{bundle}: importing it AGAIN confirmed (imported before)"
    if event == "import-step":
        detail = f" ({get('detail')})" if get("detail") else ""
        return f"{get('status')}: {get('step')}{detail} ({bundle} into {get('target')})"
    if event == "import-done":
        return f"{bundle} IMPORTED into {get('target')}"
    if event == "import-failed":
        return f"{bundle} import into {get('target')} FAILED: {get('reason')}"
    if event == "database-installed":
        what = _DATABASES.get(str(get("kind")), str(get("kind")))
        return f"{what} from {bundle} installed"
    if event == "database-refused":
        what = _DATABASES.get(str(get("kind")), str(get("kind")))
        return f"{what} {get('file')} from {bundle} NOT installed: {get('reason')}"
    if event == "abort":
        return f"{bundle} transfer ABORTED: {get('reason')}"
    if event == "state-change":
        return f"{bundle} {get('previous')} → {get('state')}: {get('message')}"
    if event == "step-refused":
        return f"REFUSED to {get('step')} ({bundle}): {get('reason')}"
    if event == "login":
        return f"{_who(record)} signed in as {get('role')}"
    if event == "login-failed":
        who = _who(record, "an unknown name (not recorded)")
        return f"sign-in REFUSED for {who}: {get('reason')}"
    if event == "admin-action":
        action = str(get("action"))
        target = f" {get('operator')}" if get("operator") else ""
        words = {"quit-kiosk": "quit the kiosk", "quit-demo": "quit the demo",
                 "operator-unlocked": "unlocked", "operator-unlock-refused": "was refused "
                 "unlocking", "operator-added": "added", "operator-disabled": "disabled",
                 "operator-enabled": "enabled"}.get(action, action)
        return f"{_who(record)} {words}{target}"
    if event == "audit-recovered":
        return f"audit log: a torn line from a crash was closed ({get('torn_bytes')} bytes)"
    skip = {"seq", "time", "event", "actor", "prev", "hash"}
    rest = ", ".join(f"{k} {v}" for k, v in sorted(record.items()) if k not in skip)
    return f"{event}: {rest}"


CHAIN_FIELDS = ("seq", "prev", "hash")


def detail_lines(record: Mapping[str, Any], prefix: str = "") -> list[str]:
    """The full record as `key: value` lines, nested objects flattened (`device.vendor`),
    lists one item a line, the hash chain's fields last: the detail view, nothing cut off."""
    lines: list[str] = []
    top = not prefix
    keys = sorted(k for k in record if not (top and k in (*CHAIN_FIELDS, "time")))
    if top:
        keys += [k for k in CHAIN_FIELDS if k in record]
    for key in keys:
        value = record[key]
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            lines += detail_lines(value, prefix=f"{name}.")
        elif isinstance(value, list):
            if not value:
                lines.append(f"{name}: (none)")
            for index, item in enumerate(value, 1):
                if isinstance(item, Mapping):
                    lines += detail_lines(item, prefix=f"{name}[{index}].")
                else:
                    lines.append(f"{name}[{index}]: {item}")
        else:
            lines.append(f"{name}: {'-' if value is None else value}")
    return lines


def matches(record: Mapping[str, Any], names: Mapping[str, str], *, operator: str = "",
            bundle: str = "", kind: str = "") -> bool:
    """The viewer's filters: operator (the actor, case-insensitive prefix), bundle (name or
    digest, any part), kind (one of KINDS); empty means any."""
    if operator and not str(record.get("actor") or "").lower().startswith(operator.lower()):
        return False
    if bundle:
        digest = str(record.get("digest") or "")
        name = names.get(digest, "")
        wanted = bundle.lower().removeprefix("sha256:")
        if wanted not in name.lower() and wanted not in digest.lower():
            return False
    return not kind or kind_of(record) == kind
