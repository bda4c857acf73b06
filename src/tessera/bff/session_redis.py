"""The BFF session store on Redis (scale-out): one hash per session, GETDEL for logins."""

from __future__ import annotations

import math

import orjson
import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from tessera.bff.session_sealing import TokenSealer, open_pending, open_session, unreadable
from tessera.bff.sessions import BffSession, PendingLogin
from tessera.errors import StorageError

__all__ = ["RedisSessionStore"]

_log = structlog.get_logger("tessera.bff")
# Only an existing session's last_seen: a deleted one is not brought back.
_TOUCH = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'last_seen', ARGV[1]) end
return 0
"""

_PURGE_SESSION = """
local e = redis.call('HGET', KEYS[1], 'expires_at')
if e and tonumber(e) <= tonumber(ARGV[1]) then return redis.call('DEL', KEYS[1]) end
return 0
"""
# Delete a pending login only if it still holds the value we judged expired.
_PURGE_PENDING = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _redis_failed(exc: BaseException) -> StorageError:
    _log.error("bff session store: Redis failed", error=type(exc).__name__)
    return StorageError("the session store is unavailable")


def _exat(expires_at: float) -> int:
    # Redis expiry is whole seconds; the exact end is checked against ``now`` on every read.
    return max(1, math.ceil(expires_at))


class RedisSessionStore:
    """Sessions in Redis: ``{prefix}:s:{hex}`` hashes, ``{prefix}:p:{hex}`` pending strings.

    Every key carries ``EXPIREAT`` (its ``expires_at``, rounded up) so Redis drops it;
    reads still compare against the caller's ``now``. Redis failures raise
    :class:`StorageError`: the BFF fails closed.
    """

    __slots__ = ("_prefix", "_purge_pending", "_purge_session", "_redis", "_sealer")

    def __init__(self, redis_url: str, sealer: TokenSealer, prefix: str = "tessera:bff") -> None:
        self._redis: aioredis.Redis = aioredis.from_url(
            redis_url, decode_responses=False, socket_timeout=2.0, socket_connect_timeout=2.0
        )
        self._sealer = sealer
        self._prefix = prefix
        self._purge_session = self._redis.register_script(_PURGE_SESSION)
        self._purge_pending = self._redis.register_script(_PURGE_PENDING)

    def __repr__(self) -> str:
        return f"RedisSessionStore(prefix={self._prefix!r})"

    def _skey(self, session_hash: bytes) -> str:
        return f"{self._prefix}:s:{session_hash.hex()}"

    def _pkey(self, login_hash: bytes) -> str:
        return f"{self._prefix}:p:{login_hash.hex()}"

    async def put_session(self, session: BffSession) -> None:
        key = self._skey(session.session_hash)
        mapping: dict[str, bytes | str] = {
            "subject": session.subject,
            "sealed": self._sealer.seal(session.tokens, session.session_hash),
            # repr() of a float round-trips exactly.
            "created_at": repr(float(session.created_at)),
            "last_seen": repr(float(session.last_seen)),
            "expires_at": repr(float(session.expires_at)),
        }
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(key)
                pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]
                pipe.expireat(key, _exat(session.expires_at))
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise _redis_failed(exc) from None

    async def touch_session(self, session_hash: bytes, last_seen: float) -> None:
        try:
            await self._redis.eval(_TOUCH, 1, self._skey(session_hash), repr(float(last_seen)))
        except (RedisError, OSError) as exc:
            raise _redis_failed(exc) from None

    async def get_session(self, session_hash: bytes, *, now: float) -> BffSession | None:
        try:
            raw = await self._redis.hgetall(self._skey(session_hash))
        except (RedisError, OSError) as exc:
            raise _redis_failed(exc) from None
        try:
            subject = _as_bytes(raw[b"subject"]).decode()
            sealed = _as_bytes(raw[b"sealed"])
            created_at = float(raw[b"created_at"])
            last_seen = float(raw[b"last_seen"])
            expires_at = float(raw[b"expires_at"])
        except (KeyError, ValueError):
            if raw:
                unreadable("session")
            return None
        if not now < expires_at:
            return None
        return open_session(
            self._sealer, session_hash, subject, sealed, (created_at, last_seen, expires_at)
        )

    async def delete_session(self, session_hash: bytes) -> bool:
        try:
            return bool(await self._redis.delete(self._skey(session_hash)))
        except (RedisError, OSError) as exc:
            raise _redis_failed(exc) from None

    async def put_pending(self, pending: PendingLogin) -> None:
        sealed = self._sealer.seal_login_secrets(
            pending.nonce, pending.code_verifier, pending.login_hash
        )
        value = orjson.dumps(
            {
                "state": pending.state,
                "sealed": sealed.hex(),
                "return_to": pending.return_to,
                "expires_at": pending.expires_at,
            }
        )
        try:
            await self._redis.set(
                self._pkey(pending.login_hash), value, exat=_exat(pending.expires_at)
            )
        except (RedisError, OSError) as exc:
            raise _redis_failed(exc) from None

    async def take_pending(self, login_hash: bytes, *, now: float) -> PendingLogin | None:
        try:
            # GETDEL (Redis >= 6.2): one caller wins; every other sees nothing.
            got = await self._redis.getdel(self._pkey(login_hash))
        except (RedisError, OSError) as exc:
            raise _redis_failed(exc) from None
        if got is None:
            return None
        record = _pending_record(_as_bytes(got))
        if record is None:
            unreadable("pending_login")
            return None
        return open_pending(self._sealer, login_hash, record, now)

    async def purge(self, now: float) -> int:
        """Drop records already past ``now`` that Redis has not yet expired (≤ 1 s early)."""
        removed = 0
        try:
            async for key in self._redis.scan_iter(match=f"{self._prefix}:s:*", count=500):
                removed += int(await self._purge_session(keys=[key], args=[repr(float(now))]))
            async for key in self._redis.scan_iter(match=f"{self._prefix}:p:*", count=500):
                got = await self._redis.get(key)
                if got is None:
                    continue
                value = _as_bytes(got)
                record = _pending_record(value)
                if record is not None and record[3] <= now:
                    removed += int(await self._purge_pending(keys=[key], args=[value]))
        except (RedisError, OSError) as exc:
            raise _redis_failed(exc) from None
        return removed

    async def close(self) -> None:
        await self._redis.aclose()


def _as_bytes(value: bytes | str) -> bytes:
    # The client is built with decode_responses=False; the str arm is for the type checker.
    return value if isinstance(value, bytes) else value.encode()


def _pending_record(value: bytes) -> tuple[str, bytes, str, float] | None:
    try:
        p = orjson.loads(value)
        state, return_to, expires_at = p["state"], p["return_to"], p["expires_at"]
        sealed = bytes.fromhex(p["sealed"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    if (
        not isinstance(state, str)
        or not isinstance(return_to, str)
        or isinstance(expires_at, bool)
        or not isinstance(expires_at, int | float)
    ):
        return None
    return state, sealed, return_to, float(expires_at)
