"""The ``tessera`` command line (typer + rich). ``--json`` gives machine-readable output."""

from __future__ import annotations

import json
import time
import uuid
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tessera.errors import TesseraError
from tessera.jose import ALGORITHMS, KeySet, SigningKey, encode_jwt, peek_unverified_header
from tessera.verify import Verifier

app = typer.Typer(
    name="tessera",
    help="Tessera: a token authority and a strict token verifier.",
    no_args_is_help=True,
    add_completion=False,
)
keys_app = typer.Typer(help="Signing keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
# The server's commands live in their own module; registering them here keeps one entry point.
from tessera.cli_server import register  # noqa: E402 - after the apps it extends

register(app, keys_app)
from tessera.cli_users import users_commands  # noqa: E402 - after the app it extends

users_app = typer.Typer(help="Users of a tenant (people who log in).", no_args_is_help=True)
app.add_typer(users_app, name="users")
users_commands(users_app)

_ASYMMETRIC = sorted(n for n, a in ALGORITHMS.items() if not a.symmetric)


def _console() -> Console:
    return Console(highlight=False)


@app.command()
def demo(
    alg: Annotated[str, typer.Option(help="Signing algorithm.")] = "ES256",
    issuer: Annotated[str, typer.Option(help="Issuer URL.")] = "http://127.0.0.1:8800/t/default",
    audience: Annotated[str, typer.Option(help="Audience.")] = "https://api.example.test",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Generate a key, issue an RFC 9068 access token, verify it strictly, show the result.

    Also shows three forged variants being refused (alg none, tampered claims, foreign key).
    """
    if alg not in _ASYMMETRIC:
        raise typer.BadParameter(f"choose one of {', '.join(_ASYMMETRIC)}")
    key = SigningKey.generate(alg)
    jwks = KeySet([key.public]).to_jwks()
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": "client:demo",
        "aud": audience,
        "exp": now + 300,
        "nbf": now,
        "iat": now,
        "jti": str(uuid.uuid4()),
        "client_id": "demo",
        "scope": "data:read",
        "tenant_id": "default",
    }
    token = encode_jwt(claims, key)
    verifier = Verifier(issuer=issuer, audience=audience, algorithms=[alg], keys=jwks)
    verified = verifier.verify(token)

    header_b64, payload_b64, _sig = token.split(".")
    forged_none = "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0." + payload_b64 + "."
    tampered = header_b64 + "." + payload_b64[:-2] + "AA" + "." + _sig
    foreign = encode_jwt(claims, SigningKey.generate(alg, kid=key.kid))
    refusals = {}
    for name, forged in (("alg none", forged_none), ("tampered", tampered), ("foreign", foreign)):
        try:
            verifier.verify(forged)
            refusals[name] = "ACCEPTED (bug)"
        except TesseraError as exc:
            refusals[name] = exc.code

    if as_json:
        out = {
            "jwks": jwks,
            "header": peek_unverified_header(token),
            "claims": dict(verified),
            "refused": refusals,
        }
        typer.echo(json.dumps(out, indent=2, default=list))
        return
    console = _console()
    console.print(f"[bold]Signing key[/] {alg}, kid {key.kid}")
    console.print("[bold]Public JWKS[/]")
    console.print_json(json.dumps(jwks))
    console.print("[bold]Token header[/]")
    console.print_json(json.dumps(peek_unverified_header(token)))
    table = Table("claim", "verified value", title="Verified claims")
    for name, value in verified.items():
        table.add_row(name, str(value))
    console.print(table)
    console.print(f"scope as a set: {sorted(verified.scope)}")
    for name, code in refusals.items():
        console.print(f"forged token ({name}) refused: [bold]{code}[/]")


@keys_app.command("generate")
def keys_generate(
    alg: Annotated[str, typer.Option(help="Signing algorithm.")] = "ES256",
    private: Annotated[
        bool, typer.Option("--private", help="Print the PRIVATE JWK (keep it secret).")
    ] = False,
) -> None:
    """Generate a signing key and print its public JWK (or, with --private, the private one)."""
    if alg not in _ASYMMETRIC:
        raise typer.BadParameter(f"choose one of {', '.join(_ASYMMETRIC)}")
    key = SigningKey.generate(alg)
    jwk = key.export_private_jwk() if private else key.public.to_jwk()
    typer.echo(json.dumps(jwk, indent=2))


def main() -> None:  # pragma: no cover - console entry point
    app()
