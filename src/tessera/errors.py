"""The one exception tree of Tessera.

Every error Tessera raises on purpose derives from :class:`TesseraError` and carries a stable
machine ``code``. Messages are short and safe: they never contain a token, a secret, key
material, or a claim value taken from a token (an attacker must not be able to make us echo
their input into logs or responses).

::

    TesseraError                          tessera_error
    ├── ConfigurationError                invalid_configuration
    ├── InvalidKey                        invalid_key
    │   ├── WeakKey                       weak_key
    │   └── InvalidKeySet                 invalid_key_set
    ├── SigningError                      signing_failed
    ├── FetchError                        fetch_failed
    ├── StorageError                      storage_error
    │   ├── ConflictError                 conflict
    │   ├── NotFoundError                 not_found
    │   ├── SchemaOutdated                schema_outdated
    │   └── SealedDataInvalid             sealed_data_invalid
    ├── LoginRefused                      login_refused
    ├── InvalidCredentials                invalid_credentials
    ├── LoginThrottled                    login_throttled
    ├── NotAMember                        not_a_member
    ├── ActionNotAllowed                  action_not_allowed
    │   └── PolicyDenied                  policy_denied
    ├── ProtocolError                     protocol_error (subclasses: the RFC code)
    │   ├── InvalidRequest                invalid_request
    │   ├── InvalidClient                 invalid_client
    │   ├── InvalidGrant                  invalid_grant
    │   ├── UnauthorizedClient            unauthorized_client
    │   ├── UnsupportedGrantType          unsupported_grant_type
    │   ├── InvalidScope                  invalid_scope
    │   ├── InvalidTarget                 invalid_target
    │   ├── UnsupportedTokenType          unsupported_token_type
    │   ├── UnsupportedResponseType       unsupported_response_type
    │   ├── AccessDenied                  access_denied
    │   ├── LoginRequired                 login_required
    │   ├── ConsentRequired               consent_required
    │   └── InvalidRequestUri             invalid_request_uri
    └── TokenError                        invalid_token
        ├── MalformedToken                malformed_token
        │   └── TokenTooLarge             token_too_large
        ├── ForbiddenHeader               forbidden_header
        ├── UnsupportedCritical           unsupported_crit
        ├── AlgorithmNotAllowed           alg_not_allowed
        ├── InvalidType                   invalid_typ
        ├── UnknownKey                    unknown_kid
        ├── InvalidSignature              invalid_signature
        ├── TokenRevoked                  token_revoked
        ├── RevocationFeedStale           revocation_feed_stale
        ├── TokenInactive                 token_inactive
        ├── IntrospectionUnavailable      introspection_unavailable
        └── ClaimError                    invalid_claims
            ├── MissingClaim              missing_claim
            ├── InvalidClaim              invalid_claim
            ├── InvalidIssuer             invalid_issuer
            ├── InvalidAudience           invalid_audience
            ├── TokenExpired              token_expired
            ├── TokenNotYetValid          token_not_yet_valid
            ├── IssuedInFuture            iat_in_future
            └── TokenTooOld               token_too_old

Protocol error codes (RFC 6749 §5.2, RFC 6750 §3.1) are chosen at the HTTP edge from these
classes; every :class:`TokenError` is ``invalid_token`` to a resource-server client.

This module imports nothing of Tessera's, so every layer (``jose`` included) may use it.
"""

from __future__ import annotations

__all__ = [
    "ActionNotAllowed",
    "AlgorithmNotAllowed",
    "ClaimError",
    "ConfigurationError",
    "ConflictError",
    "FetchError",
    "ForbiddenHeader",
    "IntrospectionUnavailable",
    "InvalidAudience",
    "InvalidClaim",
    "InvalidClient",
    "InvalidCredentials",
    "InvalidGrant",
    "InvalidIssuer",
    "InvalidKey",
    "InvalidKeySet",
    "InvalidRequest",
    "InvalidScope",
    "InvalidSignature",
    "InvalidTarget",
    "InvalidType",
    "IssuedInFuture",
    "LoginRefused",
    "LoginThrottled",
    "MalformedToken",
    "MissingClaim",
    "NotAMember",
    "NotFoundError",
    "PolicyDenied",
    "ProtocolError",
    "RevocationFeedStale",
    "SchemaOutdated",
    "SealedDataInvalid",
    "SigningError",
    "StorageError",
    "TesseraError",
    "TokenError",
    "TokenExpired",
    "TokenInactive",
    "TokenNotYetValid",
    "TokenRevoked",
    "TokenTooLarge",
    "TokenTooOld",
    "UnauthorizedClient",
    "UnknownKey",
    "UnsupportedCritical",
    "UnsupportedGrantType",
    "UnsupportedTokenType",
    "WeakKey",
]


class TesseraError(Exception):
    """Root of every error Tessera raises on purpose."""

    code: str = "tessera_error"

    def __init__(self, message: str, **fields: object) -> None:
        super().__init__(message)
        self.message = message
        # Structured, safe metadata for logs (never a token or secret; callers pass names,
        # kids and algorithm identifiers only).
        self.fields = fields

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class ConfigurationError(TesseraError):
    """A setting is missing, malformed, or outside its allowed range."""

    code = "invalid_configuration"


class InvalidKey(TesseraError):
    """A key is malformed, of the wrong type, or unusable with its algorithm."""

    code = "invalid_key"


class WeakKey(InvalidKey):
    """A key is too short, well known, or otherwise unsafe to use."""

    code = "weak_key"


class InvalidKeySet(InvalidKey):
    """A key set is malformed, mixes key kinds, or repeats a ``kid``."""

    code = "invalid_key_set"


class SigningError(TesseraError):
    """A token could not be produced (bad claims or header for the chosen key)."""

    code = "signing_failed"


class FetchError(TesseraError):
    """Fetching issuer metadata or a JWKS failed; the verifier keeps the keys it had."""

    code = "fetch_failed"


class StorageError(TesseraError):
    """The store failed or refused an operation."""

    code = "storage_error"


class ConflictError(StorageError):
    """The record already exists (a tenant, client or key id is taken)."""

    code = "conflict"


class NotFoundError(StorageError):
    """The record to change does not exist."""

    code = "not_found"


class SchemaOutdated(StorageError):
    """The database schema is behind the code; ``tessera db upgrade`` fixes it."""

    code = "schema_outdated"


class InvalidCredentials(TesseraError):
    """A user's email or password is wrong (one error for both: existence is not revealed)."""

    code = "invalid_credentials"


class LoginThrottled(TesseraError):
    """Too many failed logins for this account or from this address; retry later.

    ``retry_after`` is whole seconds (the HTTP ``Retry-After`` value). The message does not
    say which key is throttled, so a lockout reveals nothing about an account's existence.
    """

    code = "login_throttled"

    def __init__(self, message: str, *, retry_after: int, **fields: object) -> None:
        super().__init__(message, retry_after=retry_after, **fields)
        self.retry_after = retry_after


class SealedDataInvalid(StorageError):
    """A sealed blob does not open: tampered, moved to another row, or sealed under another key."""

    code = "sealed_data_invalid"


class LoginRefused(TesseraError):
    """The authorization server refused a BFF's code, refresh or ID token."""

    code = "login_refused"


class NotAMember(TesseraError):
    """The application's records do not make the subject a member of the tenant (403).

    Raised whatever the token's ``tenant_id`` claim says: a claim is only a hint.
    """

    code = "not_a_member"


class ActionNotAllowed(TesseraError):
    """No scope granted to the principal maps to the action the endpoint needs (403)."""

    code = "action_not_allowed"


class PolicyDenied(ActionNotAllowed):
    """The policies (Cedar) do not permit the action on the resource, or one forbids it (403).

    Default deny: no applicable ``permit`` is a refusal too. ``fields`` name the action, the
    resource type and the determining policy ids, never a claim value.
    """

    code = "policy_denied"


class ProtocolError(TesseraError):
    """An OAuth protocol error; ``code`` is the RFC error code sent to the client.

    ``message`` becomes ``error_description``: short, safe, never echoing a credential.
    Raise a subclass; the base exists to be caught at the HTTP edge.
    """

    code = "protocol_error"
    status = 400


class InvalidRequest(ProtocolError):
    code = "invalid_request"


class InvalidClient(ProtocolError):
    """Client authentication failed (RFC 6749 §5.2): 401."""

    code = "invalid_client"
    status = 401


class InvalidGrant(ProtocolError):
    code = "invalid_grant"


class UnauthorizedClient(ProtocolError):
    code = "unauthorized_client"


class UnsupportedGrantType(ProtocolError):
    code = "unsupported_grant_type"


class InvalidScope(ProtocolError):
    code = "invalid_scope"


class InvalidTarget(ProtocolError):
    """RFC 8707 §2: the requested resource is unknown or not allowed for this client."""

    code = "invalid_target"


class UnsupportedTokenType(ProtocolError):
    """RFC 7009 §2.2.1."""

    code = "unsupported_token_type"


class UnsupportedResponseType(ProtocolError):
    """RFC 6749 §4.1.2.1: only ``code`` exists (OAuth 2.1 has no implicit grant)."""

    code = "unsupported_response_type"


class AccessDenied(ProtocolError):
    """RFC 6749 §4.1.2.1: the user declined."""

    code = "access_denied"
    status = 403


class LoginRequired(ProtocolError):
    """OpenID Connect Core §3.1.2.6: ``prompt=none`` and nobody is logged in."""

    code = "login_required"


class ConsentRequired(ProtocolError):
    """OpenID Connect Core §3.1.2.6: ``prompt=none`` and consent is missing."""

    code = "consent_required"


class InvalidRequestUri(ProtocolError):
    """RFC 9126 §4 / RFC 9101 §10.2: the ``request_uri`` is unknown, used or expired."""

    code = "invalid_request_uri"


class TokenError(TesseraError):
    """A token was refused. Every subclass maps to ``invalid_token`` at the HTTP edge."""

    code = "invalid_token"


class MalformedToken(TokenError):
    """Not a well-formed compact JWS: segments, base64url, JSON or structure."""

    code = "malformed_token"


class TokenTooLarge(MalformedToken):
    """The token exceeds the size cap; refused before any decoding."""

    code = "token_too_large"


class ForbiddenHeader(TokenError):
    """The header carries a parameter Tessera never honours (``jku``, ``x5u``, ``jwk`` …)."""

    code = "forbidden_header"


class UnsupportedCritical(TokenError):
    """The header's ``crit`` (or ``b64``/``zip``) asks for an extension Tessera does not do."""

    code = "unsupported_crit"


class AlgorithmNotAllowed(TokenError):
    """``alg`` is missing, not pinned for this issuer, or differs from the key's own."""

    code = "alg_not_allowed"


class InvalidType(TokenError):
    """``typ`` is not the expected media type (e.g. an ID token used as an access token)."""

    code = "invalid_typ"


class UnknownKey(TokenError):
    """No trusted key matches the token's ``kid`` and ``alg``."""

    code = "unknown_kid"


class InvalidSignature(TokenError):
    """The signature does not verify over the token's signing input."""

    code = "invalid_signature"


class TokenRevoked(TokenError):
    """The token's ``jti`` (or its family) has been revoked."""

    code = "token_revoked"


class RevocationFeedStale(TokenError):
    """The revocation feed has been silent too long: no token can be vouched for."""

    code = "revocation_feed_stale"


class TokenInactive(TokenError):
    """The authorization server's introspection says the token is not active."""

    code = "token_inactive"


class IntrospectionUnavailable(TokenError):
    """Introspection could not be done (server down, bad answer): fail closed."""

    code = "introspection_unavailable"


class ClaimError(TokenError):
    """The payload's claims fail the claims policy."""

    code = "invalid_claims"


class MissingClaim(ClaimError):
    """A required claim is absent."""

    code = "missing_claim"


class InvalidClaim(ClaimError):
    """A claim has the wrong type or an impossible value."""

    code = "invalid_claim"


class InvalidIssuer(ClaimError):
    """``iss`` is not exactly the pinned issuer."""

    code = "invalid_issuer"


class InvalidAudience(ClaimError):
    """``aud`` does not contain the expected audience."""

    code = "invalid_audience"


class TokenExpired(ClaimError):
    """``exp`` is past, beyond the leeway."""

    code = "token_expired"


class TokenNotYetValid(ClaimError):
    """``nbf`` is in the future, beyond the leeway."""

    code = "token_not_yet_valid"


class IssuedInFuture(ClaimError):
    """``iat`` is in the future, beyond the leeway."""

    code = "iat_in_future"


class TokenTooOld(ClaimError):
    """``iat`` is older than the configured maximum age."""

    code = "token_too_old"
