# Sourced by scripts/test (after _bootstrap.sh): make sure the UI tests have a browser.
# Debian's own chromium (apt) plus the Python `playwright` package in .venv; Playwright's own browser
# download is never used (the tests launch /usr/bin/chromium). Fast when both are already there.
# Without root or apt-get it only warns: the UI tests then skip with a clear reason.

CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"

ensure_browser() {
    if [ ! -x "$CHROMIUM" ]; then
        if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
            echo "installing Debian's chromium for the UI tests..." >&2
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -qq >&2
            apt-get install -y -qq --no-install-recommends chromium >&2
        else
            echo "warning: $CHROMIUM is missing and apt-get is not usable here; UI tests will skip" >&2
        fi
    fi
    if ! "$VENV/bin/python" -c 'import playwright' 2>/dev/null; then
        echo "installing the playwright Python package into .venv..." >&2
        "$VENV/bin/python" -m pip install --quiet 'playwright>=1.45' >&2
    fi
}
