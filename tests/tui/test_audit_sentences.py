"""Database installs read as sentences in the audit viewer, under the import filter."""

from __future__ import annotations

from tui.audit_sentences import kind_of, sentence

NAMES = {"sha256:" + "ab" * 32: "osv-2026-12"}


def test_database_installs_and_refusals_read_as_sentences() -> None:
    installed = {"event": "database-installed", "digest": "sha256:" + "ab" * 32,
                 "kind": "vulndb", "file": "all.zip", "ecosystems": ["PyPI"]}
    refused = {"event": "database-refused", "digest": "sha256:" + "ab" * 32,
               "kind": "clamav-db", "file": "daily.cud",
               "reason": "version 27001 is older than the installed 27002"}
    assert sentence(installed, NAMES) == "vulnerability database from bundle osv-2026-12 installed"
    assert sentence(refused, NAMES) == (
        "malware (ClamAV) database daily.cud from bundle osv-2026-12 NOT installed: "
        "version 27001 is older than the installed 27002")
    assert kind_of(installed) == kind_of(refused) == "import"
