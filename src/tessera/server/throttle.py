"""Login brute-force throttle: failures counted per account and per client address.

Two keys are checked before a password is: ``account`` (tenant + folded email; counted for
unknown emails too, so a lockout tells nothing about an account's existence) and ``ip``.
NIST SP 800-63B §5.2.2 asks for rate limiting of failed attempts; here:

* a key's failures keep counting while each comes within ``login_window`` seconds of the
  previous one; a quiet window clears them;
* after ``login_backoff_after`` failures of an account, the next attempt waits
  2**(n - backoff_after) s after the last failure (1, 2, 4 … capped at 60 s). An address
  backs off the same way, but only from ``login_ip_backoff_after`` failures (20): many
  people share one (NAT), so a few typos there must not slow everyone down;
* at ``login_account_lockout`` (account) or ``login_ip_lockout`` (address) failures the key
  is locked for ``login_lockout_seconds`` after the last failure.

A successful login clears its account's failures, not its address's. Keys are SHA-256
digests: no email reaches memory or Redis in clear. Time is always the ``now`` parameter.
Backends: :class:`MemoryThrottleBackend` (per process) and :class:`RedisThrottleBackend`
(shared, atomic across processes; falls back to per-process counting while Redis is down).
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, Protocol

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from tessera.errors import LoginThrottled
from tessera.server.passwords import fold_email

if TYPE_CHECKING:
    from tessera.config import Settings

__all__ = [
    "Failures",
    "KeyPolicy",
    "LoginThrottle",
    "MemoryThrottleBackend",
    "RedisThrottleBackend",
    "ThrottleBackend",
    "make_throttle",
]

Kind = Literal["account", "ip"]
MAX_BACKOFF: Final = 60
_log = structlog.get_logger("tessera.throttle")


@dataclass(frozen=True, slots=True)
class Failures:
    """A key's failures: how many, and when the last one was (epoch seconds)."""

    count: int
    last: float


@dataclass(frozen=True, slots=True)
class KeyPolicy:
    """The limits of one kind of key. Failures are kept ``keep(count)`` seconds after the
    last one: the window, or, once the key is locked, at least the lockout."""

    window: int
    lock_at: int
    lockout: int
    backoff_after: int | None = None  # None: no backoff, only the lockout

    def keep(self, count: int) -> int:
        return max(self.window, self.lockout) if count >= self.lock_at else self.window

    def lapsed(self, failures: Failures, now: float) -> bool:
        return now >= failures.last + self.keep(failures.count)


class ThrottleBackend(Protocol):
    """Failure counters by (kind, digest). ``add_failure`` must be atomic per key."""

    async def get(self, kind: Kind, digest: str) -> Failures | None:
        """The stored failures (possibly lapsed: the caller decides), or None."""
        ...

    async def add_failure(
        self, kind: Kind, digest: str, *, now: float, policy: KeyPolicy
    ) -> Failures:
        """Count one failure at ``now``, starting from zero when the stored ones lapsed."""
        ...

    async def clear(self, kind: Kind, digest: str) -> None: ...
    async def aclose(self) -> None: ...


def _digest(kind: Kind, value: str) -> str:
    return hashlib.sha256(f"{kind}\x00{value}".encode()).hexdigest()


def _address(ip: str) -> str:
    """The unit one client controls: an IPv4 address, or an IPv6 /64 (one host's share)."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class LoginThrottle:
    """Refuses login attempts for throttled keys; counts failures; clears on success."""

    __slots__ = ("_account", "_backend", "_ip")

    def __init__(
        self,
        backend: ThrottleBackend,
        *,
        backoff_after: int,
        account_lockout: int,
        ip_lockout: int,
        window: int,
        lockout_seconds: int,
        ip_backoff_after: int | None = None,
    ) -> None:
        self._backend = backend
        self._account = KeyPolicy(window, account_lockout, lockout_seconds, backoff_after)
        self._ip = KeyPolicy(window, ip_lockout, lockout_seconds, ip_backoff_after)

    @classmethod
    def from_settings(cls, settings: Settings, backend: ThrottleBackend) -> LoginThrottle:
        return cls(
            backend,
            backoff_after=settings.login_backoff_after,
            account_lockout=settings.login_account_lockout,
            ip_lockout=settings.login_ip_lockout,
            window=settings.login_window,
            lockout_seconds=settings.login_lockout_seconds,
            ip_backoff_after=settings.login_ip_backoff_after,
        )

    def _keys(self, tenant: str, email: str, ip: str) -> tuple[str, str]:
        return _digest("account", f"{tenant}\x00{fold_email(email)}"), _digest("ip", _address(ip))

    async def check(self, tenant: str, email: str, ip: str, now: float) -> None:
        """Raise :class:`~tessera.errors.LoginThrottled` if this attempt must wait.

        Call before verifying the password, for known and unknown emails alike.
        """
        account, address = self._keys(tenant, email, ip)
        wait = max(
            _wait(await self._backend.get("account", account), self._account, now),
            _wait(await self._backend.get("ip", address), self._ip, now),
        )
        if wait > 0:
            raise LoginThrottled(
                "too many failed logins; try again later", retry_after=math.ceil(wait)
            )

    async def record_failure(self, tenant: str, email: str, ip: str, now: float) -> None:
        """Count a failed login (wrong password or unknown email) on both keys."""
        account, address = self._keys(tenant, email, ip)
        await self._backend.add_failure("account", account, now=now, policy=self._account)
        await self._backend.add_failure("ip", address, now=now, policy=self._ip)

    async def record_success(
        self,
        tenant: str,
        email: str,
        ip: str,
        now: float,  # noqa: ARG002 - same shape as record_failure; clearing needs no time
    ) -> None:
        """Clear the account's failures. The address keeps its own: one success from an
        address that is guessing across many accounts must not reset its count."""
        account, _ = self._keys(tenant, email, ip)
        await self._backend.clear("account", account)

    async def aclose(self) -> None:
        await self._backend.aclose()

    def __repr__(self) -> str:
        return f"LoginThrottle({self._backend!r})"


def _wait(failures: Failures | None, policy: KeyPolicy, now: float) -> float:
    """Seconds until one key allows an attempt (0: now)."""
    if failures is None or policy.lapsed(failures, now):
        return 0.0
    wait = 0.0
    if failures.count >= policy.lock_at:
        wait = failures.last + policy.lockout - now
    if policy.backoff_after is not None and failures.count >= policy.backoff_after:
        # The inner min() keeps the exponent small whatever the count.
        delay = min(2 ** min(failures.count - policy.backoff_after, 6), MAX_BACKOFF)
        wait = max(wait, failures.last + delay - now)
    return max(wait, 0.0)


class MemoryThrottleBackend:
    """Per-process counters, at most ``max_keys`` of them (the oldest are forgotten first:
    their last failure is the longest ago, so they are the likeliest to have lapsed)."""

    __slots__ = ("_entries", "_max_keys")

    def __init__(self, max_keys: int = 100_000) -> None:
        self._entries: OrderedDict[tuple[Kind, str], Failures] = OrderedDict()
        self._max_keys = max_keys

    async def get(self, kind: Kind, digest: str) -> Failures | None:
        return self._entries.get((kind, digest))

    async def add_failure(
        self, kind: Kind, digest: str, *, now: float, policy: KeyPolicy
    ) -> Failures:
        # No await between read and write: atomic within the event loop.
        key = (kind, digest)
        stored = self._entries.pop(key, None)
        if stored is None or policy.lapsed(stored, now):
            stored = Failures(0, now)
        updated = Failures(stored.count + 1, max(stored.last, now))
        self._entries[key] = updated
        while len(self._entries) > self._max_keys:
            self._entries.popitem(last=False)
        return updated

    async def clear(self, kind: Kind, digest: str) -> None:
        self._entries.pop((kind, digest), None)

    async def aclose(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"MemoryThrottleBackend({len(self._entries)} keys)"


# One round trip, atomic across processes: reset if lapsed, count, remember the last time,
# and let Redis forget the key when it would lapse anyway.
# KEYS[1]: the key. ARGV: now, window, lock_at, kept while locked (all seconds / counts).
_ADD_FAILURE: Final = """
local v = redis.call('HMGET', KEYS[1], 'n', 't')
local count = tonumber(v[1]) or 0
local last = tonumber(v[2]) or 0
local now = tonumber(ARGV[1])
local lock_at = tonumber(ARGV[3])
local function keep(c)
  if c >= lock_at then return tonumber(ARGV[4]) end
  return tonumber(ARGV[2])
end
local t = ARGV[1]
if count > 0 and now >= last + keep(count) then
  count = 0
elseif count > 0 and now < last then
  t = v[2]
end
count = count + 1
redis.call('HSET', KEYS[1], 'n', count, 't', t)
redis.call('EXPIRE', KEYS[1], keep(count))
return {count, t}
"""


class RedisThrottleBackend:
    """Counters shared by every process, in Redis hashes ``{prefix}:{kind}:{digest}``.

    While Redis is unreachable, counting continues per process (logged): attempts stay
    throttled, only less tightly, and logins keep working.
    """

    __slots__ = ("_add_failure", "_fallback", "_prefix", "_redis")

    def __init__(self, client: aioredis.Redis, *, prefix: str = "tessera:login") -> None:
        self._redis = client
        self._prefix = prefix
        self._add_failure = client.register_script(_ADD_FAILURE)
        self._fallback = MemoryThrottleBackend()

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "tessera:login") -> RedisThrottleBackend:
        client = aioredis.from_url(
            url, decode_responses=True, socket_timeout=2.0, socket_connect_timeout=2.0
        )
        return cls(client, prefix=prefix)

    def _name(self, kind: Kind, digest: str) -> str:
        return f"{self._prefix}:{kind}:{digest}"

    async def get(self, kind: Kind, digest: str) -> Failures | None:
        try:
            count, last = await self._redis.hmget(self._name(kind, digest), ["n", "t"])
        except (RedisError, OSError) as exc:
            _unavailable(exc)
            return await self._fallback.get(kind, digest)
        if count is None or last is None:
            return None
        return Failures(int(count), float(last))

    async def add_failure(
        self, kind: Kind, digest: str, *, now: float, policy: KeyPolicy
    ) -> Failures:
        args: list[str | int] = [
            repr(float(now)),
            policy.window,
            policy.lock_at,
            policy.keep(policy.lock_at),
        ]
        try:
            count, last = await self._add_failure(keys=[self._name(kind, digest)], args=args)
        except (RedisError, OSError) as exc:
            _unavailable(exc)
            return await self._fallback.add_failure(kind, digest, now=now, policy=policy)
        return Failures(int(count), float(last))

    async def clear(self, kind: Kind, digest: str) -> None:
        await self._fallback.clear(kind, digest)
        try:
            await self._redis.delete(self._name(kind, digest))
        except (RedisError, OSError) as exc:
            _unavailable(exc)

    async def aclose(self) -> None:
        await self._redis.aclose()

    def __repr__(self) -> str:
        return f"RedisThrottleBackend(prefix={self._prefix!r})"


def _unavailable(exc: BaseException) -> None:
    _log.warning(
        "login throttle: Redis unavailable, counting per process", error=type(exc).__name__
    )


def make_throttle(settings: Settings, redis_url: str | None) -> LoginThrottle:
    """Redis-backed (shared by every process) when ``redis_url`` is set, else per process."""
    backend: ThrottleBackend = (
        RedisThrottleBackend.from_url(redis_url) if redis_url else MemoryThrottleBackend()
    )
    return LoginThrottle.from_settings(settings, backend)
