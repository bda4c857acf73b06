"""Server-rendered pages: escaping, security headers, forms without JavaScript, the stylesheet."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
from jinja2 import UndefinedError
from starlette.applications import Starlette
from starlette.routing import Route

from tessera.server.pages import PAGE_HEADERS, Pages

ASSETS = "http://127.0.0.1:8800/assets"
HOSTILE = [
    "<script>alert(1)</script>",
    '" onmouseover="alert(1)',
    "' onfocus='alert(1)",
    "javascript:alert(1)",
    "</title><script>alert(1)</script>",
    "{{ 7*7 }}",
]
EXPECTED_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
    "cross-origin-opener-policy": "same-origin",
}


class Tags(HTMLParser):
    """Every start tag with its (unescaped) attributes, and the text, in document order."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def find(self, tag: str, **match: str) -> list[dict[str, str | None]]:
        return [
            attrs
            for name, attrs in self.tags
            if name == tag and all(attrs.get(k) == v for k, v in match.items())
        ]

    def alerts(self) -> list[dict[str, str | None]]:
        return [attrs for _, attrs in self.tags if attrs.get("role") == "alert"]

    def one(self, tag: str, **match: str) -> dict[str, str | None]:
        found = self.find(tag, **match)
        assert len(found) == 1, (tag, match, found)
        return found[0]


def login_ctx(**overrides: Any) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "assets": ASSETS,
        "tenant_name": "Acme",
        "action": "/t/default/login",
        "interaction": "int-123",
        "csrf": "csrf-456",
        "client_name": "Example App",
        "email": "",
        "error": None,
        "retry_after": None,
    }
    return {**ctx, **overrides}


def consent_ctx(**overrides: Any) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "assets": ASSETS,
        "tenant_name": "Acme",
        "action": "/t/default/consent",
        "interaction": "int-123",
        "csrf": "csrf-456",
        "client_name": "Example App",
        "user_email": "ada@example.com",
        "scopes": [
            {"name": "openid", "description": "Confirm who you are"},
            {"name": "orders:read", "description": "Read your orders"},
        ],
    }
    return {**ctx, **overrides}


def error_ctx(**overrides: Any) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "assets": ASSETS,
        "tenant_name": "Acme",
        "title": "Unknown application",
        "message": "The application that sent you here is not registered.",
        "error": "invalid_client",
    }
    return {**ctx, **overrides}


def logout_ctx(**overrides: Any) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "assets": ASSETS,
        "tenant_name": "Acme",
        "action": "/t/default/logout",
        "csrf": "csrf-456",
        "logout": "lo-789",
        "client_name": "Example App",
    }
    return {**ctx, **overrides}


def logged_out_ctx(**overrides: Any) -> dict[str, Any]:
    return {"assets": ASSETS, "tenant_name": "Acme", **overrides}


CONTEXTS = {
    "login.html": login_ctx,
    "consent.html": consent_ctx,
    "error.html": error_ctx,
    "logout.html": logout_ctx,
    "logged_out.html": logged_out_ctx,
}
# The untrusted string fields of each page, to be filled with hostile text.
STRING_FIELDS = {
    "login.html": ["tenant_name", "client_name", "email", "error", "csrf", "interaction"],
    "consent.html": ["tenant_name", "client_name", "user_email", "csrf", "interaction"],
    "error.html": ["tenant_name", "title", "message", "error"],
    "logout.html": ["tenant_name", "client_name", "csrf", "logout"],
    "logged_out.html": ["tenant_name"],
}


@pytest.fixture(scope="module")
def pages() -> Pages:
    return Pages()


def render(pages: Pages, template: str, **overrides: Any) -> httpx.Response:
    """The page as an httpx response, so headers are read case-insensitively."""
    response = pages.render(template, **CONTEXTS[template](**overrides))
    return httpx.Response(response.status_code, headers=response.headers.raw, content=response.body)


def assert_no_active_content(html: str) -> None:
    """No script, no handler or inline style attribute, no javascript: URL anywhere."""
    assert "<script" not in html.lower()
    for tag, attrs in Tags(html).tags:
        assert tag not in {"script", "iframe", "object", "embed", "base"}, tag
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert name != "style", tag
            if name in {"href", "src", "action", "formaction"}:
                assert not (value or "").lower().startswith("javascript:"), (tag, name)


# --- every page ---------------------------------------------------------------------------------


@pytest.mark.parametrize("template", sorted(CONTEXTS))
def test_every_page_carries_the_security_headers(pages, template):
    """RFC 9700 §4.16 (framing) and §4.2.4 (referrer); SECURITY.md §8."""
    response = render(pages, template)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    for name, value in EXPECTED_HEADERS.items():
        assert response.headers.get_list(name) == [value], name
    # Chromium applies form-action to the redirect after the login POST (to the client's origin).
    assert "form-action" not in response.headers["content-security-policy"]


@pytest.mark.parametrize("template", sorted(CONTEXTS))
def test_every_page_is_plain_html_without_script(pages, template):
    html = render(pages, template).text
    assert html.startswith("<!doctype html>")
    assert_no_active_content(html)
    tags = Tags(html)
    assert tags.one("html")["lang"] == "en"
    assert tags.one("meta", name="viewport")["content"] == "width=device-width, initial-scale=1"
    assert tags.one("meta", charset="utf-8")
    assert len(tags.find("main")) == 1
    assert len(tags.find("h1")) == 1
    assert tags.one("link", rel="stylesheet")["href"] == f"{ASSETS}/tessera.css"
    assert not tags.alerts()  # an alert only when there is an error


@pytest.mark.parametrize("template", sorted(CONTEXTS))
def test_every_form_posts_and_labels_name_their_inputs(pages, template):
    tags = Tags(render(pages, template).text)
    for form in tags.find("form"):
        assert form["method"] == "post"
    ids = {attrs.get("id") for _, attrs in tags.tags}
    for label in tags.find("label"):
        assert label["for"] in ids
    for field in tags.find("input"):
        if field["type"] != "hidden":
            assert tags.find("label", **{"for": field["id"] or ""}), field


@pytest.mark.parametrize("template", sorted(CONTEXTS))
def test_a_missing_variable_fails_loudly(pages, template):
    """StrictUndefined: a typo in the calling endpoint raises instead of rendering blank."""
    for name in CONTEXTS[template]():
        ctx = CONTEXTS[template]()
        del ctx[name]
        with pytest.raises(UndefinedError):
            pages.render(template, **ctx)


@pytest.mark.parametrize(
    ("template", "field"),
    [(template, field) for template, fields in STRING_FIELDS.items() for field in fields],
)
@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_strings_are_escaped(pages, template, field, hostile):
    html = render(pages, template, **{field: hostile}).text
    assert_no_active_content(html)
    tags = Tags(html)
    # Every text node and attribute value comes back exactly as given: escaped, never parsed.
    text = "".join(tags.text)
    values = [v for _, attrs in tags.tags for v in attrs.values()]
    assert hostile in text or hostile in values
    assert "49" not in text  # templates are not re-evaluated


BAD_URLS = [
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "//evil.example/login",
    "/\\evil.example/login",
    "login",
    "https:///login",
    "/login\nX: y",
    "",
]


@pytest.mark.parametrize("template", ["login.html", "consent.html", "logout.html"])
@pytest.mark.parametrize("bad", BAD_URLS)
def test_a_form_action_must_be_http_or_an_absolute_path(pages, template, bad):
    """Autoescaping keeps a value inside its attribute; the ``url`` filter refuses its scheme."""
    with pytest.raises(ValueError, match="page URL"):
        render(pages, template, action=bad)


@pytest.mark.parametrize("bad", BAD_URLS)
def test_the_assets_prefix_must_be_http_or_an_absolute_path(pages, bad):
    with pytest.raises(ValueError, match="page URL"):
        render(pages, "logged_out.html", assets=bad)


@pytest.mark.parametrize(
    "good", ["/t/default/login", "https://id.example.com/t/a/login?x=1", "http://127.0.0.1:8800/l"]
)
def test_good_form_actions_render_unchanged(pages, good):
    assert Tags(render(pages, "login.html", action=good).text).one("form")["action"] == good


def test_hostile_scope_entries_are_escaped(pages):
    scopes = [{"name": h, "description": h} for h in HOSTILE]
    html = render(pages, "consent.html", scopes=scopes).text
    assert_no_active_content(html)
    text = "".join(Tags(html).text)
    for hostile in HOSTILE:
        assert text.count(hostile) >= 2


def test_render_passes_status_and_extra_headers(pages):
    response = pages.render(
        "login.html", status=429, headers={"Retry-After": "30"}, **login_ctx(retry_after=30)
    )
    assert response.status_code == 429
    assert response.headers["retry-after"] == "30"
    assert response.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("name", [*PAGE_HEADERS, "content-security-policy", "CACHE-CONTROL"])
def test_render_refuses_to_replace_a_security_header(pages, name):
    with pytest.raises(ValueError, match="cannot be overridden"):
        pages.render("logged_out.html", headers={name: "x"}, **logged_out_ctx())


# --- login --------------------------------------------------------------------------------------


def test_login_form(pages):
    tags = Tags(render(pages, "login.html", email="ada@example.com").text)
    form = tags.one("form")
    assert form["action"] == "/t/default/login"
    assert tags.one("input", name="interaction")["value"] == "int-123"
    assert tags.one("input", name="interaction")["type"] == "hidden"
    assert tags.one("input", name="csrf")["value"] == "csrf-456"
    assert tags.one("input", name="csrf")["type"] == "hidden"
    email = tags.one("input", name="email")
    assert email["type"] == "email"
    assert email["autocomplete"] == "username"
    assert email["value"] == "ada@example.com"
    assert "required" in email
    password = tags.one("input", name="password")
    assert password["type"] == "password"
    assert password["autocomplete"] == "current-password"
    assert "required" in password
    assert "value" not in password  # a password is never echoed back
    assert tags.one("label", **{"for": "email"})
    assert tags.one("label", **{"for": "password"})
    assert tags.one("button", type="submit")
    assert "Sign in" in "".join(tags.text)
    assert "Example App" in "".join(tags.text)


def test_login_without_error_has_no_alert(pages):
    html = render(pages, "login.html").text
    assert 'role="alert"' not in html
    assert "aria-describedby" not in html
    assert "aria-invalid" not in html


def test_login_error_is_an_alert_described_to_the_inputs(pages):
    html = render(pages, "login.html", error="Wrong email or password.").text
    tags = Tags(html)
    alert = tags.one("div", role="alert")
    assert alert["id"]
    assert html.count('role="alert"') == 1
    for name in ("email", "password"):
        field = tags.one("input", name=name)
        assert field["aria-describedby"] == alert["id"]
        assert field["aria-invalid"] == "true"
    assert "Wrong email or password." in "".join(tags.text)


@pytest.mark.parametrize(("seconds", "words"), [(30, "30 seconds"), (1, "1 second.")])
def test_login_rate_limited(pages, seconds, words):
    html = render(pages, "login.html", retry_after=seconds).text
    text = " ".join("".join(Tags(html).text).split())
    assert f"Too many attempts, try again in {words}" in text
    assert html.count('role="alert"') == 1


# --- consent ------------------------------------------------------------------------------------


def test_consent_form(pages):
    tags = Tags(render(pages, "consent.html").text)
    form = tags.one("form")
    assert form["method"] == "post"
    assert form["action"] == "/t/default/consent"
    assert tags.one("input", name="interaction")["value"] == "int-123"
    assert tags.one("input", name="csrf")["value"] == "csrf-456"
    buttons = tags.find("button", name="decision")
    assert [(b["type"], b["value"]) for b in buttons] == [("submit", "allow"), ("submit", "deny")]
    text = "".join(tags.text)
    for word in ("Allow", "Deny", "Example App", "ada@example.com", "orders:read"):
        assert word in text
    assert "Read your orders" in text
    assert not tags.alerts()


def test_consent_with_no_scopes_still_renders(pages):
    tags = Tags(render(pages, "consent.html", scopes=[]).text)
    assert not tags.find("ul")
    assert len(tags.find("button", name="decision")) == 2


# --- error, logout, logged out ------------------------------------------------------------------


def test_error_page(pages):
    response = render(pages, "error.html")
    tags = Tags(response.text)
    assert not tags.find("form")
    assert not tags.find("a")  # the server must not send the user on anywhere
    text = "".join(tags.text)
    assert "Unknown application" in text
    assert "not registered" in text
    assert "invalid_client" in text


def test_error_page_status(pages):
    response = pages.render("error.html", status=400, **error_ctx())
    assert response.status_code == 400


@pytest.mark.parametrize("client_name", ["Example App", None])
def test_logout_confirmation(pages, client_name):
    tags = Tags(render(pages, "logout.html", client_name=client_name).text)
    form = tags.one("form")
    assert form["action"] == "/t/default/logout"
    assert tags.one("input", name="logout") == {
        "type": "hidden",
        "name": "logout",
        "value": "lo-789",
    }
    assert tags.one("input", name="csrf")["value"] == "csrf-456"
    buttons = tags.find("button", name="decision")
    assert [b["value"] for b in buttons] == ["logout", "stay"]
    text = "".join(tags.text)
    assert "Sign out" in text
    assert "Stay signed in" in text
    assert ("Example App" in text) is (client_name is not None)
    assert "None" not in text


def test_logged_out(pages):
    tags = Tags(render(pages, "logged_out.html").text)
    assert "You are signed out." in "".join(tags.text)
    assert not tags.find("form")


# --- stylesheet ---------------------------------------------------------------------------------


async def test_stylesheet_endpoint(pages):
    app = Starlette(routes=[Route("/assets/tessera.css", pages.stylesheet_endpoint)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8800") as http:
        response = await http.get("/assets/tessera.css")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/css; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert response.headers["x-content-type-options"] == "nosniff"
    css = response.text
    assert "prefers-color-scheme: dark" in css
    assert ":focus-visible" in css
    # Nothing is fetched from elsewhere: no web fonts, no remote images.
    assert "@import" not in css
    assert "url(" not in css
    assert "@font-face" not in css
