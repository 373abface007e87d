"""The two-person rule cannot be bypassed, whatever the UI lets people try."""

from __future__ import annotations

import json
from datetime import timedelta
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
    roles_in_words,
    secret_matches,
    suffix_bytes,
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


def test_a_wrong_pin_says_how_many_tries_are_left_an_unknown_name_says_nothing_typed(
    book: ApprovalBook,
) -> None:
    unknown = _refused("unknown-operator", book.approve, "mallory", "x" * 8, DIGEST, VID)
    assert "mallory" not in str(unknown) and unknown.tries_left is None
    wrong = _refused("wrong-secret", book.approve, "alice", "x" * 8, DIGEST, VID)
    assert wrong.message == "wrong PIN for alice: 2 tries left before the account locks"
    assert wrong.tries_left == 2
    last = _refused("wrong-secret", book.approve, "alice", "x" * 8, DIGEST, VID)
    assert "1 try left" in last.message
    locked = _refused("locked", book.approve, "alice", "x" * 8, DIGEST, VID)
    assert locked.tries_left == 0
    assert "admin screen" in (locked.hint or ""), "the kiosk can unlock it: say so"


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


# -- forgiving input, one credentials rule --------------------------------------------------


def _audit(tmp_path: Path) -> list[dict[str, object]]:
    return list(AuditLog(tmp_path / "audit.log").records())


def test_names_typed_with_shift_or_caps_lock_find_their_account(book: ApprovalBook) -> None:
    approval = book.approve("  ALICE ", "alice-pin", DIGEST, VID)
    assert approval.operator == "alice"


def test_a_pin_typed_with_caps_lock_on_is_accepted_other_case_changes_are_not(
    book: ApprovalBook,
) -> None:
    _refused("wrong-secret", book.approve, "alice", "Alice-pin", DIGEST, VID)
    approval = book.approve("ALICE", "ALICE-PIN", DIGEST, VID)  # Caps Lock on for both
    assert approval.operator == "alice"
    assert secret_matches("aBc-123", hash_secret("AbC-123", n=2**12))
    assert not secret_matches("abc-123", hash_secret("AbC-123", n=2**12))
    assert secret_matches("123456", hash_secret("123456", n=2**12))


@pytest.mark.parametrize("typed", ["44C0 FFEE", "44c0ffee", " 44 c0 ff ee ", "44C0\tffee"])
def test_the_suffix_ignores_spaces_and_case(book: ApprovalBook, typed: str) -> None:
    book.approve("alice", "alice-pin", DIGEST, VID)
    book.approve("bob", "bob-pin1", DIGEST, VID, typed)
    assert book.is_satisfied(DIGEST, VID)


NOT_HEX = [
    "44c0ffeg",
    "\u096a\u096ac0ffee",  # Devanagari digits
    "\uff14\uff14c0ffee",  # full-width digits
    "44c0ffee\u00e9",
    "0x4c0ffee",
]


@pytest.mark.parametrize("typed", NOT_HEX)
def test_a_suffix_that_is_not_hex_is_refused_in_words(
    book: ApprovalBook, typed: str, tmp_path: Path
) -> None:
    book.approve("alice", "alice-pin", DIGEST, VID)
    refused = _refused("suffix-not-hex", book.approve, "bob", "bob-pin1", DIGEST, VID, typed)
    assert "0-9 and a-f" in refused.message
    last = _audit(tmp_path)[-1]
    assert last["code"] == "suffix-not-hex" and typed not in json.dumps(last, ensure_ascii=False)
    assert not book.is_satisfied(DIGEST, VID)


def test_the_suffix_is_compared_as_bytes() -> None:
    assert suffix_bytes("72FF 707C") == b"72ff707c"
    with pytest.raises(ApprovalError):
        suffix_bytes("72ff707\u0441")  # Cyrillic es, looks like c


def test_a_name_that_matches_no_account_is_never_recorded(
    book: ApprovalBook, store: OperatorStore, tmp_path: Path
) -> None:
    log = AuditLog(tmp_path / "audit.log")
    _refused("not-verified", book.approve, "pin-in-name-1234", "x" * 8, "", "")
    with pytest.raises(ApprovalError):
        store.sign_in("pin-in-name-5678", "x" * 8, role=Role.ADMIN, audit=log, where="kiosk")
    with pytest.raises(ApprovalError):
        store.sign_in("alice", "nope-nope", role=Role.ADMIN, audit=log, where="kiosk")
    with pytest.raises(ApprovalError, match="not an admin"):
        store.sign_in("Alice", "alice-pin", role=Role.ADMIN, audit=log, where="kiosk")
    text = (tmp_path / "audit.log").read_text()
    assert "pin-in-name" not in text
    actors = [(r["event"], r["actor"]) for r in _audit(tmp_path)]
    assert actors == [("approval-refused", None), ("login-failed", None),
                      ("login-failed", "alice"), ("login-failed", "alice")]
    assert store.known_name(" CAROL") == "carol" and store.known_name("mallory") is None


def test_an_admin_signs_in_on_record(store: OperatorStore, tmp_path: Path) -> None:
    store.add("root_", Role.ADMIN, "admin-pin")
    log = AuditLog(tmp_path / "audit.log")
    admin = store.sign_in("ROOT_", "admin-pin", role=Role.ADMIN, audit=log, where="kiosk")
    assert admin.name == "root_"
    last = _audit(tmp_path)[-1]
    assert (last["event"], last["actor"], last["where"]) == ("login", "root_", "kiosk")


# -- lock-out and unlocking -----------------------------------------------------------------


def test_an_admin_lists_and_unlocks_locked_accounts_on_record(
    store: OperatorStore, tmp_path: Path
) -> None:
    store.add("root_", Role.ADMIN, "admin-pin")
    log = AuditLog(tmp_path / "audit.log")
    for _ in range(3):
        with pytest.raises(ApprovalError):
            store.authenticate("dave", "wrong-pin")
    assert [op.name for op in store.locked_accounts()] == ["dave"]
    with pytest.raises(ApprovalError, match="only an administrator"):
        store.unlock("dave", admin="alice", audit=log, where="kiosk")
    assert store.get("dave").locked  # type: ignore[union-attr]
    unlocked = store.unlock("dave", admin="root_", audit=log, where="kiosk")
    assert not unlocked.locked and unlocked.failures == 0 and unlocked.enabled
    assert store.locked_accounts() == []
    assert store.authenticate("dave", "dave-pin").name == "dave"
    with pytest.raises(ApprovalError, match="not locked"):
        store.unlock("dave", admin="root_", audit=log, where="kiosk")
    actions = [(r["actor"], r["action"], r["operator"]) for r in _audit(tmp_path)]
    assert actions == [("alice", "operator-unlock-refused", "dave"),
                       ("root_", "operator-unlocked", "dave"),
                       ("root_", "operator-unlock-refused", "dave")]


def test_a_disabled_admin_cannot_unlock(store: OperatorStore, tmp_path: Path) -> None:
    store.add("root_", Role.ADMIN, "admin-pin")
    for _ in range(3):
        with pytest.raises(ApprovalError):
            store.authenticate("dave", "wrong-pin")
    store.set_enabled("root_", False)  # signed in earlier, disabled since
    with pytest.raises(ApprovalError):
        store.unlock("dave", admin="root_", audit=AuditLog(tmp_path / "audit.log"),
                     where="kiosk")
    assert store.get("dave").locked  # type: ignore[union-attr]


# -- expiry, roles, restart -----------------------------------------------------------------


def test_an_expiry_is_on_record_when_the_book_is_next_looked_at(
    book: ApprovalBook, clock: Clock, tmp_path: Path
) -> None:
    book.approve("alice", "alice-pin", DIGEST, VID)
    clock.now += 250
    state = book.status(DIGEST, VID)
    assert [a.operator for a in state.approvals] == ["alice"]
    assert state.seconds_left == (350.0,) and state.next_order == 2
    assert state.expires_at(state.approvals[0]) == state.approvals[0].at + timedelta(seconds=600)
    assert "approval-expired" not in [r["event"] for r in _audit(tmp_path)]
    clock.now += 350
    assert [a.operator for a in book.expire()] == ["alice"]
    state = book.status(DIGEST, VID)
    assert state.approvals == () and state.next_order == 1
    assert [a.operator for a in state.expired] == ["alice"]
    expired = [r for r in _audit(tmp_path) if r["event"] == "approval-expired"]
    assert len(expired) == 1, "written once, however often the book is looked at"
    assert expired[0]["actor"] == "alice" and expired[0]["digest"] == DIGEST
    assert expired[0]["order"] == 1 and expired[0]["expiry_seconds"] == 600
    # The next person is asked for the first approval again, not counted as the second.
    book.approve("bob", "bob-pin1", DIGEST, VID)
    assert [a.order for a in book.approvals] == [1]


def test_any_access_expires_and_records(book: ApprovalBook, clock: Clock, tmp_path: Path) -> None:
    book.approve("alice", "alice-pin", DIGEST, VID)
    clock.now += 600
    assert not book.is_satisfied(DIGEST, VID)
    assert [r["event"] for r in _audit(tmp_path)][-1] == "approval-expired"


def test_the_state_says_who_may_approve_next(book: ApprovalBook) -> None:
    state = book.status(DIGEST, VID)
    assert state.next_roles == frozenset(Role)
    assert roles_in_words(state.settings.second_roles) == "a verifier or an admin"
    book.approve("alice", "alice-pin", DIGEST, VID)
    assert book.status(DIGEST, VID).next_roles == {Role.VERIFIER, Role.ADMIN}


def test_a_refused_role_can_start_the_approvals_again_on_record(
    book: ApprovalBook, tmp_path: Path
) -> None:
    book.approve("bob", "bob-pin1", DIGEST, VID)  # the verifier went first
    refused = _refused("wrong-role", book.approve, "alice", "alice-pin", DIGEST, VID, "44c0ffee")
    assert refused.message == (
        "alice is an operator; the second approval must come from a verifier or an admin")
    assert "start the approvals again" in (refused.hint or "")
    assert book.restart(DIGEST, VID, "role refused: the operators start again") == 1
    last = _audit(tmp_path)[-1]
    assert last["event"] == "approvals-restarted" and last["operators"] == ["bob"]
    assert last["count"] == 1 and last["digest"] == DIGEST
    book.approve("alice", "alice-pin", DIGEST, VID)
    book.approve("bob", "bob-pin1", DIGEST, VID, "44c0ffee")
    assert book.is_satisfied(DIGEST, VID)
