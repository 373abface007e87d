"""The two-person rule cannot be bypassed, whatever the UI lets people try."""

from __future__ import annotations

from pathlib import Path

import pytest

from station.approval import (
    ApprovalBook,
    ApprovalError,
    ApprovalSettings,
    OperatorStore,
    Role,
    check_secret,
    hash_secret,
    noninteractive_allowed,
    require_noninteractive_allowed,
)
from station.audit import AuditLog
from station.config import StationConfig
from station.errors import StationError

DIGEST = "sha256:" + "0123456789abcdef" * 3 + "0011223344c0ffee"
OTHER = "sha256:" + "f" * 64
VID = "verification-1"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> OperatorStore:
    store = OperatorStore(tmp_path / "operators.toml", max_failures=3)
    store.add("alice", Role.OPERATOR, "alice-pin")
    store.add("bob", Role.VERIFIER, "bob-pin1")
    store.add("carol", Role.VERIFIER, "carol-pin")
    store.add("dave", Role.OPERATOR, "dave-pin")
    return store


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def book(store: OperatorStore, clock: Clock, tmp_path: Path) -> ApprovalBook:
    return ApprovalBook(
        store,
        ApprovalSettings(expiry_seconds=600),
        clock=clock,
        audit=AuditLog(tmp_path / "audit.log"),
    )


def _refused(code: str, call: object, *args: object, **kwargs: object) -> ApprovalError:
    with pytest.raises(ApprovalError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    assert caught.value.code == code, caught.value.message
    return caught.value


def test_two_distinct_people_satisfy_the_rule(book: ApprovalBook, tmp_path: Path) -> None:
    first = book.approve("alice", "alice-pin", DIGEST, VID)
    assert first.order == 1 and not book.is_satisfied(DIGEST, VID)
    second = book.approve("bob", "bob-pin1", DIGEST, VID, "0011223344c0ffee"[-8:])
    assert second.order == 2
    assert book.is_satisfied(DIGEST, VID)
    assert not book.is_satisfied(OTHER, VID)
    assert not book.is_satisfied(DIGEST, "verification-2")
    events = [r["event"] for r in AuditLog(tmp_path / "audit.log").records()]
    assert events == ["approval", "approval"]


def test_same_person_twice_is_refused(book: ApprovalBook) -> None:
    book.approve("bob", "bob-pin1", DIGEST, VID)
    _refused("same-person", book.approve, "bob", "bob-pin1", DIGEST, VID, "44c0ffee")
    assert not book.is_satisfied(DIGEST, VID)


def test_second_approver_must_type_the_digest_suffix(book: ApprovalBook) -> None:
    book.approve("alice", "alice-pin", DIGEST, VID)
    _refused("wrong-suffix", book.approve, "bob", "bob-pin1", DIGEST, VID, None)
    _refused("wrong-suffix", book.approve, "bob", "bob-pin1", DIGEST, VID, "44c0ffef")
    _refused("wrong-suffix", book.approve, "bob", "bob-pin1", DIGEST, VID, "4c0ffee")
    assert not book.is_satisfied(DIGEST, VID)
    book.approve("bob", "bob-pin1", DIGEST, VID, " 44C0FFEE ")
    assert book.is_satisfied(DIGEST, VID)


def test_second_approver_needs_the_verifier_role(book: ApprovalBook) -> None:
    book.approve("alice", "alice-pin", DIGEST, VID)
    _refused("wrong-role", book.approve, "dave", "dave-pin", DIGEST, VID, "44c0ffee")
    assert not book.is_satisfied(DIGEST, VID)


def test_disabled_account_cannot_approve_or_keep_its_approval(
    book: ApprovalBook, store: OperatorStore
) -> None:
    store.set_enabled("carol", False)
    book.approve("alice", "alice-pin", DIGEST, VID)
    _refused("disabled", book.approve, "carol", "carol-pin", DIGEST, VID, "44c0ffee")
    book.approve("bob", "bob-pin1", DIGEST, VID, "44c0ffee")
    assert book.is_satisfied(DIGEST, VID)
    store.set_enabled("bob", False)  # disabled after approving: the approval stops counting
    assert not book.is_satisfied(DIGEST, VID)


def test_wrong_pins_lock_the_account_until_an_admin_enables_it(
    book: ApprovalBook, store: OperatorStore
) -> None:
    _refused("wrong-secret", book.approve, "alice", "nope", DIGEST, VID)
    _refused("wrong-secret", book.approve, "alice", "nope", DIGEST, VID)
    _refused("locked", book.approve, "alice", "nope", DIGEST, VID)
    # The lock-out survives a restart: it is in the accounts file.
    assert OperatorStore(store.path).get("alice").locked  # type: ignore[union-attr]
    _refused("locked", book.approve, "alice", "alice-pin", DIGEST, VID)
    store.set_enabled("alice", True)
    book.approve("alice", "alice-pin", DIGEST, VID)


def test_a_right_pin_resets_the_failure_count(book: ApprovalBook, store: OperatorStore) -> None:
    _refused("wrong-secret", book.approve, "alice", "nope", DIGEST, VID)
    _refused("wrong-secret", book.approve, "alice", "nope", DIGEST, VID)
    book.approve("alice", "alice-pin", DIGEST, VID)
    assert store.get("alice").failures == 0  # type: ignore[union-attr]


def test_unknown_operator_reads_like_a_wrong_pin(book: ApprovalBook) -> None:
    unknown = _refused("unknown-operator", book.approve, "mallory", "x" * 8, DIGEST, VID)
    wrong = _refused("wrong-secret", book.approve, "alice", "x" * 8, DIGEST, VID)
    assert unknown.message == wrong.message


def test_approvals_expire(book: ApprovalBook, clock: Clock) -> None:
    book.approve("alice", "alice-pin", DIGEST, VID)
    clock.now += 400
    book.approve("bob", "bob-pin1", DIGEST, VID, "44c0ffee")
    assert book.is_satisfied(DIGEST, VID)
    clock.now += 201  # alice's approval is now 601 s old
    assert not book.is_satisfied(DIGEST, VID)
    assert [a.operator for a in book.approvals] == ["bob"]


def test_approval_for_another_digest_or_verification_is_refused(book: ApprovalBook) -> None:
    book.approve("alice", "alice-pin", DIGEST, VID)
    _refused("other-digest", book.approve, "bob", "bob-pin1", OTHER, VID, OTHER[-8:])
    _refused("other-verification", book.approve, "bob", "bob-pin1", DIGEST, "v2", "44c0ffee")
    assert not book.is_satisfied(DIGEST, VID) and not book.is_satisfied(OTHER, VID)


def test_media_change_clears_approvals(book: ApprovalBook, tmp_path: Path) -> None:
    book.approve("alice", "alice-pin", DIGEST, VID)
    book.approve("bob", "bob-pin1", DIGEST, VID, "44c0ffee")
    assert book.clear("media removed") == 2
    assert not book.is_satisfied(DIGEST, VID)
    records = list(AuditLog(tmp_path / "audit.log").records())
    assert records[-1]["event"] == "approvals-cleared"
    assert records[-1]["reason"] == "media removed"


def test_refusals_are_audited(book: ApprovalBook, tmp_path: Path) -> None:
    book.approve("alice", "alice-pin", DIGEST, VID)
    _refused("same-person", book.approve, "alice", "alice-pin", DIGEST, VID)
    last = list(AuditLog(tmp_path / "audit.log").records())[-1]
    assert last["event"] == "approval-refused" and last["code"] == "same-person"
    assert last["actor"] == "alice" and last["digest"] == DIGEST


def test_noninteractive_needs_the_config_switch(
    book: ApprovalBook, store: OperatorStore, tmp_path: Path
) -> None:
    _refused("noninteractive-refused", book.approve, "alice", "alice-pin", DIGEST, VID,
             noninteractive=True)
    home = tmp_path / "home"
    home.mkdir()
    assert not noninteractive_allowed(StationConfig.load(home))
    with pytest.raises(ApprovalError):
        require_noninteractive_allowed(StationConfig.load(home))
    (home / "station.toml").write_text("[approval]\nallow_noninteractive = true\n")
    config = StationConfig.load(home)
    assert noninteractive_allowed(config)
    rig = ApprovalBook(store, ApprovalSettings.from_config(config))
    approval = rig.approve("alice", "alice-pin", DIGEST, VID, noninteractive=True)
    assert approval.noninteractive


def test_secrets_are_stored_only_as_scrypt_hashes(store: OperatorStore) -> None:
    text = store.path.read_text()
    assert "alice-pin" not in text and "scrypt$n=16384,r=8,p=1$" in text
    encoded = hash_secret("123456", n=2**12)
    assert check_secret("123456", encoded) and not check_secret("123457", encoded)
    assert not check_secret("123456", "scrypt$n=16384$garbage")


def test_settings_are_validated(tmp_path: Path) -> None:
    (tmp_path / "station.toml").write_text("[approval]\nexpiry_seconds = -1\n")
    with pytest.raises(StationError, match="expiry_seconds"):
        ApprovalSettings.from_config(StationConfig.load(tmp_path))
    (tmp_path / "station.toml").write_text('[approval]\nsecond_roles = ["boss"]\n')
    with pytest.raises(StationError, match="boss"):
        ApprovalSettings.from_config(StationConfig.load(tmp_path))


def test_names_and_duplicates_are_refused(store: OperatorStore) -> None:
    with pytest.raises(StationError, match="already exists"):
        store.add("alice", Role.ADMIN, "another-pin")
    with pytest.raises(StationError, match="not allowed"):
        store.add('x"]\n[operators.evil', Role.ADMIN, "another-pin")
    with pytest.raises(StationError, match="too short"):
        store.add("erin", Role.ADMIN, "123")


def test_unknown_names_are_not_written_to_the_audit_log(book: ApprovalBook, tmp_path: Path) -> None:
    _refused("unknown-operator", book.approve, "hunter2-my-pin", "x" * 8, DIGEST, VID)
    text = (tmp_path / "audit.log").read_text()
    assert "hunter2" not in text and '"code":"unknown-operator"' in text


def test_a_tampered_hash_with_absurd_parameters_never_matches() -> None:
    assert not check_secret("123456", "scrypt$n=3,r=8,p=1$AAAA$AAAA")
    assert not check_secret("123456", "scrypt$n=1073741824,r=8,p=1$AAAA$AAAA")
