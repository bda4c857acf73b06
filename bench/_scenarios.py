"""The points of ``python -m bench.server``: which servers, what load, in what order.

- ``issuance``: ES256 RFC 9068 JWTs (client_credentials, Basic auth) at 1, 8, 32
  connections, every server pinned to core 0 and wrk to core 1;
- ``issuance-2w``: issuance at 32 connections with Tessera on 2 worker processes, nothing
  pinned (Tessera's workers, the peer's single process and wrk share both cores);
- ``introspection``: opaque tokens at 1, 8, 32 connections, pinned as issuance; wrk cycles
  through a pool of freshly minted tokens;
- ``refresh``: the refresh grant with rotation at 1, 8, 32 connections, pinned as issuance;
  one chain per connection, each request sending the refresh token the previous answer gave
  (:mod:`bench._refresh`, :class:`bench._load.Chain`).

Each server is checked once by hand first, so both are known to do the same work.
"""

from __future__ import annotations

import base64
import json
from functools import partial
from typing import Any

from bench._load import Chain, Load
from bench._measure import ALL_CORES, LOAD_CORES, SERVER_CORES, Feed, Run, log, measure
from bench._procs import free_port
from bench._refresh import (
    REFRESH_BODY_PREFIX,
    REFRESH_SCOPE,
    Refresher,
    peer_refresher,
    tessera_refresher,
)
from bench._servers import (
    API,
    ISSUE_BODY,
    OPAQUE_API,
    SCOPE,
    Target,
    TesseraHome,
    ensure_peer_installed,
    mint,
    peer_target,
    post_form,
    start_peer,
    start_tessera,
    tessera_home,
    tessera_target,
)

__all__ = [
    "CONCURRENCY",
    "FORM",
    "INTROSPECT",
    "ISSUE",
    "ISSUE_2W",
    "REFRESH",
    "SCENARIOS",
    "check_refresh",
    "check_target",
    "introspect_feed",
    "issue_feed",
    "refresh_feed",
    "run_bench",
    "start_single_uvicorn",
]

CONCURRENCY = (1, 8, 32)
FORM = "application/x-www-form-urlencoded"
ISSUE = "issuance"
ISSUE_2W = "issuance 2w"
INTROSPECT = "introspection"
REFRESH = "refresh"
# The names ``--only`` takes, in the order they run.
SCENARIOS = {
    "issuance": ISSUE,
    "issuance-2w": ISSUE_2W,
    "introspection": INTROSPECT,
    "refresh": REFRESH,
}


# --------------------------------------------------------------------------- checks


def _b64json(part: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def _jwt(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    head, payload, _ = token.split(".")
    return _b64json(head), _b64json(payload)


def check_target(target: Target) -> dict[str, Any]:
    """One JWT and one introspection by hand: both servers must do the same work."""
    jwt = post_form(target.token_url, target.issuer_client.basic, ISSUE_BODY)["access_token"]
    header, claims = _jwt(jwt)
    if header.get("alg") != "ES256" or header.get("typ") != "at+jwt":
        msg = f"{target.name}: expected an ES256 at+jwt, got header {header}"
        raise RuntimeError(msg)
    if claims.get("aud") != API or set(str(claims.get("scope")).split()) != set(SCOPE.split()):
        msg = f"{target.name}: unexpected claims {sorted(claims)} aud={claims.get('aud')}"
        raise RuntimeError(msg)
    opaque = mint(target.token_url, target.opaque_client, target.opaque_body, 1)[0]
    answer = post_form(target.introspect_url, target.introspector.basic, f"token={opaque}")
    if answer.get("active") is not True or answer.get("aud") not in (OPAQUE_API, [OPAQUE_API]):
        msg = f"{target.name}: introspection answered {answer}"
        raise RuntimeError(msg)
    return {"jwt_bytes": len(jwt), "jwt_claims": sorted(claims), "opaque_bytes": len(opaque)}


def check_refresh(target: Target, refresher: Refresher) -> dict[str, Any]:
    """Two rotations of one chain by hand: a new refresh token each time, an ES256 at+jwt for
    the API, and what ID token comes with it (the summary says whether both servers match)."""
    token = refresher.seed(1)[0]
    answers = []
    for _ in range(2):
        body = REFRESH_BODY_PREFIX + token
        answer = post_form(target.token_url, refresher.client.basic, body)
        if not answer.get("refresh_token") or answer["refresh_token"] == token:
            msg = f"{target.name}: the refresh grant did not rotate: {sorted(answer)}"
            raise RuntimeError(msg)
        token = answer["refresh_token"]
        answers.append(answer)
    answer = answers[-1]
    header, claims = _jwt(answer["access_token"])
    if header.get("alg") != "ES256" or header.get("typ") != "at+jwt" or claims.get("aud") != API:
        msg = f"{target.name}: refresh gave header {header}, aud {claims.get('aud')}"
        raise RuntimeError(msg)
    id_header = _jwt(answer["id_token"])[0] if answer.get("id_token") else {}
    return {
        "access_token_bytes": len(answer["access_token"]),
        "access_token_scope": claims.get("scope"),
        "id_token_alg": id_header.get("alg"),
        "refresh_token_bytes": len(token),
    }


# -------------------------------------------------------------------------- feeds


def issue_feed(target: Target, concurrency: int) -> Feed:
    headers = {"Content-Type": FORM, "Authorization": target.issuer_client.basic}
    load = Load(target.token_url, headers, [ISSUE_BODY], concurrency, 0)
    return Feed(lambda: load)


def introspect_feed(target: Target, concurrency: int, pool_size: int) -> Feed:
    # A fresh pool each time: Tessera's opaque tokens live 5 minutes.
    pool = mint(target.token_url, target.opaque_client, target.opaque_body, pool_size)
    headers = {"Content-Type": FORM, "Authorization": target.introspector.basic}
    load = Load(target.introspect_url, headers, [f"token={t}" for t in pool], concurrency, 0)

    def after() -> None:
        answer = post_form(target.introspect_url, target.introspector.basic, f"token={pool[0]}")
        if answer.get("active") is not True:
            msg = f"{target.name}: pool tokens went inactive during the run"
            raise RuntimeError(msg)

    return Feed(lambda: load, after)


def refresh_feed(target: Target, refresher: Refresher, concurrency: int) -> Feed:
    headers = {"Content-Type": FORM, "Authorization": refresher.client.basic}

    def load() -> Load:
        chain = Chain(REFRESH_BODY_PREFIX, "refresh_token", refresher.seed(concurrency))
        return Load(target.token_url, headers, [], concurrency, 0, chain=chain)

    return Feed(load)


# ---------------------------------------------------------------------------- setup


def start_single_uvicorn(run: Run, log_name: str) -> tuple[Any, int, TesseraHome]:
    """One uvicorn worker of Tessera on the server core, from a fresh home."""
    home = run.workdir / "home"
    port = free_port()
    child = start_tessera(
        home,
        log_level=run.args.log_level,
        port=port,
        workers=1,
        cores=run.cores(SERVER_CORES),
        server="uvicorn",
        log_path=run.workdir / log_name,
    )
    run.children.append(child)
    return child, port, tessera_home(home, run.args.log_level)


def _start_targets(run: Run, seed_port: int | None) -> tuple[list[Target], Target, TesseraHome]:
    """Tessera (uvicorn; granian too if asked) and the peer, all pinned to the server core."""
    args = run.args
    child, port, th = start_single_uvicorn(run, "tessera-uvicorn.log")
    tessera: list[Target] = []
    if args.server in ("uvicorn", "both"):
        tessera.append(tessera_target("tessera", child, port, th))
    if args.server in ("granian", "both"):
        gport = free_port()
        gchild = start_tessera(
            run.workdir / "home",  # the same home: granian serves the same database
            log_level=args.log_level,
            port=gport,
            workers=1,
            cores=run.cores(SERVER_CORES),
            server="granian",
            log_path=run.workdir / "tessera-granian.log",
        )
        run.children.append(gchild)
        tessera.append(tessera_target("tessera-granian", gchild, gport, th))
    pport = free_port()
    pchild = start_peer(run.workdir, pport, run.cores(SERVER_CORES), seed_port)
    run.children.append(pchild)
    return tessera, peer_target(pchild, pport), th


# ---------------------------------------------------------------------------- points


def _issuance_2w(run: Run, tessera: list[Target], peer: Target, th: TesseraHome) -> None:
    log("issuance, Tessera on 2 workers, nothing pinned")
    for target in tessera:
        server = "granian" if target.name.endswith("granian") else "uvicorn"
        port = free_port()
        child = start_tessera(
            th.home,
            log_level=run.args.log_level,
            port=port,
            workers=2,
            cores=None,
            server=server,
            log_path=run.workdir / f"tessera-{server}-2w.log",
        )
        run.children.append(child)
        try:
            two = tessera_target(target.name, child, port, th)
            measure(run, two, ISSUE_2W, 32, None, partial(issue_feed, two, 32))
        finally:
            child.stop()
            run.children.remove(child)
    if run.pinning:
        peer.child.repin(ALL_CORES)
    try:
        measure(run, peer, ISSUE_2W, 32, None, partial(issue_feed, peer, 32))
    finally:
        if run.pinning:
            peer.child.repin(SERVER_CORES)


def run_bench(run: Run, only: list[str]) -> dict[str, Any]:
    """Measure the scenarios in ``only`` (values of :data:`SCENARIOS`), in their order."""
    args = run.args
    log("setting up the peer (node-oidc-provider) and Tessera …")
    peer_version = ensure_peer_installed()
    seed_port = free_port() if REFRESH in only else None
    tessera, peer, th = _start_targets(run, seed_port)
    targets = [*tessera, peer]
    refreshers: dict[str, Refresher] = {}
    if seed_port is not None:
        tessera_refresh = tessera_refresher(th)  # before any server has read the client
        refreshers = {t.name: tessera_refresh for t in tessera}
        refreshers[peer.name] = peer_refresher(seed_port)
    checks = {t.name: check_target(t) for t in targets}
    refresh_checks = {t.name: check_refresh(t, refreshers[t.name]) for t in targets if refreshers}
    load_cores = run.cores(LOAD_CORES)

    if ISSUE in only:
        log(f"issuance ({args.duration:g} s per point, {args.warmup:g} s warm-up)")
        for c in CONCURRENCY:
            for target in targets:
                measure(run, target, ISSUE, c, load_cores, partial(issue_feed, target, c))
    if ISSUE_2W in only:
        _issuance_2w(run, tessera, peer, th)
    if INTROSPECT in only:
        log(f"introspection of opaque tokens (pool of {args.pool}, cycled)")
        for c in CONCURRENCY:
            for target in targets:
                feed = partial(introspect_feed, target, c, args.pool)
                measure(run, target, INTROSPECT, c, load_cores, feed)
    if REFRESH in only:
        log(f"refresh grant with rotation (scope {REFRESH_SCOPE!r}, one chain per connection)")
        for c in CONCURRENCY:
            for target in targets:
                feed = partial(refresh_feed, target, refreshers[target.name], c)
                measure(run, target, REFRESH, c, load_cores, feed)

    return {
        "checks": checks,
        "refresh_checks": refresh_checks,
        "tessera_servers": [t.name for t in tessera],
        "peer_version": peer_version,
    }
