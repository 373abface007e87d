#!/usr/bin/env bash
# Sets up the project and runs the kiosk in demo mode (nothing else needs installing).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/station-kiosk --demo "$@"
