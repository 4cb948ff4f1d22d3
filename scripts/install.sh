#!/usr/bin/env bash
# Install nightdesk on a fresh Debian machine: system packages (CJK fonts, HarfBuzz subsetter,
# Pango for WeasyPrint, librsvg for the PDF's vector charts), a virtualenv in .venv and the package. `--test` adds test tools
# (Chromium for the browser test, pytest, aiosmtpd, ...). Idempotent: skips what is present.
set -euo pipefail
cd "$(dirname "$0")/.."
want=(fonts-noto-cjk libharfbuzz-subset0 librsvg2-bin libpango-1.0-0 libpangoft2-1.0-0 fontconfig python3-venv poppler-utils)
if [[ "${1:-}" == "--test" ]]; then want+=(chromium); fi
missing=()
for pkg in "${want[@]}"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
if (( ${#missing[@]} )); then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[[ -x .venv/bin/python ]] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
if [[ "${1:-}" == "--test" ]]; then
  .venv/bin/python -m pip install -q -e '.[test]'
else
  .venv/bin/python -m pip install -q -e .
fi
