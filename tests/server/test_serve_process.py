"""Real ``tessera serve`` processes on 127.0.0.1 and free ports: the README's story end to end,
the schema check, two instances on one PostgreSQL database, TLS, and refused settings.

Every process is terminated by the fixture's finalizer (killed if it does not stop); waits
poll with a bounded timeout, never a fixed sleep.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import socket
import sqlite3
import ssl
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tessera.jose.b64 import b64url_encode
from tessera.verify import Verifier

API = "https://api.example.test"
TESSERA = Path(sys.executable).with_name("tessera")
START_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without any TESSERA_* setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env["PYTHONUNBUFFERED"] = "1"  # read the printed issuer while the server runs
    env.update(extra)
    return env


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    port: int
    cwd: Path
    out: Path
    err: Path
    scheme: str = "http"

    @property
    def base(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")

    def wait_ready(self, *, verify: ssl.SSLContext | bool = True) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        with httpx.Client(verify=verify, timeout=1.0) as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    pytest.fail(f"tessera serve exited {self.process.returncode}:\n{self.output()}")
                try:
                    if http.get(f"{self.base}/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        pytest.fail(f"tessera serve not ready after {START_TIMEOUT} s:\n{self.output()}")

    def wait_exit(self) -> int:
        try:
            return self.process.wait(timeout=START_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"tessera serve did not exit:\n{self.output()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@pytest.fixture
def serve(tmp_path) -> Iterator:
    """``serve(cwd, *args, env=…)`` starts ``tessera serve --port P``; all stopped after."""
    started: list[Served] = []

    def start(cwd: Path, *args: str, env: dict[str, str], scheme: str = "http") -> Served:
        cwd.mkdir(parents=True, exist_ok=True)
        port = free_port()
        n = len(started)
        out, err = tmp_path / f"serve{n}.out", tmp_path / f"serve{n}.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = subprocess.Popen(
                [str(TESSERA), "serve", "--port", str(port), *args],
                cwd=cwd,
                env={k: v.replace("{port}", str(port)) for k, v in env.items()},
                stdout=stdout,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
            )
        served = Served(process, port, cwd, out, err, scheme)
        started.append(served)
        return served

    yield start
    for served in started:
        served.stop()


def tessera(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TESSERA), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def add_client(cwd: Path, client_id: str, *extra: str, env, remember) -> str:
    done = tessera(cwd, "clients", "add", client_id, "--audience", API, "--json", *extra, env=env)
    assert done.returncode == 0, done.stderr
    secret = json.loads(done.stdout)["client_secret"]
    assert secret.startswith("tss_")
    return remember(secret)


def get_token(base: str, client_id: str, secret: str, remember) -> str:
    response = httpx.post(
        f"{base}/t/default/token",
        data={"grant_type": "client_credentials", "scope": "data:read"},
        auth=(client_id, secret),
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    return remember(response.json()["access_token"])


def introspect(base: str, caller: tuple[str, str], token: str) -> dict:
    response = httpx.post(f"{base}/t/default/introspect", data={"token": token}, auth=caller)
    assert response.status_code == 200, response.text
    return response.json()


def verifier_for(base: str, issuer: str) -> Verifier:
    jwks = httpx.get(f"{base}/t/default/jwks.json")
    assert jwks.status_code == 200
    return Verifier(issuer=issuer, audience=API, algorithms=["ES256"], keys=jwks.json())


# ----------------------------------------------------------------- embedded default


def test_embedded_default_end_to_end(serve, tmp_path, secret_registry):
    cwd = tmp_path / "run"
    env = clean_env()
    server = serve(cwd, env=env)
    server.wait_ready()

    issuer = f"http://127.0.0.1:{server.port}/t/default"
    assert f"issuer: {issuer}" in server.out.read_text()
    home = cwd / ".tessera"
    assert stat.S_IMODE(home.stat().st_mode) & 0o077 == 0
    for name in ("kek", "pepper"):
        assert stat.S_IMODE((home / name).stat().st_mode) == 0o600, name
    assert (home / "tessera.db").exists()

    metadata = httpx.get(f"{issuer}/.well-known/openid-configuration").json()
    assert metadata["issuer"] == issuer
    assert metadata["jwks_uri"] == f"{issuer}/jwks.json"

    svc = add_client(cwd, "svc", "--scope", "data:read", env=env, remember=secret_registry)
    api = add_client(cwd, "data-api", "--introspect-for", API, env=env, remember=secret_registry)
    token = get_token(server.base, "svc", svc, secret_registry)

    claims = verifier_for(server.base, issuer).verify(token)
    assert claims.issuer == issuer
    assert claims.client_id == "svc"
    assert claims.scope == {"data:read"}

    active = introspect(server.base, ("data-api", api), token)
    assert active["active"] is True
    assert active["jti"] == claims.jwt_id

    revoked = httpx.post(
        f"{server.base}/t/default/revoke", data={"token": token}, auth=("svc", svc)
    )
    assert revoked.status_code == 200
    assert introspect(server.base, ("data-api", api), token) == {"active": False}

    # Nothing secret reached the server's output (its logs).
    output = server.output()
    for value in (token, svc, api):
        assert value not in output
    assert server.process.poll() is None


def test_second_start_reuses_keys_and_database(serve, tmp_path):
    cwd = tmp_path / "run"
    env = clean_env()
    first = serve(cwd, env=env)
    first.wait_ready()
    kids = {k["kid"] for k in httpx.get(f"{first.base}/t/default/jwks.json").json()["keys"]}
    kek = (cwd / ".tessera" / "kek").read_bytes()
    first.stop()
    assert first.process.returncode is not None

    second = serve(cwd, env=env)
    second.wait_ready()
    again = {k["kid"] for k in httpx.get(f"{second.base}/t/default/jwks.json").json()["keys"]}
    assert again == kids
    assert (cwd / ".tessera" / "kek").read_bytes() == kek


def test_refuses_a_group_readable_kek(serve, tmp_path):
    cwd = tmp_path / "run"
    home = cwd / ".tessera"
    home.mkdir(parents=True)
    kek = home / "kek"
    kek.write_text(b64url_encode(os.urandom(32)) + "\n")
    kek.chmod(0o644)
    server = serve(cwd, env=clean_env())
    assert server.wait_exit() != 0
    assert "chmod 600" in " ".join(server.output().split())
    assert "Traceback" not in server.output()


# ------------------------------------------------------------------- outdated schema


def _empty_file(db: Path) -> None:
    db.write_bytes(b"")


def _never_migrated(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE unrelated (x INTEGER)")


@pytest.mark.parametrize("make_db", [_empty_file, _never_migrated])
def test_refuses_to_start_on_an_outdated_schema(serve, tmp_path, make_db):
    cwd = tmp_path / "run"
    (cwd / ".tessera").mkdir(parents=True)
    make_db(cwd / ".tessera" / "tessera.db")
    server = serve(cwd, env=clean_env())
    assert server.wait_exit() != 0
    output = " ".join(server.output().split())
    assert "tessera db upgrade" in output
    assert "Traceback" not in output

    # The fix it names works.
    done = tessera(cwd, "db", "upgrade", env=clean_env())
    assert done.returncode == 0, done.stderr
    fixed = serve(cwd, env=clean_env())
    fixed.wait_ready()


def test_refuses_to_start_on_an_unknown_revision(serve, tmp_path):
    cwd = tmp_path / "run"
    (cwd / ".tessera").mkdir(parents=True)
    with sqlite3.connect(cwd / ".tessera" / "tessera.db") as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        conn.execute("INSERT INTO alembic_version VALUES ('0000deadbeef')")
    server = serve(cwd, env=clean_env())
    assert server.wait_exit() != 0
    output = " ".join(server.output().split())
    assert "0000deadbeef" in output
    assert "Traceback" not in output


# ----------------------------------------------------------- two instances, one DB


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_two_instances_share_one_postgresql(database_url, serve, tmp_path, secret_registry):
    shared = {
        "TESSERA_DATABASE_URL": database_url,
        "TESSERA_KEK": b64url_encode(os.urandom(32)),
        "TESSERA_PEPPER": b64url_encode(os.urandom(32)),
        # Both behind one public name, as behind a load balancer.
        "TESSERA_PUBLIC_URL": "http://localhost:8800",
    }
    env = clean_env(**shared)
    admin = tmp_path / "admin"
    admin.mkdir()
    done = tessera(admin, "db", "upgrade", env=env)
    assert done.returncode == 0, done.stderr

    # Both start at once: bootstrap races for the first key.
    a = serve(tmp_path / "a", env=env)
    b = serve(tmp_path / "b", env=env)
    a.wait_ready()
    b.wait_ready()
    jwks_a = httpx.get(f"{a.base}/t/default/jwks.json").json()
    jwks_b = httpx.get(f"{b.base}/t/default/jwks.json").json()
    assert jwks_a == jwks_b
    assert len(jwks_a["keys"]) == 1

    svc = add_client(admin, "svc", "--scope", "data:read", env=env, remember=secret_registry)
    api = add_client(admin, "data-api", "--introspect-for", API, env=env, remember=secret_registry)
    issuer = "http://localhost:8800/t/default"
    token = get_token(a.base, "svc", svc, secret_registry)
    claims = verifier_for(b.base, issuer).verify(token)
    assert claims.client_id == "svc"
    assert introspect(b.base, ("data-api", api), token)["active"] is True

    revoked = httpx.post(f"{a.base}/t/default/revoke", data={"token": token}, auth=("svc", svc))
    assert revoked.status_code == 200
    assert introspect(b.base, ("data-api", api), token) == {"active": False}
    assert introspect(a.base, ("data-api", api), token) == {"active": False}

    # And the other way round.
    token_b = get_token(b.base, "svc", svc, secret_registry)
    verifier_for(a.base, issuer).verify(token_b)
    assert introspect(a.base, ("data-api", api), token_b)["active"] is True


# -------------------------------------------------------------------------------- TLS


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def test_tls(serve, tmp_path):
    cert, key = self_signed(tmp_path)
    env = clean_env(TESSERA_PUBLIC_URL="https://127.0.0.1:{port}")
    server = serve(
        tmp_path / "run", "--tls-cert", str(cert), "--tls-key", str(key), env=env, scheme="https"
    )
    trust = ssl.create_default_context(cafile=str(cert))
    server.wait_ready(verify=trust)

    issuer = f"https://127.0.0.1:{server.port}/t/default"
    assert f"issuer: {issuer}" in server.out.read_text()
    with httpx.Client(verify=trust) as http:
        metadata = http.get(f"{issuer}/.well-known/openid-configuration")
        assert metadata.status_code == 200
        body = metadata.json()
        assert body["issuer"] == issuer
        assert body["token_endpoint"].startswith("https://")
        assert http.get(body["jwks_uri"]).status_code == 200
    # Not served in clear.
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=2.0)


# ---------------------------------------------------------------- refused settings


@pytest.mark.parametrize(
    ("args", "env"),
    [
        ((), {"TESSERA_PUBLIC_URL": "http://auth.example.com"}),
        (("--public-url", "http://example.com:8800"), {}),
        (("--public-url", "http://10.1.2.3:8800"), {}),
    ],
)
def test_non_https_public_url_refused(serve, tmp_path, args, env):
    server = serve(tmp_path / "run", *args, env=clean_env(**env))
    assert server.wait_exit() == 1
    err = " ".join(server.err.read_text().split())
    assert "public_url" in err
    assert "https" in err
    assert "Traceback" not in server.output()
    assert not (tmp_path / "run" / ".tessera").exists()


def test_out_of_range_setting_refused(serve, tmp_path):
    server = serve(tmp_path / "run", env=clean_env(TESSERA_ACCESS_TOKEN_TTL_M2M="3600"))
    assert server.wait_exit() == 1
    assert "access_token_ttl_m2m" in server.err.read_text()
    assert "Traceback" not in server.output()
