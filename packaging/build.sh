#!/usr/bin/env bash
# Build the one-folder app with PyInstaller, then check it: the CLI round-trips the sample through a
# real .msp file, and the app starts, opens the sample, encodes it in its worker process and exits.
# Usage (from anywhere, in an environment with mspview installed): packaging/build.sh [OUTDIR]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${1:-$ROOT/build/pyinstaller}"
pip install -q "pyinstaller>=6.10"
start=$(date +%s)
pyinstaller --noconfirm --log-level WARN --distpath "$OUT/dist" --workpath "$OUT/work" "$ROOT/packaging/mspview.spec"
APP="$OUT/dist/mspview/mspview"
echo "built $APP in $(( $(date +%s) - start )) s; folder size $(du -sh "$OUT/dist/mspview" | cut -f1)"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$APP" --version
"$APP" encode "$ROOT/mspview/resources/samples/kodim23.png" "$tmp/sample.msp" --profile fast
"$APP" decode "$tmp/sample.msp" "$tmp/sample.png"
"$APP" info "$tmp/sample.msp" | head -3
QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}" timeout 300 "$APP" --smoke-test "$ROOT/mspview/resources/samples/kodim23.png"
echo "smoke test passed"

# Desktop metadata, where the validators are installed
if command -v desktop-file-validate >/dev/null; then desktop-file-validate "$ROOT/packaging/mspview.desktop"; fi
if command -v appstreamcli >/dev/null; then appstreamcli validate --no-net "$ROOT/packaging/org.mspview.mspview.metainfo.xml" || true; fi
