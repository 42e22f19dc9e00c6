# shellcheck shell=bash
# install_project [dev]: a virtualenv in .venv with the project installed (editable).
install_project() {
  local py="${PYTHON:-python3}"
  command -v "$py" >/dev/null || { echo "Python 3.11+ is required ($py not found)" >&2; exit 1; }
  "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { echo "Python 3.11+ is required, found $("$py" --version)" >&2; exit 1; }
  [ -x .venv/bin/python ] || "$py" -m venv .venv
  # shellcheck disable=SC1091
  . .venv/bin/activate
  local extra=""
  [ "${1:-}" = dev ] && extra="[dev]"
  local stamp=".venv/.installed$extra"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    # setuptools as in pyproject's [build-system]: tests/test_wheel.py builds the wheel
    # offline, without build isolation.
    python -m pip install -q --upgrade pip "setuptools>=77" 2>&1 | grep -v '^WARNING: Location' || true
    python -m pip install -q -e ".$extra" 2>&1 | grep -vE '^WARNING: Location|BuildBackendWarning|^ *!!|^ *\*+|care|precedence|WheelFile|^ *$' || true
    python -c 'import ledger, ptm' || { echo "installation failed" >&2; exit 1; }
    touch "$stamp"
  fi
}

# ensure_chromium: the headless browser of the web-page tests (Debian chromium).
ensure_chromium() {
  if [ -n "${PTM_CHROMIUM:-}" ] && [ -x "$PTM_CHROMIUM" ]; then return 0; fi
  local c
  for c in /usr/bin/chromium /usr/bin/chromium-browser /usr/bin/google-chrome; do
    [ -x "$c" ] && { export PTM_CHROMIUM="$c"; return 0; }
  done
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "Installing Debian chromium for the browser tests..."
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
  fi
  [ -x /usr/bin/chromium ] && { export PTM_CHROMIUM=/usr/bin/chromium; return 0; }
  echo "Chromium is required by the browser tests and could not be installed (apt-get install chromium)." >&2
  exit 1
}
