"""The site's policy, in three parts with one job each:

- `rules.py`: the rules over a bundle, its signatures and its staged copy (`Policy`);
- `sequences.py`: the rollback marks per channel, which only grow (`SequenceStore`);
- `override.py`: an admin's audited override of a rollback rejection.

The names below are the public ones; import them from here.
"""

from station.verify.policy.override import OVERRIDABLE
from station.verify.policy.rules import (
    MAX_REPORT_BYTES,
    KeyRule,
    Policy,
    bundle_references,
    matches_prefix,
)
from station.verify.policy.sequences import SEQUENCE_NAME, SequenceStore, SequenceWriteFailed

__all__ = [
    "MAX_REPORT_BYTES",
    "OVERRIDABLE",
    "SEQUENCE_NAME",
    "KeyRule",
    "Policy",
    "SequenceStore",
    "SequenceWriteFailed",
    "bundle_references",
    "matches_prefix",
]
