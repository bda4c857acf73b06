"""Refresh-token rotation under load and a crash: real ``tessera serve`` processes on SQLite and
PostgreSQL, SIGKILLed mid-load, restarted on the same database, and the database read back.

What must hold (server/grants/refresh.py, storage/sql_refresh.py): rotation is ONE
transaction, so a crash leaves every family a single chain — no fork, no successor pointing
nowhere, no token marked rotated without its successor — and after the restart each client
can go on from the last token it saw (or is told ``invalid_grant``; never a 500). And: N
concurrent uses of ONE token give one successor, never two.

Every process is started by this module and SIGKILLed or terminated by it, by its pid.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from _flow import REDIRECT, hidden, pkce_pair

from served import TESSERA, free_port, wait_healthy
from tessera.server.issuance import opaque_hash
from tessera.storage.sql import open_store
from tessera.storage.tables import family_tokens, refresh_families, refresh_tokens

pytestmark = pytest.mark.timeout(120)

API = "https://api.example.test"
EMAIL = "ada@example.test"
PASSWORD = "correct horse battery staple"
SCOPE = "openid profile email data:read"
CHAINS = 20
CONCURRENT_USES = 50


# ------------------------------------------------------------------------- processes


@dataclass
class Server:
    """One ``tessera serve`` on a free loopback port; its output goes to files."""

    process: subprocess.Popen[bytes]
    base: str
    log: Path

    @property
    def issuer(self) -> str:
        return f"{self.base}/t/default"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Deployment:
    """One home and one database; servers come and go on it."""

    env: dict[str, str]
    logs: Path
    started: list[Server] = field(default_factory=list)

    def cli(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [str(TESSERA), *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start(self) -> Server:
        port = free_port()
        log = self.logs / f"serve{len(self.started)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(TESSERA), "serve", "--port", str(port)],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        server = Server(process, f"http://127.0.0.1:{port}", log)
        self.started.append(server)
        wait_healthy(f"{server.base}/healthz", process)
        return server

    def stop_all(self) -> None:
        for server in self.started:
            if server.process.poll() is None:
                server.process.terminate()
                try:
                    server.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    server.process.kill()
                    server.process.wait(timeout=10)


@pytest.fixture
def deployment(database_url, tmp_path) -> Iterator[Deployment]:
    """A migrated database (``tessera db upgrade``) and a home for kek and pepper, on each
    backend; every server started on it is stopped after."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env |= {
        "TESSERA_HOME": str(tmp_path / "home"),
        "TESSERA_DATABASE_URL": database_url,
        # Cheap argon2id: the logins here seed chains, they are not what is measured.
        "TESSERA_PASSWORD_TIME_COST": "1",
        "TESSERA_PASSWORD_MEMORY_KIB": "8192",
        "TESSERA_PASSWORD_PARALLELISM": "1",
    }
    deployed = Deployment(env, tmp_path)
    deployed.cli("db", "upgrade")
    try:
        yield deployed
    finally:
        deployed.stop_all()


def _register(deployment: Deployment, remember) -> str:
    """Client ``web`` and one user; the server must have created the tenant already."""
    added = deployment.cli(
        *("clients", "add", "web", "--json", "--first-party"),
        *("--grant", "authorization_code", "--grant", "refresh_token"),
        *("--redirect-uri", REDIRECT, "--scope", SCOPE, "--audience", API),
    )
    deployment.cli("users", "add", EMAIL, "--tenant", "default", stdin=PASSWORD + "\n")
    secret: str = json.loads(added)["client_secret"]
    return str(remember(secret))


# ------------------------------------------------------------------------- the flows


async def _first_refresh_token(server: Server, secret: str, remember) -> str:
    """A real login through a fresh cookie jar, then the code exchanged: a family's root."""
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": "web",
        "redirect_uri": REDIRECT,
        "scope": SCOPE,
        "state": "s",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    async with httpx.AsyncClient(timeout=10) as browser:
        start = await browser.get(f"{server.issuer}/authorize", params=params)
        assert start.status_code == 303, start.text[:300]
        page = await browser.get(start.headers["location"])
        assert page.status_code == 200, page.text[:300]
        done = await browser.post(
            f"{server.issuer}/login",
            data={
                "interaction": hidden(page.text, "interaction"),
                "csrf": hidden(page.text, "csrf"),
                "email": EMAIL,
                "password": PASSWORD,
            },
        )
        assert done.status_code == 303, done.text[:300]
        code = parse_qs(urlsplit(done.headers["location"]).query)["code"][0]
        remember(code)
        exchanged = await browser.post(
            f"{server.issuer}/token",
            auth=("web", secret),
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT,
                "code_verifier": verifier,
            },
        )
    assert exchanged.status_code == 200, exchanged.text
    body = exchanged.json()
    for name in ("access_token", "refresh_token", "id_token"):
        remember(body[name])
    return str(body["refresh_token"])


async def _refresh(
    http: httpx.AsyncClient, server: Server, secret: str, token: str
) -> httpx.Response:
    return await http.post(
        f"{server.issuer}/token",
        auth=("web", secret),
        data={"grant_type": "refresh_token", "refresh_token": token},
    )


@dataclass
class Chain:
    """What one client knows: the last refresh token it received."""

    seen: str
    rotations: int = 0
    cut: bool = False  # its request in flight died with the server
    unexpected: list[tuple[int, str]] = field(default_factory=list)


async def _run_chain(
    http: httpx.AsyncClient, server: Server, secret: str, chain: Chain, remember
) -> None:
    while True:
        try:
            answer = await _refresh(http, server, secret, chain.seen)
        except httpx.TransportError:
            chain.cut = True
            return
        if answer.status_code != 200:
            chain.unexpected.append((answer.status_code, answer.text[:200]))
            return
        body = answer.json()
        for name in ("access_token", "refresh_token", "id_token"):
            remember(body[name])
        chain.seen = body["refresh_token"]
        chain.rotations += 1


# ----------------------------------------------------------------- reading the database


@dataclass(frozen=True)
class Row:
    token_hash: bytes
    family_id: str
    generation: int
    rotated_at: float | None
    successor_hash: bytes | None


@dataclass(frozen=True)
class Family:
    family_id: str
    revoked_reason: str | None
    tokens: tuple[Row, ...]
    access_records: int

    @property
    def leaf(self) -> Row:
        return max(self.tokens, key=lambda r: r.generation)

    def row(self, value: str) -> Row | None:
        digest = opaque_hash(value)
        return next((r for r in self.tokens if r.token_hash == digest), None)


async def _families(database_url: str) -> dict[str, Family]:
    store = await open_store(database_url)
    try:
        async with store.engine.connect() as conn:
            families = (await conn.execute(sa.select(refresh_families))).mappings().all()
            tokens = (await conn.execute(sa.select(refresh_tokens))).mappings().all()
            counts = dict(
                (
                    await conn.execute(
                        sa.select(family_tokens.c.family_id, sa.func.count()).group_by(
                            family_tokens.c.family_id
                        )
                    )
                ).all()
            )
    finally:
        await store.close()
    rows = [
        Row(
            bytes(t["token_hash"]),
            t["family_id"],
            t["generation"],
            t["rotated_at"],
            None if t["successor_hash"] is None else bytes(t["successor_hash"]),
        )
        for t in tokens
    ]
    return {
        f["family_id"]: Family(
            f["family_id"],
            f["revoked_reason"],
            tuple(r for r in rows if r.family_id == f["family_id"]),
            counts.get(f["family_id"], 0),
        )
        for f in families
    }


def _assert_single_chain(family: Family) -> None:
    """One chain: generations 0..n, each rotated row names the next, one unrotated leaf."""
    rows = sorted(family.tokens, key=lambda r: r.generation)
    fid = family.family_id[:8]
    assert [r.generation for r in rows] == list(range(len(rows))), f"{fid}: a fork or a gap"
    by_hash = {r.token_hash: r for r in rows}
    assert len(by_hash) == len(rows)
    for parent, child in itertools.pairwise(rows):
        # Half-written rotation: rotated without a successor, or a successor that is missing.
        assert parent.rotated_at is not None, f"{fid}: gen {parent.generation} not rotated"
        assert parent.successor_hash == child.token_hash, f"{fid}: broken link"
    leaf = rows[-1]
    assert leaf.rotated_at is None, f"{fid}: leaf rotated"
    assert leaf.successor_hash is None, f"{fid}: leaf has a successor"
    successors = [r.successor_hash for r in rows if r.successor_hash is not None]
    assert len(successors) == len(set(successors)) == len(rows) - 1
    assert all(s in by_hash for s in successors)
    # Every issuance recorded its access token (redemption + each rotation, + grace retries).
    assert family.access_records >= len(rows), f"{fid}: {family.access_records} access rows"


# ------------------------------------------------------------------------- the tests


async def test_sigkill_mid_rotation_leaves_single_chains(deployment, database_url, secret_registry):
    first = deployment.start()
    secret = _register(deployment, secret_registry)
    roots = [await _first_refresh_token(first, secret, secret_registry) for _ in range(CHAINS)]
    chains = [Chain(seen) for seen in roots]

    chooser = random.Random()  # noqa: S311 - the moment of the crash, not a secret
    kill_after = chooser.randint(CHAINS * 2, CHAINS * 8)  # rotations before the kill
    limits = httpx.Limits(max_connections=CHAINS * 2)
    async with httpx.AsyncClient(timeout=20, limits=limits) as http:
        load = [
            asyncio.create_task(_run_chain(http, first, secret, chain, secret_registry))
            for chain in chains
        ]
        deadline = time.monotonic() + 30
        while sum(c.rotations for c in chains) < kill_after:
            assert time.monotonic() < deadline, "the load made no progress"
            assert not any(t.done() for t in load), [c.unexpected for c in chains]
            await asyncio.sleep(0.001)
        await asyncio.sleep(chooser.uniform(0, 0.02))
        first.process.send_signal(signal.SIGKILL)
        await asyncio.gather(*load)
    assert first.process.wait(timeout=10) == -signal.SIGKILL
    assert all(not c.unexpected for c in chains), [c.unexpected for c in chains]
    assert all(c.cut for c in chains)
    rotated = sum(c.rotations for c in chains)
    assert rotated >= kill_after

    # The database as the crash left it: single chains, nothing half-written, none revoked.
    crashed = await _families(database_url)
    assert len(crashed) == CHAINS
    for family in crashed.values():
        _assert_single_chain(family)
        assert family.revoked_reason is None
    committed = sum(len(f.tokens) - 1 for f in crashed.values())
    assert rotated <= committed <= rotated + CHAINS  # at most one lost answer per chain

    # Restart on the same database; each client goes on from the last token it saw.
    second = deployment.start()
    by_seen = {}
    for chain in chains:
        owner = [f for f in crashed.values() if f.row(chain.seen) is not None]
        assert len(owner) == 1
        by_seen[chain.seen] = owner[0]
    async with httpx.AsyncClient(timeout=20) as http:
        answers = await asyncio.gather(*(_refresh(http, second, secret, c.seen) for c in chains))
    outcomes = {"rotated": 0, "retry_answered": 0, "refused": 0}
    grown: dict[str, int] = {}
    for chain, answer in zip(chains, answers, strict=True):
        family = by_seen[chain.seen]
        seen = family.row(chain.seen)
        assert seen is not None
        assert answer.status_code in (200, 400), (answer.status_code, answer.text[:200])
        if seen == family.leaf:
            # The crash lost nothing this client knew about: it simply goes on.
            assert answer.status_code == 200, answer.text
            assert opaque_hash(answer.json()["refresh_token"]) not in {
                r.token_hash for r in family.tokens
            }
            outcomes["rotated"] += 1
            grown[family.family_id] = 1
        else:
            # Its last refresh was committed but the answer died with the server: the leaf
            # is that token's successor, and a retry gets exactly it (within the grace
            # window) or invalid_grant — never a second successor.
            assert seen.successor_hash == family.leaf.token_hash
            assert seen.generation == family.leaf.generation - 1
            if answer.status_code == 200:
                assert opaque_hash(answer.json()["refresh_token"]) == family.leaf.token_hash
                outcomes["retry_answered"] += 1
            else:
                assert answer.json()["error"] == "invalid_grant", answer.text
                outcomes["refused"] += 1
        if answer.status_code == 200:
            for name in ("access_token", "refresh_token", "id_token"):
                secret_registry(answer.json()[name])

    after = await _families(database_url)
    assert after.keys() == crashed.keys()
    for family in after.values():
        _assert_single_chain(family)
        # One new generation where the leaf was used; a retry answered the existing leaf.
        before = len(crashed[family.family_id].tokens)
        assert len(family.tokens) == before + grown.get(family.family_id, 0)
    output = first.output() + second.output()
    assert "Traceback" not in output
    for chain in chains:
        assert chain.seen not in output
    print(
        f"{database_url.split(':')[0]}: killed after {rotated} answered rotations "
        f"(target {kill_after}); {committed} committed; after restart {outcomes}"
    )


@pytest.mark.parametrize("grace", ["5", "0"])
async def test_one_token_used_fifty_times_at_once(deployment, database_url, secret_registry, grace):
    server = deployment.start()
    secret = _register(deployment, secret_registry)
    root = await _first_refresh_token(server, secret, secret_registry)
    server.process.terminate()  # the grace setting is read at start
    server.process.wait(timeout=10)
    deployment.env["TESSERA_REFRESH_GRACE_PERIOD"] = grace
    server = deployment.start()

    limits = httpx.Limits(max_connections=CONCURRENT_USES)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        answers = await asyncio.gather(
            *(_refresh(http, server, secret, root) for _ in range(CONCURRENT_USES))
        )
    statuses = [a.status_code for a in answers]
    assert set(statuses) <= {200, 400}, [(a.status_code, a.text[:200]) for a in answers]
    issued = {a.json()["refresh_token"] for a in answers if a.status_code == 200}
    for value in issued:
        secret_registry(value)
    for answer in answers:
        if answer.status_code == 200:
            secret_registry(answer.json()["access_token"])
            secret_registry(answer.json()["id_token"])
        else:
            assert answer.json()["error"] == "invalid_grant", answer.text
    assert len(issued) == 1, f"{len(issued)} different successors"

    families = await _families(database_url)
    assert len(families) == 1
    (family,) = families.values()
    _assert_single_chain(family)
    assert len(family.tokens) == 2  # the root and exactly one successor
    assert family.leaf.token_hash == opaque_hash(issued.pop())
    if grace == "0":
        # No retry window: one winner; every other use is reuse and revokes the family.
        assert statuses.count(200) == 1, statuses
        assert family.revoked_reason == "refresh_reuse"
    else:
        # All 50 arrive within the window from the same client: all get the same successor.
        assert statuses.count(200) == CONCURRENT_USES, statuses
        assert family.revoked_reason is None
    assert "Traceback" not in server.output()
