"""Verification: checksums, detached signatures, the trust store and the policy verdict."""
