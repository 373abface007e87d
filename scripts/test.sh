#!/usr/bin/env bash
# Installs everything the tests need (idempotent), then runs lint, types and the whole suite.
# Real components (minisign, gpg, skopeo, dockerd, docker-registry, umockdev, tmux, clamd) come from
# Debian; the tests start the servers they use themselves. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
    minisign gnupg skopeo docker.io docker-registry umockdev gir1.2-umockdev-1.0 python3-gi
    tmux fusefat mtools e2fsprogs openssl openssh-client udev systemd util-linux mount sudo
    rsyslog
    clamav-daemon clamdscan clamav
    podman buildah
)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "test: installing ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

scripts/setup.sh test

.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
