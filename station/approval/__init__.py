"""Operators, their credentials, and the two-person rule.

- `secrets`: PIN and passphrase hashing (scrypt);
- `accounts`: the operators file, roles, lock-out and unlocking;
- `settings`: `[approval]` in station.toml;
- `book`: the two-person book the workflow asks before importing.

Everything callers need is importable from `station.approval`.
"""

from station.approval.accounts import (
    OPERATORS_NAME,
    ApprovalError,
    Operator,
    OperatorStore,
    Role,
    account_name,
    check_name,
    check_new_secret,
)
from station.approval.book import (
    SUFFIX_LENGTH,
    Approval,
    ApprovalBook,
    ApprovalState,
    digest_suffix,
    roles_in_words,
    suffix_bytes,
)
from station.approval.secrets import (
    MIN_SECRET_LENGTH,
    check_secret,
    hash_secret,
    secret_matches,
)
from station.approval.settings import (
    ApprovalSettings,
    noninteractive_allowed,
    require_noninteractive_allowed,
)

__all__ = [
    "MIN_SECRET_LENGTH",
    "OPERATORS_NAME",
    "SUFFIX_LENGTH",
    "Approval",
    "ApprovalBook",
    "ApprovalError",
    "ApprovalSettings",
    "ApprovalState",
    "Operator",
    "OperatorStore",
    "Role",
    "account_name",
    "check_name",
    "check_new_secret",
    "check_secret",
    "digest_suffix",
    "hash_secret",
    "noninteractive_allowed",
    "require_noninteractive_allowed",
    "roles_in_words",
    "secret_matches",
    "suffix_bytes",
]
