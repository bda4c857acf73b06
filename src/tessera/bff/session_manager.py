"""Sessions at request time: the cookie's session, its idle end, and a fresh access token.

Refresh ahead of expiry, one at a time per session: concurrent browser calls that find the
access token about to expire wait for the ONE refresh in flight in this process instead of
racing with the same refresh token (which the authorization server would treat as reuse
outside its grace window). Two BFF instances sharing Redis may still refresh the same
session at once; Tessera's refresh grace window hands both the same successor.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import replace

import structlog
from starlette.requests import Request

from tessera.bff.config import BffSettings
from tessera.bff.guards import SESSION_COOKIE, read_cookie
from tessera.bff.oauth import LoginRefused, OAuthClient
from tessera.bff.sessions import BffSession, SessionStore, SessionTokens
from tessera.errors import FetchError

__all__ = ["Sessions", "session_hash"]

_log = structlog.get_logger("tessera.bff")
_TOUCH_EVERY = 60.0  # seconds between last_seen writes (idle accounting needs no more)


def session_hash(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8")).digest()


class Sessions:
    def __init__(
        self,
        store: SessionStore,
        oauth: OAuthClient,
        settings: BffSettings,
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self._oauth = oauth
        self._settings = settings
        self._clock = clock
        self._inflight: dict[bytes, asyncio.Future[BffSession | None]] = {}

    def idle_end(self, session: BffSession) -> float:
        return min(session.expires_at, session.last_seen + self._settings.session_idle_ttl)

    async def current(self, request: Request) -> BffSession | None:
        value = read_cookie(request.headers, SESSION_COOKIE)
        if value is None:
            return None
        now = self._clock()
        session = await self.store.get_session(session_hash(value), now=now)
        if session is None:
            return None
        if now >= self.idle_end(session):
            await self.store.delete_session(session.session_hash)
            return None
        if now - session.last_seen >= _TOUCH_EVERY:
            # last_seen only: a refresh running meanwhile may have stored new tokens.
            await self.store.touch_session(session.session_hash, now)
            session = replace(session, last_seen=now)
        return session

    async def fresh(self, session: BffSession) -> BffSession | None:
        """The session with an access token valid beyond ``refresh_ahead``, or None when the
        refresh was refused (the session is then over)."""
        now = self._clock()
        if session.tokens.access_expires_at - self._settings.refresh_ahead > now:
            return session
        key = session.session_hash
        running = self._inflight.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[BffSession | None] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            result = await self._refresh(session, now)
            future.set_result(result)
        except BaseException as exc:
            future.set_exception(exc)
            raise
        finally:
            del self._inflight[key]
        return result

    async def _refresh(self, session: BffSession, now: float) -> BffSession | None:
        # Another instance (or an earlier request) may have refreshed already.
        stored = await self.store.get_session(session.session_hash, now=now)
        if stored is None:
            return None
        if stored.tokens.access_expires_at - self._settings.refresh_ahead > now:
            return stored
        refresh_token = stored.tokens.refresh_token
        if refresh_token is None:
            return stored if stored.tokens.access_expires_at > now else None
        try:
            tokens = await self._oauth.refresh(refresh_token, now)
        except LoginRefused:
            _log.info("bff.refresh_refused", outcome="session_ended")
            await self.store.delete_session(session.session_hash)
            return None
        except FetchError:
            # The server is unreachable: keep the session; use the token while it lasts.
            return stored if stored.tokens.access_expires_at > now else None
        updated = replace(
            stored,
            tokens=SessionTokens(
                access_token=tokens.access_token,
                refresh_token=tokens.refresh_token or refresh_token,
                id_token=tokens.id_token or stored.tokens.id_token,
                access_expires_at=tokens.expires_at,
            ),
        )
        await self.store.put_session(updated)
        _log.info("bff.refreshed", outcome="rotated")
        return updated
