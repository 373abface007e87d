#!/usr/bin/env bash
# Install the transfer station kiosk on Debian 12 without network.
#
#   packaging/install-offline.sh [--root DIR] [--files-only] WHEELHOUSE
#
# WHEELHOUSE is a folder holding the transfer-station wheel and every wheel it depends on
# (made on a connected machine with `pip wheel -w wheelhouse .`, see packaging/README.md).
# The script creates /opt/station/venv from it with `pip --no-index`, installs the udev rule,
# the systemd unit, the sudoers rule, the kiosk user and the station folders, then enables the
# kiosk on tty1. Run it as root, from the project folder or a copy of it.
#
#   --root DIR    install the system files into DIR instead of / (an image being built); no
#                 services touched. Implies --files-only: a venv's paths are absolute, so
#                 build it inside the image (chroot DIR, then run this script there).
#   --files-only  install only the system files, not the Python environment
#
# Exit codes: 0 installed, 1 a step failed, 2 usage.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root=""
files_only=0
wheelhouse=""

usage() {
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case "$1" in
        --root) [ $# -ge 2 ] || usage; root="${2%/}"; shift 2 ;;
        --files-only) files_only=1; shift ;;
        -h|--help) usage ;;
        -*) echo "install-offline: unknown option $1" >&2; usage ;;
        *) [ -z "$wheelhouse" ] || usage; wheelhouse="$1"; shift ;;
    esac
done
[ -z "$root" ] || files_only=1
if [ "$files_only" -eq 0 ] && [ -z "$wheelhouse" ]; then
    usage
fi
if [ -z "$root" ] && [ "$(id -u)" -ne 0 ]; then
    echo "install-offline: run as root (or with --root DIR to fill an image)" >&2
    exit 2
fi

say() { echo "install-offline: $*"; }

put() { # put MODE SOURCE TARGET: copy one file into the root with an exact mode
    install -D -m "$1" -o 0 -g 0 "$here/$2" "$root$3" 2>/dev/null \
        || install -D -m "$1" "$here/$2" "$root$3"
    say "installed $3"
}

if [ "$files_only" -eq 0 ]; then
    if ! ls "$wheelhouse"/transfer_station-*.whl >/dev/null 2>&1; then
        echo "install-offline: no transfer_station-*.whl in $wheelhouse" >&2
        exit 1
    fi
    python="$(command -v python3.11 || command -v python3)"
    "$python" -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' || {
        echo "install-offline: needs Python 3.11 with venv (apt-get install python3-venv)" >&2
        exit 1
    }
    mkdir -p "$root/opt/station"
    "$python" -m venv "$root/opt/station/venv"
    "$root/opt/station/venv/bin/pip" install --quiet --no-index --find-links "$wheelhouse" \
        transfer-station
    say "installed /opt/station/venv"
fi

put 0644 udev/90-station-media.rules /etc/udev/rules.d/90-station-media.rules
put 0644 systemd/station-kiosk.service /etc/systemd/system/station-kiosk.service
put 0644 sysusers/station.conf /etc/sysusers.d/station.conf
put 0644 tmpfiles/station.conf /etc/tmpfiles.d/station.conf
put 0644 README.md /opt/station/share/README.md
# Malware scanning with Debian's clamav-daemon on the station's databases (docs/malware.md).
put 0644 clamav/station-clamd.conf /etc/clamav/station-clamd.conf
put 0644 clamav/clamav-daemon.service.d/station.conf \
    /etc/systemd/system/clamav-daemon.service.d/station.conf
put 0644 clamav/clamav-daemon.socket.d/station.conf \
    /etc/systemd/system/clamav-daemon.socket.d/station.conf
put 0644 clamav/station-kiosk.service.d/clamav.conf \
    /etc/systemd/system/station-kiosk.service.d/clamav.conf
put 0644 clamav/tmpfiles-station-clamav.conf /etc/tmpfiles.d/station-clamav.conf
if command -v visudo >/dev/null; then
    visudo -cqf "$here/sudoers/station-media" || {
        echo "install-offline: the sudoers rule does not parse; nothing installed for sudo" >&2
        exit 1
    }
fi
put 0440 sudoers/station-media /etc/sudoers.d/station-media

if [ -n "$root" ]; then
    say "files installed under $root; at its first boot systemd creates the kiosk user and"
    say "folders; enable the kiosk there: systemctl enable station-kiosk"
    exit 0
fi

systemd-sysusers /etc/sysusers.d/station.conf
systemd-tmpfiles --create /etc/tmpfiles.d/station.conf
if [ "$files_only" -eq 0 ]; then
    # The station's own signing key (kept if it exists): write down the fingerprint it prints.
    /opt/station/venv/bin/station --home /var/lib/station keys station-init
fi
if getent group clamav >/dev/null; then
    systemd-tmpfiles --create /etc/tmpfiles.d/station-clamav.conf
    systemctl disable --now clamav-freshclam.service 2>/dev/null || true  # offline: no updates
else
    say "clamav-daemon is not installed: malware scanning stays off until it is"
fi
udevadm control --reload
udevadm trigger --subsystem-match=block --action=change
systemctl daemon-reload
systemctl disable --now getty@tty1.service || true
systemctl enable --now station-kiosk.service
say "the kiosk runs on tty1 (journalctl -u station-kiosk to follow it)"
