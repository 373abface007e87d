"""Verification: checksums, detached signatures, the trust store and the policy verdict."""

from station.verify.verification import ACCEPTED, REJECTED, Verification, verify_bundle

__all__ = ["ACCEPTED", "REJECTED", "Verification", "verify_bundle"]
