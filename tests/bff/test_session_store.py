"""The BFF session stores: one contract suite on SQLite and on a real Redis.

Redis comes from ``TESSERA_TEST_REDIS_URL`` (default the local 127.0.0.1:6379); each test
uses its own key prefix and deletes only its keys. Unreachable Redis skips, except where CI
is set: there it fails. Time is a fake ``now`` a day ahead of the wall clock (Redis's own
``EXPIREAT`` runs on the real clock and must not drop records first); nothing sleeps.
"""

from __future__ import annotations

import asyncio
import math
import os
import secrets
import sqlite3
import stat
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from required import REDIS_URL, redis_client
from tessera.bff import session_redis, session_sqlite
from tessera.bff.session_store import (
    RedisSessionStore,
    SealedDataInvalid,
    SqliteSessionStore,
    TokenSealer,
    open_session_store,
)
from tessera.bff.sessions import BffSession, PendingLogin, SessionStore, SessionTokens
from tessera.errors import ConfigurationError, StorageError

# Not round: the fractions check that times survive storage bit for bit.
T0 = float(int(time.time()) + 86_400) + 0.123456789
HOUR = 3600.0


def _hash() -> bytes:
    return secrets.token_bytes(32)


@pytest.fixture
def make_session(secret_registry) -> Callable[..., BffSession]:
    def make(session_hash: bytes | None = None, **changes: object) -> BffSession:
        tokens = SessionTokens(
            access_token=secret_registry("at-" + secrets.token_urlsafe(32)),
            refresh_token=secret_registry("rt-" + secrets.token_urlsafe(32)),
            id_token=secret_registry("idt-" + secrets.token_urlsafe(48)),
            access_expires_at=T0 + 300.000001,
        )
        session = BffSession(
            session_hash=session_hash or _hash(),
            subject="user-" + secrets.token_hex(4),
            tokens=tokens,
            created_at=T0 + 0.1,
            last_seen=T0 + 0.2 + 1e-7,
            expires_at=T0 + 8 * HOUR + 1e-6,
        )
        return replace(session, **changes)  # type: ignore[arg-type]

    return make


@pytest.fixture
def make_pending(secret_registry) -> Callable[..., PendingLogin]:
    def make(login_hash: bytes | None = None, **changes: object) -> PendingLogin:
        pending = PendingLogin(
            login_hash=login_hash or _hash(),
            state=secrets.token_urlsafe(24),
            nonce=secret_registry("nonce-" + secrets.token_urlsafe(24)),
            code_verifier=secret_registry("pkce-" + secrets.token_urlsafe(48)),
            return_to="/app/inbox?x=1",
            expires_at=T0 + 600.000001,
        )
        return replace(pending, **changes)  # type: ignore[arg-type]

    return make


# ------------------------------------------------------------------ backends under test


@dataclass
class Backend:
    name: str
    store: SessionStore
    reopen: Callable[[TokenSealer], SessionStore]
    """The same stored data seen through another sealer (another key)."""
    raw_bytes: Callable[[], Awaitable[bytes]]
    """Everything the backend holds, as it sits on disk / in Redis."""
    read_sealed: Callable[[str, bytes], Awaitable[bytes]]
    write_sealed: Callable[[str, bytes, bytes], Awaitable[None]]
    """(``"session"`` or ``"pending"``, record hash[, blob]): the sealed column/field."""


_TABLES = {"session": ("bff_sessions", "session_hash"), "pending": ("bff_pending", "login_hash")}


async def _redis_client() -> aioredis.Redis:
    return await redis_client(decode_responses=False)


async def _delete_keys(client: aioredis.Redis, prefix: str) -> None:
    keys = [k async for k in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.delete(*keys)


def _sqlite_backend(path: Path, sealer: TokenSealer) -> Backend:
    async def raw_bytes() -> bytes:
        # The database and its WAL: committed rows may still sit only in the WAL.
        return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))

    def _conn() -> sqlite3.Connection:
        return sqlite3.connect(path, isolation_level=None)

    async def read_sealed(kind: str, record: bytes) -> bytes:
        table, column = _TABLES[kind]
        with _conn() as conn:
            (blob,) = conn.execute(
                f"SELECT sealed FROM {table} WHERE {column} = ?",  # noqa: S608 - fixed names
                (record,),
            ).fetchone()
        return bytes(blob)

    async def write_sealed(kind: str, record: bytes, blob: bytes) -> None:
        table, column = _TABLES[kind]
        conn = _conn()
        try:
            conn.execute(
                f"UPDATE {table} SET sealed = ? WHERE {column} = ?",  # noqa: S608 - fixed names
                (blob, record),
            )
        finally:
            conn.close()

    return Backend(
        "sqlite",
        SqliteSessionStore(path, sealer),
        lambda other: SqliteSessionStore(path, other),
        raw_bytes,
        read_sealed,
        write_sealed,
    )


def _redis_backend(client: aioredis.Redis, prefix: str, sealer: TokenSealer) -> Backend:
    async def raw_bytes() -> bytes:
        parts: list[bytes] = []
        async for key in client.scan_iter(match=f"{prefix}:*"):
            kind = await client.type(key)
            if kind == b"hash":
                for field, value in (await client.hgetall(key)).items():
                    parts += [field, value]
            else:
                parts.append(await client.get(key))
        return b"\n".join(parts)

    def _key(kind: str, record: bytes) -> str:
        return f"{prefix}:{kind[0]}:{record.hex()}"

    async def read_sealed(kind: str, record: bytes) -> bytes:
        if kind == "session":
            return await client.hget(_key(kind, record), "sealed")
        value = session_redis._pending_record(await client.get(_key(kind, record)))
        assert value is not None
        return value[1]

    async def write_sealed(kind: str, record: bytes, blob: bytes) -> None:
        if kind == "session":
            await client.hset(_key(kind, record), "sealed", blob)
            return
        import orjson  # noqa: PLC0415 - only this helper speaks the pending format

        key = _key(kind, record)
        value = orjson.loads(await client.get(key))
        value["sealed"] = blob.hex()
        await client.set(key, orjson.dumps(value), keepttl=True)

    return Backend(
        "redis",
        RedisSessionStore(REDIS_URL, sealer, prefix=prefix),
        lambda other: RedisSessionStore(REDIS_URL, other, prefix=prefix),
        raw_bytes,
        read_sealed,
        write_sealed,
    )


@pytest.fixture
def sealer() -> TokenSealer:
    return TokenSealer(os.urandom(32))


@pytest.fixture(params=["sqlite", "redis"])
async def backend(request, tmp_path, sealer) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        made = _sqlite_backend(tmp_path / "bff" / "sessions.db", sealer)
        try:
            yield made
        finally:
            await made.store.close()
        return
    client = await _redis_client()
    prefix = f"test:bff:{secrets.token_hex(6)}"
    made = _redis_backend(client, prefix, sealer)
    try:
        yield made
    finally:
        await made.store.close()
        await _delete_keys(client, prefix)
        await client.aclose()


@pytest.fixture
def store(backend) -> SessionStore:
    return backend.store


# ------------------------------------------------------------------ contract: sessions


async def test_session_round_trip_is_exact(store, make_session):
    session = make_session()
    await store.put_session(session)
    assert await store.get_session(session.session_hash, now=T0) == session


async def test_session_without_optional_tokens(store, make_session):
    session = make_session()
    session = replace(session, tokens=replace(session.tokens, refresh_token=None, id_token=None))
    await store.put_session(session)
    assert await store.get_session(session.session_hash, now=T0) == session


async def test_unknown_session_is_none(store):
    assert await store.get_session(_hash(), now=T0) is None


async def test_put_overwrites(store, make_session):
    first = make_session()
    second = make_session(first.session_hash, last_seen=T0 + 60.5, subject=first.subject)
    await store.put_session(first)
    await store.put_session(second)
    got = await store.get_session(first.session_hash, now=T0 + 61)
    assert got == second
    assert got.tokens.access_token != first.tokens.access_token


async def test_touch_updates_last_seen_only_and_never_revives(store, make_session):
    first = make_session()
    await store.put_session(first)
    refreshed = make_session(first.session_hash, subject=first.subject)
    await store.put_session(refreshed)  # a refresh stored new tokens meanwhile
    await store.touch_session(first.session_hash, T0 + 90.25)
    got = await store.get_session(first.session_hash, now=T0 + 91)
    assert got == replace(refreshed, last_seen=T0 + 90.25)
    await store.delete_session(first.session_hash)
    await store.touch_session(first.session_hash, T0 + 100)
    assert await store.get_session(first.session_hash, now=T0 + 101) is None


async def test_session_expires_by_now(store, make_session):
    session = make_session()
    await store.put_session(session)
    assert await store.get_session(session.session_hash, now=session.expires_at - 1e-6)
    assert await store.get_session(session.session_hash, now=session.expires_at) is None
    assert await store.get_session(session.session_hash, now=session.expires_at + 1) is None


async def test_delete_session(store, make_session):
    session, other = make_session(), make_session()
    await store.put_session(session)
    await store.put_session(other)
    assert await store.delete_session(session.session_hash) is True
    assert await store.get_session(session.session_hash, now=T0) is None
    assert await store.delete_session(session.session_hash) is False
    assert await store.get_session(other.session_hash, now=T0) == other


# ------------------------------------------------------------ contract: pending logins


async def test_pending_round_trip_and_single_use(store, make_pending):
    pending = make_pending()
    await store.put_pending(pending)
    assert await store.take_pending(pending.login_hash, now=T0) == pending
    assert await store.take_pending(pending.login_hash, now=T0) is None


async def test_pending_taken_once_under_concurrency(store, make_pending):
    pending = make_pending()
    await store.put_pending(pending)
    results = await asyncio.gather(
        *(store.take_pending(pending.login_hash, now=T0) for _ in range(50))
    )
    assert [r for r in results if r is not None] == [pending]


async def test_expired_pending_is_none_and_gone(store, make_pending):
    pending = make_pending()
    await store.put_pending(pending)
    assert await store.take_pending(pending.login_hash, now=pending.expires_at) is None
    assert await store.take_pending(pending.login_hash, now=T0) is None


async def test_unknown_pending_is_none(store):
    assert await store.take_pending(_hash(), now=T0) is None


async def test_purge_removes_only_expired(store, make_session, make_pending):
    old = make_session(expires_at=T0 + 10)
    live = make_session(expires_at=T0 + HOUR)
    old_pending = make_pending(expires_at=T0 + 5)
    live_pending = make_pending(expires_at=T0 + HOUR)
    for s in (old, live):
        await store.put_session(s)
    for p in (old_pending, live_pending):
        await store.put_pending(p)

    assert await store.purge(T0 + 20) == 2
    assert await store.purge(T0 + 20) == 0
    assert await store.get_session(old.session_hash, now=T0) is None
    assert await store.take_pending(old_pending.login_hash, now=T0) is None
    assert await store.get_session(live.session_hash, now=T0 + 20) == live
    assert await store.take_pending(live_pending.login_hash, now=T0 + 20) == live_pending


# -------------------------------------------------------------- contract: sealing at rest


async def test_stored_bytes_hold_no_secret(backend, make_session, make_pending):
    session, pending = make_session(), make_pending()
    await backend.store.put_session(session)
    await backend.store.put_pending(pending)
    raw = await backend.raw_bytes()
    assert session.subject.encode() in raw  # the dump really holds the records
    tokens = session.tokens
    for value in (
        tokens.access_token,
        tokens.refresh_token,
        tokens.id_token,
        pending.nonce,
        pending.code_verifier,
    ):
        assert value is not None
        assert value.encode() not in raw


async def test_sealed_tokens_moved_to_another_session_open_to_nothing(backend, make_session):
    victim, attacker = make_session(), make_session()
    await backend.store.put_session(victim)
    await backend.store.put_session(attacker)
    stolen = await backend.read_sealed("session", victim.session_hash)
    await backend.write_sealed("session", attacker.session_hash, stolen)
    assert await backend.store.get_session(attacker.session_hash, now=T0) is None
    assert await backend.store.get_session(victim.session_hash, now=T0) == victim


async def test_sealed_pending_moved_to_another_login_opens_to_nothing(backend, make_pending):
    victim, attacker = make_pending(), make_pending()
    await backend.store.put_pending(victim)
    await backend.store.put_pending(attacker)
    stolen = await backend.read_sealed("pending", victim.login_hash)
    await backend.write_sealed("pending", attacker.login_hash, stolen)
    assert await backend.store.take_pending(attacker.login_hash, now=T0) is None
    assert await backend.store.take_pending(victim.login_hash, now=T0) == victim


@pytest.mark.parametrize("where", ["nonce", "ciphertext", "tag"])
async def test_flipped_byte_yields_no_session(backend, make_session, where):
    session = make_session()
    await backend.store.put_session(session)
    blob = bytearray(await backend.read_sealed("session", session.session_hash))
    index = {"nonce": 3, "ciphertext": 12 + 5, "tag": len(blob) - 2}[where]
    blob[index] ^= 0x01
    await backend.write_sealed("session", session.session_hash, bytes(blob))
    assert await backend.store.get_session(session.session_hash, now=T0) is None


async def test_flipped_byte_yields_no_pending(backend, make_pending):
    pending = make_pending()
    await backend.store.put_pending(pending)
    blob = bytearray(await backend.read_sealed("pending", pending.login_hash))
    blob[20] ^= 0x80
    await backend.write_sealed("pending", pending.login_hash, bytes(blob))
    assert await backend.store.take_pending(pending.login_hash, now=T0) is None


async def test_wrong_key_yields_nothing(backend, make_session, make_pending):
    session, pending = make_session(), make_pending()
    await backend.store.put_session(session)
    await backend.store.put_pending(pending)
    other = backend.reopen(TokenSealer(os.urandom(32)))
    try:
        assert await other.get_session(session.session_hash, now=T0) is None
        assert await other.take_pending(pending.login_hash, now=T0) is None
    finally:
        await other.close()
    # The unreadable session was not deleted: the right key still opens it.
    assert await backend.store.get_session(session.session_hash, now=T0) == session


# ------------------------------------------------------------------- TokenSealer: unit


@pytest.mark.parametrize("key", [b"", b"k" * 16, b"k" * 31, b"k" * 33, "k" * 32, bytearray(32)])
def test_sealer_key_must_be_32_bytes(key):
    with pytest.raises(ConfigurationError):
        TokenSealer(key)


def test_sealer_repr_is_redacted():
    key = os.urandom(32)
    text = repr(TokenSealer(key))
    assert "redacted" in text
    assert key.hex() not in text
    assert repr(key) not in text


def test_seal_layout_and_fresh_nonce(sealer, make_session):
    tokens, record = make_session().tokens, _hash()
    one, two = sealer.seal(tokens, record), sealer.seal(tokens, record)
    assert one[:12] != two[:12]
    assert one != two
    assert sealer.open(one, record) == sealer.open(two, record) == tokens


def test_open_raises_storage_error_on_misuse(sealer, make_session, make_pending):
    tokens, record = make_session().tokens, _hash()
    blob = sealer.seal(tokens, record)
    for bad_blob, bad_record in [
        (blob, _hash()),
        (blob[:-1], record),
        (blob[:27], record),
        (b"", record),
        (blob + b"\x00", record),
    ]:
        with pytest.raises(SealedDataInvalid) as caught:
            sealer.open(bad_blob, bad_record)
        assert isinstance(caught.value, StorageError)
        assert caught.value.code == "sealed_data_invalid"
    # Purpose separation: a session blob is not a pending login's secrets, nor the reverse.
    with pytest.raises(SealedDataInvalid):
        sealer.open_login_secrets(blob, record)
    pending = make_pending()
    login_blob = sealer.seal_login_secrets(pending.nonce, pending.code_verifier, record)
    with pytest.raises(SealedDataInvalid):
        sealer.open(login_blob, record)
    assert sealer.open_login_secrets(login_blob, record) == (
        pending.nonce,
        pending.code_verifier,
    )


# ------------------------------------------------------------ SQLite- and Redis-specific


async def test_sqlite_file_is_private_and_wal(tmp_path, sealer):
    path = tmp_path / "new" / "dir" / "bff.db"
    store = SqliteSessionStore(path, sealer)
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert {"bff_sessions", "bff_pending"} <= tables
    finally:
        await store.close()


@pytest.mark.parametrize("use_returning", [True, False])
async def test_sqlite_take_is_atomic_across_connections(
    tmp_path, sealer, make_pending, monkeypatch, use_returning
):
    """Eight processes' worth of connections race for one login; exactly one wins."""
    path = tmp_path / "bff.db"
    setup = SqliteSessionStore(path, sealer)
    pending = make_pending()
    await setup.put_pending(pending)
    await setup.close()
    if not use_returning:
        monkeypatch.setattr(session_sqlite, "_HAS_RETURNING", False)
    barrier = threading.Barrier(8)
    results: list[PendingLogin | None] = []

    def racer() -> None:
        async def run() -> PendingLogin | None:
            store = SqliteSessionStore(path, sealer)
            try:
                barrier.wait()
                return await store.take_pending(pending.login_hash, now=T0)
            finally:
                await store.close()

        results.append(asyncio.run(run()))

    threads = [threading.Thread(target=racer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8
    assert [r for r in results if r is not None] == [pending]


async def test_redis_keys_expire_at_the_session_end(make_session, make_pending, sealer):
    client = await _redis_client()
    prefix = f"test:bff:{secrets.token_hex(6)}"
    store = RedisSessionStore(REDIS_URL, sealer, prefix=prefix)
    try:
        session, pending = make_session(), make_pending()
        await store.put_session(session)
        await store.put_pending(pending)
        skey = f"{prefix}:s:{session.session_hash.hex()}"
        pkey = f"{prefix}:p:{pending.login_hash.hex()}"
        assert await client.expiretime(skey) == math.ceil(session.expires_at)
        assert await client.expiretime(pkey) == math.ceil(pending.expires_at)
        assert await client.type(skey) == b"hash"
    finally:
        await store.close()
        await _delete_keys(client, prefix)
        await client.aclose()


async def test_redis_unreachable_is_a_storage_error(sealer):
    store = RedisSessionStore("redis://127.0.0.1:1/0", sealer)
    try:
        with pytest.raises(StorageError) as caught:
            await store.get_session(_hash(), now=T0)
        assert "127.0.0.1" not in caught.value.message
    finally:
        await store.close()


# ------------------------------------------------------------------ open_session_store


async def test_open_session_store_chooses_backend(tmp_path, sealer):
    absolute = tmp_path / "a.db"
    for target, kind in [
        (f"sqlite:///{absolute}", SqliteSessionStore),
        (str(tmp_path / "b.db"), SqliteSessionStore),
        ("redis://127.0.0.1:6379/0", RedisSessionStore),
        ("rediss://cache.example:6380/1", RedisSessionStore),
    ]:
        store = open_session_store(target, sealer)
        try:
            assert isinstance(store, kind)
        finally:
            await store.close()
    assert absolute.exists()


@pytest.mark.parametrize(
    "target", ["", "sqlite:///", "sqlite://", ":memory:", "postgresql://h/db", "http://x/y"]
)
def test_open_session_store_refuses_others(sealer, target):
    with pytest.raises(ConfigurationError):
        open_session_store(target, sealer)
