"""``BearerAuthMiddleware``: RFC 6750 bearer-token checks in front of any ASGI app.

Steps, each a rule of RFC 6750 (or of this project's policy, said so):

1. ``one_credential`` — one ``Authorization`` header at most; a token in the query string or
   in a form-encoded body is refused (policy: §2.3's URI method leaks tokens into logs and
   Referer; §2.2's body method is not supported), and a token sent two ways is
   ``invalid_request`` (§3.1). Form bodies (only those can carry §2.2's parameter) are
   read up to a cap and replayed to the app unchanged;
2. ``bearer_syntax`` — scheme ``Bearer`` (case-insensitive), then one b64token (§2.1);
3. ``verified`` — the verifier's full check; failure is 401 ``invalid_token`` (§3.1).

No credentials at all is a 401 with a bare challenge (§3.1: no error code). The verified
:class:`~tessera.jose.claims.Claims` reach the app as ``scope["state"]["tessera_claims"]``
(``request.state.tessera_claims`` in Starlette/FastAPI). Responses never echo the token
or a claim. The verified-token cache is switched on: an API sees the same token often.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, Final, Protocol
from urllib.parse import parse_qsl

import orjson

from tessera.errors import TokenError
from tessera.jose.claims import Claims

__all__ = ["CLAIMS_KEY", "BearerAuthMiddleware", "TokenVerifier"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CLAIMS_KEY: Final = "tessera_claims"
_B64TOKEN: Final = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_MAX_FORM_SCAN: Final = 1 << 20


def _is_form(scope: Scope) -> bool:
    if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
        return False
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media_type: bytes = value.split(b";", 1)[0].strip().lower()
            return media_type == b"application/x-www-form-urlencoded"
    return False


class TokenVerifier(Protocol):
    async def verify_async(self, token: str, *, now: float | None = None) -> Claims: ...
    def enable_cache(self, size: int) -> None: ...


class _Refusal(Exception):
    def __init__(self, status: int, error: str | None, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


class BearerAuthMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        verifier: TokenVerifier,
        *,
        realm: str = "tessera",
        public_paths: Iterable[str] = (),
        cache_size: int = 10_000,
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.realm = realm.replace('"', "")
        self.public_paths = frozenset(public_paths)
        verifier.enable_cache(cache_size)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope.get("path") in self.public_paths:
            await self.app(scope, receive, send)
            return
        try:
            if _is_form(scope):
                receive = await self._check_form_body(receive)
            token = self._credential(scope)
            claims = await self._verified(token)
        except _Refusal as refusal:
            await self._refuse(refusal, scope, send)
            return
        scope.setdefault("state", {})[CLAIMS_KEY] = claims
        await self.app(scope, receive, send)

    async def _check_form_body(self, receive: Receive) -> Receive:
        """RFC 6750 §2.2: refuse ``access_token`` in a form body; replay the body after."""
        messages: list[Message] = []
        body = b""
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if len(body) > _MAX_FORM_SCAN:
                raise _Refusal(413, "invalid_request", "form body too large to inspect")
            if not message.get("more_body", False):
                break
        if b"access_token" in body and any(
            name == "access_token" for name, _ in parse_qsl(body.decode("latin-1"))
        ):
            raise _Refusal(400, "invalid_request", "tokens in the request body are refused")
        pending = iter(messages)

        async def replay() -> Message:
            return next(pending, None) or await receive()

        return replay

    def _credential(self, scope: Scope) -> str:
        """Steps 1 and 2 (RFC 6750 §2.1, §2.3, §3.1)."""
        values = [v for k, v in scope.get("headers", ()) if k == b"authorization"]
        query = scope.get("query_string", b"")
        in_query = b"access_token" in query and any(
            name == "access_token" for name, _ in parse_qsl(query.decode("latin-1"))
        )
        if len(values) > 1 or (values and in_query):
            raise _Refusal(400, "invalid_request", "send the token one way, once")
        if in_query:
            raise _Refusal(400, "invalid_request", "tokens in the query string are refused")
        if not values:
            raise _Refusal(401, None, "authentication required")
        header: bytes = values[0]
        scheme, _, credentials = header.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer":
            raise _Refusal(401, None, "authentication required")
        token = credentials.strip()
        if not token:
            raise _Refusal(400, "invalid_request", "malformed bearer credentials")
        return token

    async def _verified(self, token: str) -> Claims:
        try:
            return await self.verifier.verify_async(token)
        except TokenError as exc:
            # Step 2 decided late: a token outside b64token (§2.1) never verifies, so the
            # syntax is only checked to tell a malformed request from a bad token.
            if not _B64TOKEN.fullmatch(token):
                raise _Refusal(400, "invalid_request", "malformed bearer credentials") from None
            raise _Refusal(401, "invalid_token", exc.message) from None

    async def _refuse(self, refusal: _Refusal, scope: Scope, send: Send) -> None:
        challenge = f'Bearer realm="{self.realm}"'
        body: dict[str, str] = {}
        if refusal.error is not None:
            description = refusal.description.replace('"', "'").replace("\\", "")
            challenge += f', error="{refusal.error}", error_description="{description}"'
            body = {"error": refusal.error, "error_description": description}
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        payload = orjson.dumps(body or {"error": "unauthorized"})
        await send(
            {
                "type": "http.response.start",
                "status": refusal.status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"cache-control", b"no-store"),
                    (b"www-authenticate", challenge.encode("latin-1")),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
