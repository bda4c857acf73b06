"""``authorize(action, resource)`` end to end: a real FastAPI app behind BearerAuthMiddleware.

Tokens are signed by a local ES256 key and checked by a real Verifier; membership comes from an
in-memory "application table"; the policies are the fixture data API's. Called through httpx's
ASGI transport.
"""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations at runtime,
# and they name dependencies built inside make_app.
import asyncio
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Request

from tessera.authz import Authorizer, MembershipCache, PolicyEngine, Principal, Resource, ScopeMap
from tessera.authz.fastapi import AUTHORIZER_STATE, authorize
from tessera.errors import ConfigurationError
from tessera.jose import KeySet, SigningKey, encode_jwt
from tessera.verify import BearerAuthMiddleware, Verifier

ISS = "https://as.example.test"
AUD = "https://api.example.test"
KEY = SigningKey.generate("ES256")
POLICIES = Path(__file__).parent / "policies"
SCOPES = ScopeMap(
    {
        "data:read": {"data.list", "data.aggregate"},
        "data:export": {"data.export"},
        "members:admin": {"members.manage"},
    }
)
# The application's own records: memberships and the dataset catalogue.
MEMBERS = {
    ("A", "alice"): frozenset({"viewer"}),
    ("A", "ann"): frozenset({"analyst"}),
    ("A", "adam"): frozenset({"admin"}),
    ("B", "bob"): frozenset({"admin"}),
}
CATALOGUE = {
    ("A", "events"): "internal",
    ("A", "salaries"): "restricted",
    ("B", "events"): "public",
}


def token(sub: str = "alice", tenant: str = "A", scope: str = "data:read", **extra: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": ISS,
        "aud": AUD,
        "sub": sub,
        "client_id": "dashboard",
        "tenant_id": tenant,
        "scope": scope,
        "iat": now,
        "exp": now + 300,
        "jti": f"j-{sub}-{tenant}",
        **extra,
    }
    return encode_jwt(claims, KEY)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


class Memberships:
    def __init__(self) -> None:
        self.calls = 0

    async def roles(self, tenant_id: str, subject: str) -> frozenset[str] | None:
        self.calls += 1
        return MEMBERS.get((tenant_id, subject))


class Recorder:
    def __init__(self) -> None:
        self.decisions: list[Any] = []
        self.lookups: list[tuple[str, str]] = []


def make_authorizer(recorder: Recorder) -> Authorizer:
    engine = PolicyEngine.from_files(
        POLICIES / "data_api.cedar",
        POLICIES / "data_api.cedarschema",
        actions=SCOPES.actions,
        decision_log=recorder.decisions.append,
    )
    return Authorizer(scope_map=SCOPES, memberships=MembershipCache(Memberships()), policies=engine)


def make_app(recorder: Recorder, authorizer: Authorizer | None = None) -> Any:
    app = FastAPI()
    if authorizer is not None:
        setattr(app.state, AUTHORIZER_STATE, authorizer)

    def dataset(request: Request) -> Resource:
        """Sync: the resource named by the path, looked up in the application's catalogue."""
        tenant, name = request.path_params["tenant"], request.path_params["name"]
        recorder.lookups.append((tenant, name))
        classification = CATALOGUE.get((tenant, name), "restricted")
        return Resource("Dataset", name, tenant, {"classification": classification})

    async def dataset_async(request: Request) -> Resource:
        await asyncio.sleep(0)
        return dataset(request)

    async def export_context(request: Request) -> dict[str, object]:
        await asyncio.sleep(0)
        return {"rows": int(request.query_params.get("rows", "100")), "format": "ndjson"}

    def verified_tenant_members(request: Request) -> Resource:
        principal = request.state.tessera_principal
        return Resource("MemberDirectory", "members", principal.verified_tenant)

    @app.get("/tenants/{tenant}/datasets/{name}")
    def show(
        tenant: str,
        name: str,
        principal: Annotated[Principal, Depends(authorize("data.list", dataset))],
    ) -> dict[str, Any]:
        return {
            "dataset": name,
            "tenant": principal.verified_tenant,
            "roles": sorted(principal.roles),
        }

    @app.get("/tenants/{tenant}/datasets/{name}/export")
    def export(
        tenant: str,
        name: str,
        principal: Annotated[
            Principal,
            Depends(authorize("data.export", dataset_async, context=export_context)),
        ],
    ) -> dict[str, str]:
        return {"exported": name}

    @app.post("/a/members")
    def manage(
        principal: Annotated[
            Principal,
            Depends(authorize("members.manage", Resource("MemberDirectory", "m", "A"))),
        ],
    ) -> dict[str, str]:
        return {"ok": "yes"}

    @app.post("/members")
    def manage_own(
        principal: Annotated[
            Principal, Depends(authorize("members.manage", verified_tenant_members))
        ],
    ) -> dict[str, str]:
        return {"tenant": str(principal.verified_tenant)}

    @app.get("/whoami")
    def whoami(
        principal: Annotated[Principal, Depends(authorize("data.list"))],
    ) -> dict[str, str]:
        return {"tenant": str(principal.verified_tenant)}

    return BearerAuthMiddleware(app, verifier())


def verifier() -> Verifier:
    return Verifier(issuer=ISS, audience=AUD, algorithms=["ES256"], keys=KeySet([KEY.public]))


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def http(recorder):
    app = make_app(recorder, make_authorizer(recorder))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        yield client


async def test_no_token_is_401(http, recorder):
    response = await http.get("/tenants/A/datasets/events")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="tessera"'
    assert recorder.lookups == []


async def test_an_allowed_request_reaches_the_handler_with_the_principal(http, recorder):
    response = await http.get("/tenants/A/datasets/events", headers=bearer(token()))
    assert response.status_code == 200
    assert response.json() == {"dataset": "events", "tenant": "A", "roles": ["viewer"]}
    assert [(d.allowed, d.policies) for d in recorder.decisions] == [(True, ("viewer-read",))]


async def test_the_resource_comes_from_the_path(http, recorder):
    """alice (viewer) may list A's internal "events" but not A's restricted "salaries"."""
    allowed = await http.get("/tenants/A/datasets/events", headers=bearer(token()))
    denied = await http.get("/tenants/A/datasets/salaries", headers=bearer(token()))
    assert (allowed.status_code, denied.status_code) == (200, 403)
    assert recorder.lookups == [("A", "events"), ("A", "salaries")]
    assert [d.resource_id for d in recorder.decisions] == ["events", "salaries"]


async def test_a_missing_scope_is_403_insufficient_scope_naming_the_scope(http, recorder):
    response = await http.get(
        "/tenants/A/datasets/events/export", headers=bearer(token(sub="ann", scope="data:read"))
    )
    assert response.status_code == 403
    assert response.json() == {"detail": {"error": "insufficient_scope", "scope": "data:export"}}
    assert response.headers["www-authenticate"] == (
        'Bearer realm="tessera", error="insufficient_scope", scope="data:export"'
    )
    assert recorder.lookups == []  # refused before the application looked anything up
    assert recorder.decisions == []


async def test_a_forged_tenant_claim_is_403_not_a_member(http, recorder):
    """A validly signed token claiming a tenant the records do not make alice a member of."""
    forged = token(tenant="B-forged-tenant")
    response = await http.get("/tenants/B/datasets/events", headers=bearer(forged))
    assert response.status_code == 403
    assert response.json() == {"detail": {"error": "access_denied", "reason": "not_a_member"}}
    assert "B-forged-tenant" not in response.text
    assert "alice" not in response.text
    assert "B-forged-tenant" not in str(response.headers)
    assert recorder.lookups == []
    # bob is an admin of B; a token in his name claiming A gets nowhere either.
    as_a = await http.get("/tenants/A/datasets/events", headers=bearer(token("bob", "A")))
    assert as_a.json()["detail"]["reason"] == "not_a_member"


async def test_a_policy_refusal_is_403_policy_denied(http, recorder):
    """alice holds data:export, but as a viewer the policies do not let her export."""
    response = await http.get(
        "/tenants/A/datasets/events/export", headers=bearer(token(scope="data:export"))
    )
    assert response.status_code == 403
    assert response.json() == {"detail": {"error": "access_denied", "reason": "policy_denied"}}
    assert "www-authenticate" not in response.headers
    assert [(d.allowed, d.policies) for d in recorder.decisions] == [(False, ())]


async def test_another_tenants_resource_in_the_path_is_policy_denied(http, recorder):
    """adam is a verified admin of A; B's dataset in the path meets the tenant boundary."""
    adam = bearer(token("adam", "A"))
    response = await http.get("/tenants/B/datasets/events", headers=adam)
    assert response.status_code == 403
    assert response.json()["detail"]["reason"] == "policy_denied"
    assert recorder.decisions[-1].policies == ("tenant-boundary",)
    assert (await http.get("/tenants/A/datasets/events", headers=adam)).status_code == 200


async def test_an_async_resource_and_context_reach_the_policies(http):
    ann = bearer(token("ann", scope="data:export"))
    small = await http.get("/tenants/A/datasets/events/export?rows=1000", headers=ann)
    large = await http.get("/tenants/A/datasets/events/export?rows=1001", headers=ann)
    public = await http.get("/tenants/B/datasets/events/export?rows=1001", headers=ann)
    assert (small.status_code, large.status_code) == (200, 403)
    assert large.json()["detail"]["reason"] == "policy_denied"
    assert public.status_code == 403  # B's dataset: the tenant boundary


async def test_a_static_resource(http):
    manage = "members:admin"
    assert (await http.post("/a/members", headers=bearer(token("adam", scope=manage)))).is_success
    denied = await http.post("/a/members", headers=bearer(token("ann", scope=manage)))
    assert denied.json()["detail"]["reason"] == "policy_denied"
    bob = await http.post("/a/members", headers=bearer(token("bob", "B", scope=manage)))
    assert bob.json()["detail"]["reason"] == "policy_denied"  # A's directory, B's admin


async def test_the_resource_function_sees_the_verified_principal(http):
    manage = "members:admin"
    bob = await http.post("/members", headers=bearer(token("bob", "B", scope=manage)))
    assert bob.json() == {"tenant": "B"}


async def test_without_a_resource_only_membership_and_scopes_decide(http, recorder):
    assert (await http.get("/whoami", headers=bearer(token()))).json() == {"tenant": "A"}
    forged = await http.get("/whoami", headers=bearer(token(tenant="B")))
    assert forged.json()["detail"]["reason"] == "not_a_member"
    no_scope = await http.get("/whoami", headers=bearer(token(scope="data:export")))
    assert no_scope.json()["detail"] == {"error": "insufficient_scope", "scope": "data:read"}
    assert recorder.decisions == []


async def test_an_explicit_authorizer_needs_no_app_state(recorder):
    app = FastAPI()
    guard = make_authorizer(recorder)

    @app.get("/d/{name}")
    def show(
        name: str,
        principal: Annotated[
            Principal,
            Depends(
                authorize(
                    "data.list",
                    lambda r: Resource(
                        "Dataset", r.path_params["name"], "A", {"classification": "public"}
                    ),
                    authorizer=guard,
                    realm="data",
                )
            ),
        ],
    ) -> dict[str, str]:
        return {"name": name}

    transport = httpx.ASGITransport(app=BearerAuthMiddleware(app, verifier(), realm="data"))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        assert (await client.get("/d/x", headers=bearer(token()))).json() == {"name": "x"}
        refused = await client.get("/d/x", headers=bearer(token(scope="data:export")))
        assert refused.headers["www-authenticate"].startswith('Bearer realm="data", ')


async def test_no_authorizer_anywhere_is_a_configuration_error(recorder):
    transport = httpx.ASGITransport(app=make_app(recorder, authorizer=None))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        with pytest.raises(ConfigurationError, match=AUTHORIZER_STATE):
            await client.get("/whoami", headers=bearer(token()))


async def test_a_resource_function_must_return_a_resource(recorder):
    app = FastAPI()
    setattr(app.state, AUTHORIZER_STATE, make_authorizer(recorder))

    @app.get("/bad")
    def bad(
        principal: Annotated[Principal, Depends(authorize("data.list", lambda _: "events"))],
    ) -> None:
        return None

    transport = httpx.ASGITransport(app=BearerAuthMiddleware(app, verifier()))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        with pytest.raises(ConfigurationError, match="Resource"):
            await client.get("/bad", headers=bearer(token()))


@pytest.mark.parametrize("action", ["", "data list", None])
def test_an_action_must_be_a_name(action):
    with pytest.raises(ConfigurationError):
        authorize(action)


def test_a_context_without_a_resource_is_refused():
    with pytest.raises(ConfigurationError, match="resource"):
        authorize("data.export", context=lambda _: {"rows": 1})
