"""The two authorization servers under test, set up the same way.

Peer: node-oidc-provider 9 running ``bench/peers/oidc/server.mjs`` (the shared, measured
config, plus the refresh client of :mod:`bench._refresh`): client ``svc-billing-01``
(client_secret_basic, client_credentials, scopes ``read:orders write:orders``); resource
``https://api.example.test`` → ES256 RFC 9068 JWT, ``https://opaque-api.example.test`` →
opaque. The token's own client introspects.

Tessera: a fresh ``TESSERA_HOME`` (SQLite, keys, pepper) bootstrapped by ``tessera serve``;
``svc-billing-01`` for the JWT API, ``svc-billing-opaque`` (``--token-format opaque``) for the
opaque API, and the resource server ``rs-orders`` (``--introspect-for`` the opaque API), which
is who introspects: Tessera only answers a caller the token's audience names.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from bench._procs import Child, pin, start, wait_http

__all__ = [
    "API",
    "ISSUE_BODY",
    "OPAQUE_API",
    "SCOPE",
    "VENV_BIN",
    "Credentials",
    "Target",
    "TesseraHome",
    "add_client",
    "ensure_peer_installed",
    "mint",
    "peer_target",
    "post_form",
    "start_peer",
    "start_tessera",
    "tessera_home",
    "tessera_target",
]

API = "https://api.example.test"
OPAQUE_API = "https://opaque-api.example.test"
SCOPE = "read:orders write:orders"
ISSUE_BODY = urlencode({"grant_type": "client_credentials", "scope": SCOPE, "resource": API})

BENCH = Path(__file__).resolve().parent
PEER_DIR = BENCH / ".peers" / "oidc"
PEER_SCRIPT = BENCH / "peers" / "oidc" / "server.mjs"
PEER_CLIENT_ID = "svc-billing-01"
PEER_SECRET = "bench-secret-0123456789abcdef0123456789abcdef"  # from server.mjs
VENV_BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Credentials:
    client_id: str
    secret: str

    @property
    def basic(self) -> str:
        # RFC 6749 §2.3.1: id and secret are form-encoded before base64 (ours need no escaping).
        raw = f"{self.client_id}:{self.secret}".encode()
        return "Basic " + base64.b64encode(raw).decode()


@dataclass
class Target:
    """One running server and how to talk to it."""

    name: str
    child: Child
    base_url: str
    token_path: str
    introspect_path: str
    issuer_client: Credentials  # JWT tokens
    opaque_client: Credentials  # mints opaque tokens
    opaque_body: str  # its token request body
    introspector: Credentials  # the introspection caller

    @property
    def token_url(self) -> str:
        return self.base_url + self.token_path

    @property
    def introspect_url(self) -> str:
        return self.base_url + self.introspect_path


def post_form(
    url: str, auth: str, body: str, conn: http.client.HTTPConnection | None = None
) -> Any:
    parts = urlsplit(url)
    own = conn is None
    conn = conn or http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        headers = {"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"}
        conn.request("POST", parts.path, body, headers)
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            msg = f"POST {url} → {resp.status}: {data[:300]!r}"
            raise RuntimeError(msg)
        return json.loads(data)
    finally:
        if own:
            conn.close()


def mint(url: str, creds: Credentials, body: str, count: int) -> list[str]:
    """``count`` access tokens over one keep-alive connection."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        return [post_form(url, creds.basic, body, conn)["access_token"] for _ in range(count)]
    finally:
        conn.close()


# ------------------------------------------------------------------------------ peer


def ensure_peer_installed() -> str:
    """Install oidc-provider@9 into bench/.peers/oidc (once); return its version."""
    package = PEER_DIR / "node_modules" / "oidc-provider" / "package.json"
    if not package.exists():
        if shutil.which("npm") is None:
            msg = "npm is not installed: cannot set up the node-oidc-provider peer"
            raise RuntimeError(msg)
        PEER_DIR.mkdir(parents=True, exist_ok=True)
        if not (PEER_DIR / "package.json").exists():
            (PEER_DIR / "package.json").write_text('{"name": "bench-peer-oidc", "private": true}\n')
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "oidc-provider@9"],  # noqa: S607
            cwd=PEER_DIR,
            check=True,
            capture_output=True,
            timeout=600,
        )
    # ESM resolves packages from the script's folder: run a copy beside node_modules.
    shutil.copyfile(PEER_SCRIPT, PEER_DIR / "server.mjs")
    version: str = json.loads(package.read_text())["version"]
    return version


def start_peer(workdir: Path, port: int, cores: str | None, seed_port: int | None = None) -> Child:
    """The peer on ``port``; with ``seed_port``, its refresh-token seeding listener too."""
    env = {**os.environ, "PORT": str(port), "AT_ALG": "ES256", "NODE_ENV": "production"}
    if seed_port is not None:
        env["SEED_PORT"] = str(seed_port)
    child = start(
        "oidc-provider",
        pin(cores, ["node", "server.mjs"]),
        env=env,
        log_path=workdir / "peer.log",
        cwd=PEER_DIR,
    )
    wait_http(child, f"http://127.0.0.1:{port}/.well-known/openid-configuration")
    return child


def peer_target(child: Child, port: int, name: str = "peer") -> Target:
    creds = Credentials(PEER_CLIENT_ID, PEER_SECRET)
    opaque_body = urlencode(
        {"grant_type": "client_credentials", "scope": SCOPE, "resource": OPAQUE_API}
    )
    return Target(
        name=name,
        child=child,
        base_url=f"http://127.0.0.1:{port}",
        token_path="/token",
        introspect_path="/token/introspection",
        issuer_client=creds,
        opaque_client=creds,
        opaque_body=opaque_body,
        introspector=creds,
    )


# --------------------------------------------------------------------------- tessera


@dataclass(frozen=True)
class TesseraHome:
    home: Path
    env: dict[str, str]
    jwt_client: Credentials
    opaque_client: Credentials
    introspector: Credentials


def _tessera_env(home: Path, log_level: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    return {**env, "TESSERA_HOME": str(home), "TESSERA_LOG_LEVEL": log_level}


def add_client(env: dict[str, str], client_id: str, *args: str) -> Credentials:
    """``tessera clients add`` in the home of ``env``; the secret it printed once."""
    out = subprocess.run(
        [str(VENV_BIN / "tessera"), "clients", "add", client_id, "--json", *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return Credentials(client_id, json.loads(out.stdout)["client_secret"])


def tessera_home(home: Path, log_level: str) -> TesseraHome:
    """Register the three clients (the database must exist: start a server first)."""
    env = _tessera_env(home, log_level)
    scope = ["--scope", SCOPE, "--grant", "client_credentials", "--auth", "client_secret_basic"]
    jwt_client = add_client(env, "svc-billing-01", *scope, "--audience", API)
    opaque_client = add_client(
        env, "svc-billing-opaque", *scope, "--audience", OPAQUE_API, "--token-format", "opaque"
    )
    introspector = add_client(env, "rs-orders", "--introspect-for", OPAQUE_API)
    return TesseraHome(home, env, jwt_client, opaque_client, introspector)


def start_tessera(
    home: Path,
    *,
    log_level: str,
    port: int,
    workers: int,
    cores: str | None,
    server: str,
    log_path: Path,
) -> Child:
    """``tessera serve`` (uvicorn), or granian serving the same ASGI factory."""
    env = _tessera_env(home, log_level)
    if server == "uvicorn":
        argv = [
            str(VENV_BIN / "tessera"),
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]
    else:
        env |= {"TESSERA_PORT": str(port), "TESSERA_PUBLIC_URL": f"http://127.0.0.1:{port}"}
        argv = [
            str(VENV_BIN / "granian"),
            "--interface",
            "asgi",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--loop",
            "uvloop",
            "--http",
            "1",
            "--no-ws",
            "--log-level",
            "warning",
            "--no-access-log",
            "tessera.server.app:create_app",
        ]
    child = start(f"tessera-{server}-{workers}w", pin(cores, argv), env=env, log_path=log_path)
    wait_http(child, f"http://127.0.0.1:{port}/healthz")
    return child


def tessera_target(name: str, child: Child, port: int, th: TesseraHome) -> Target:
    return Target(
        name=name,
        child=child,
        base_url=f"http://127.0.0.1:{port}",
        token_path="/t/default/token",
        introspect_path="/t/default/introspect",
        issuer_client=th.jwt_client,
        opaque_client=th.opaque_client,
        opaque_body=urlencode({"grant_type": "client_credentials", "scope": SCOPE}),
        introspector=th.introspector,
    )
