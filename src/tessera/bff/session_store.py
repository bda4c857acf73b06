"""BFF session stores: SQLite (one machine) and Redis (scale-out), tokens sealed at rest.

Everything secret is sealed with AES-256-GCM by :class:`TokenSealer`: a session's tokens
under its ``session_hash``, a pending login's ``nonce`` and PKCE ``code_verifier`` under its
``login_hash``. The associated data is a purpose label followed by that hash, so a sealed
blob read from a stolen store, copied onto another row, or moved between the session and
pending tables opens to nothing. A blob that does not open is treated as no record: the
stores return ``None`` and log the event (metadata only); they never delete it, so a
misconfigured key does not wipe every session.

Both stores satisfy :class:`tessera.bff.sessions.SessionStore`; one contract suite
(``tests/bff/test_session_store.py``) runs on both.
"""

from __future__ import annotations

from tessera.bff.session_redis import RedisSessionStore
from tessera.bff.session_sealing import SealedDataInvalid, TokenSealer
from tessera.bff.session_sqlite import SqliteSessionStore
from tessera.bff.sessions import SessionStore
from tessera.errors import ConfigurationError

__all__ = [
    "RedisSessionStore",
    "SealedDataInvalid",
    "SqliteSessionStore",
    "TokenSealer",
    "open_session_store",
]


def open_session_store(url_or_path: str, sealer: TokenSealer) -> SessionStore:
    """``redis://`` / ``rediss://`` → Redis; ``sqlite:///path`` or a plain path → SQLite.

    As in SQLAlchemy, ``sqlite:///rel/path`` is relative and ``sqlite:////abs/path`` absolute.
    """
    if url_or_path.startswith(("redis://", "rediss://")):
        return RedisSessionStore(url_or_path, sealer)
    path = url_or_path.removeprefix("sqlite:///")
    if not path or "://" in path or path == ":memory:":
        raise ConfigurationError(
            "the BFF session store must be a redis:// or rediss:// URL, sqlite:///path, or a path"
        )
    return SqliteSessionStore(path, sealer)
