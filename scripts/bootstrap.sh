#!/usr/bin/env bash
# Creates .venv and installs Tessera with every extra, once per change of pyproject.toml.
# Sourced by ./run and ./test; safe to run again (a stamp file skips work already done).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"

apt_install() {
    # System packages only when missing and only as root; others get a clear message.
    if [ "$(id -u)" -ne 0 ]; then
        echo "bootstrap: missing system packages ($*); install them or run as root" >&2
        return 1
    fi
    if [ -z "${TESSERA_APT_UPDATED:-}" ]; then
        apt-get update -qq >&2
        export TESSERA_APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

find_python() {
    for candidate in python3.11 python3.12 python3.13 python3; do
        if command -v "$candidate" >/dev/null 2>&1 \
            && "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

if [ ! -x "$venv/bin/python" ]; then
    python="$(find_python)" || { apt_install python3 python3-venv; python="$(find_python)"; }
    if ! "$python" -m venv "$venv" >&2 2>/dev/null; then
        rm -rf "$venv"
        apt_install python3-venv
        "$python" -m venv "$venv" >&2
    fi
fi

stamp="$venv/.tessera-installed"
want="$(cat "$root/pyproject.toml" "$root/scripts/bootstrap.sh" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "bootstrap: installing Tessera and its dependencies into .venv" >&2
    "$venv/bin/python" -m pip install -q --upgrade pip >&2
    "$venv/bin/python" -m pip install -q -e "$root[dev,verify,server,bff,authz]" >&2
    echo "$want" > "$stamp"
fi
