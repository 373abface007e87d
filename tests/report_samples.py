"""Scan reports and SBOMs shaped like the real tools' JSON output (fields trimmed, not renamed).

Shapes follow Trivy 0.50 (`trivy image -f json`), Grype 0.74 (`grype -o json`) and Syft 1.0
(`syft -o cyclonedx-json`, `-o spdx-json`) on alpine:3.19.
"""

from __future__ import annotations

import json
from typing import Any

IMAGE = "registry.example.org/ops/alpine:3.19"


def _trivy_vuln(vid: str, pkg: str, installed: str, fixed: str, severity: str) -> dict[str, Any]:
    return {
        "VulnerabilityID": vid,
        "PkgID": f"{pkg}@{installed}",
        "PkgName": pkg,
        "PkgIdentifier": {"PURL": f"pkg:apk/alpine/{pkg}@{installed}?arch=x86_64&distro=3.19.1"},
        "InstalledVersion": installed,
        "FixedVersion": fixed,
        "Status": "fixed",
        "Layer": {"DiffID": "sha256:" + "d4" * 32},
        "SeveritySource": "nvd",
        "PrimaryURL": f"https://avd.aquasec.com/nvd/{vid.lower()}",
        "DataSource": {"ID": "alpine", "Name": "Alpine Secdb", "URL": "https://secdb.alpinelinux.org/"},
        "Title": "openssl: denial of service",
        "Description": "Issue summary: processing a maliciously formatted file may crash.",
        "Severity": severity,
        "CweIDs": ["CWE-476"],
        "CVSS": {"nvd": {"V3Vector": "CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H",
                         "V3Score": 5.5}},
        "References": ["https://www.openssl.org/news/secadv/20240125.txt"],
        "PublishedDate": "2024-01-26T09:15:07.637Z",
        "LastModifiedDate": "2024-02-08T10:15:13.713Z",
    }


TRIVY: dict[str, Any] = {
    "SchemaVersion": 2,
    "CreatedAt": "2024-03-01T10:00:00.000000000Z",
    "ArtifactName": IMAGE,
    "ArtifactType": "container_image",
    "Metadata": {
        "OS": {"Family": "alpine", "Name": "3.19.1"},
        "ImageID": "sha256:" + "05" * 32,
        "DiffIDs": ["sha256:" + "d4" * 32],
        "RepoTags": [IMAGE],
        "ImageConfig": {"architecture": "amd64", "os": "linux"},
    },
    "Results": [
        {
            "Target": f"{IMAGE} (alpine 3.19.1)",
            "Class": "os-pkgs",
            "Type": "alpine",
            "Vulnerabilities": [
                _trivy_vuln("CVE-2024-0727", "libcrypto3", "3.1.4-r2", "3.1.4-r5", "MEDIUM"),
                _trivy_vuln("CVE-2024-0727", "libssl3", "3.1.4-r2", "3.1.4-r5", "MEDIUM"),
                _trivy_vuln("CVE-2023-6129", "libcrypto3", "3.1.4-r2", "3.1.4-r3", "HIGH"),
                _trivy_vuln("CVE-2023-6237", "libcrypto3", "3.1.4-r2", "3.1.4-r4", "LOW"),
            ],
        },
        {
            "Target": "usr/local/bin/app",
            "Class": "lang-pkgs",
            "Type": "gobinary",
            "Vulnerabilities": [
                _trivy_vuln("CVE-2024-24790", "stdlib", "1.21.5", "1.21.11", "CRITICAL"),
                _trivy_vuln("CVE-2023-45288", "golang.org/x/net", "0.17.0", "0.23.0", "HIGH"),
                _trivy_vuln("GHSA-xxxx-0000-yyyy", "example.com/lib", "0.1.0", "", "UNKNOWN"),
            ],
        },
        {"Target": "usr/local/bin/clean", "Class": "lang-pkgs", "Type": "gobinary"},
    ],
}
"""1 critical, 2 high, 2 medium, 1 low, 1 unknown."""

GRYPE: dict[str, Any] = {
    "matches": [
        {
            "vulnerability": {
                "id": "CVE-2024-0727",
                "dataSource": "https://www.openssl.org/news/secadv/20240125.txt",
                "namespace": "alpine:distro:alpine:3.19",
                "severity": "Medium",
                "urls": ["https://www.openssl.org/news/secadv/20240125.txt"],
                "fix": {"versions": ["3.1.4-r5"], "state": "fixed"},
                "advisories": [],
            },
            "relatedVulnerabilities": [{"id": "CVE-2024-0727", "namespace": "nvd:cpe"}],
            "matchDetails": [{"type": "exact-indirect-match", "matcher": "apk-matcher"}],
            "artifact": {
                "id": "a1b2c3",
                "name": "libcrypto3",
                "version": "3.1.4-r2",
                "type": "apk",
                "locations": [{"path": "/lib/apk/db/installed"}],
                "language": "",
                "licenses": ["Apache-2.0"],
                "cpes": ["cpe:2.3:a:libcrypto3:libcrypto3:3.1.4-r2:*:*:*:*:*:*:*"],
                "purl": "pkg:apk/alpine/libcrypto3@3.1.4-r2?arch=x86_64&distro=alpine-3.19.1",
                "upstreams": [{"name": "openssl"}],
            },
        },
        {
            "vulnerability": {
                "id": "CVE-2024-2511",
                "namespace": "alpine:distro:alpine:3.19",
                "severity": "Negligible",
                "fix": {"versions": [], "state": "not-fixed"},
            },
            "artifact": {"id": "d4e5f6", "name": "libssl3", "version": "3.1.4-r2", "type": "apk"},
        },
        {
            "vulnerability": {
                "id": "CVE-2024-24790",
                "namespace": "github:language:go",
                "severity": "Critical",
                "fix": {"versions": ["1.21.11"], "state": "fixed"},
            },
            "artifact": {"id": "070809", "name": "stdlib", "version": "go1.21.5",
                         "type": "go-module"},
        },
    ],
    "source": {
        "type": "image",
        "target": {
            "userInput": IMAGE,
            "imageID": "sha256:" + "05" * 32,
            "manifestDigest": "sha256:" + "6a" * 32,
            "tags": [IMAGE],
            "imageSize": 7376733,
            "architecture": "amd64",
            "os": "linux",
        },
    },
    "distro": {"name": "alpine", "version": "3.19.1", "idLike": []},
    "descriptor": {
        "name": "grype",
        "version": "0.74.7",
        "db": {"built": "2024-03-01T01:31:49Z", "schemaVersion": 5},
    },
}
"""1 critical, 1 medium, 1 unknown (Negligible)."""

_PACKAGES = [
    ("alpine-baselayout", "3.4.3-r2"), ("alpine-keys", "2.4-r1"), ("apk-tools", "2.14.0-r5"),
    ("busybox", "1.36.1-r15"), ("ca-certificates-bundle", "20230506-r0"),
    ("libc-utils", "0.7.2-r5"), ("libcrypto3", "3.1.4-r2"), ("libssl3", "3.1.4-r2"),
    ("musl", "1.2.4_git20230717-r4"), ("musl-utils", "1.2.4_git20230717-r4"),
    ("scanelf", "1.3.7-r2"), ("ssl_client", "1.36.1-r15"), ("zlib", "1.3.1-r0"),
]

CYCLONEDX: dict[str, Any] = {
    "$schema": "http://cyclonedx.org/schema/bom-1.5.schema.json",
    "bomFormat": "CycloneDX",
    "specVersion": "1.5",
    "serialNumber": "urn:uuid:0b1c6f6e-3f7a-4e7c-9d58-6d0c8b6c9a11",
    "version": 1,
    "metadata": {
        "timestamp": "2024-03-01T10:00:00Z",
        "tools": {"components": [{"type": "application", "author": "anchore", "name": "syft",
                                  "version": "1.0.1"}]},
        "component": {"bom-ref": "6c2e3f", "type": "container", "name": IMAGE,
                      "version": "sha256:" + "6a" * 32},
    },
    "components": [
        {
            "bom-ref": f"pkg:apk/alpine/{name}@{version}?arch=x86_64&distro=alpine-3.19.1",
            "type": "library",
            "publisher": "Natanael Copa <ncopa@alpinelinux.org>",
            "name": name,
            "version": version,
            "licenses": [{"license": {"id": "MIT"}}],
            "purl": f"pkg:apk/alpine/{name}@{version}?arch=x86_64&distro=alpine-3.19.1",
            "properties": [{"name": "syft:package:type", "value": "apk"}],
        }
        for name, version in _PACKAGES
    ]
    + [{"type": "operating-system", "name": "alpine", "version": "3.19.1"}],
}
"""14 components (13 apk packages and the operating system)."""

SPDX: dict[str, Any] = {
    "spdxVersion": "SPDX-2.3",
    "dataLicense": "CC0-1.0",
    "SPDXID": "SPDXRef-DOCUMENT",
    "name": IMAGE,
    "documentNamespace": "https://anchore.com/syft/image/alpine-3.19-6f1f0a3e",
    "creationInfo": {
        "licenseListVersion": "3.22",
        "creators": ["Organization: Anchore, Inc", "Tool: syft-1.0.1"],
        "created": "2024-03-01T10:00:00Z",
    },
    "packages": [
        {
            "name": name,
            "SPDXID": f"SPDXRef-Package-apk-{name}-{n}",
            "versionInfo": version,
            "supplier": "Person: Natanael Copa (ncopa@alpinelinux.org)",
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": False,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "MIT",
            "copyrightText": "NOASSERTION",
        }
        for n, (name, version) in enumerate(_PACKAGES[:3])
    ],
    "relationships": [
        {"spdxElementId": "SPDXRef-DOCUMENT", "relatedSpdxElement": "SPDXRef-Package-apk-"
         "alpine-baselayout-0", "relationshipType": "DESCRIBES"},
    ],
}
"""3 packages: alpine-baselayout, alpine-keys, apk-tools."""


def dump(doc: dict[str, Any]) -> bytes:
    """The document as a tool writes it (indented JSON)."""
    return json.dumps(doc, indent=2).encode()
