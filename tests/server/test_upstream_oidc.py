"""Sign-in through an upstream OpenID Connect provider, with authlib as the client. The test
provider is spacerunner's own OpenID endpoints (discovery, token, userinfo, keys) behind an
authorize that approves a fixed person: a real code flow over HTTP, real signed ID tokens."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
import uvicorn
from helpers import LoopThread
from serving import CURRENT, Server, http_space
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from spacerunner.auth import TeamFiles
from spacerunner.auth.accounts import AccountStore
from spacerunner.auth.identity import Identity
from spacerunner.auth.provider import Clients, Provider, load_signing_key
from spacerunner.auth.upstream import UpstreamOIDC, from_claims
from spacerunner.errors import AccountError
from spacerunner.server.oidc import provider_routes
from spacerunner.server.serve import Portfolio, ServeOptions
from spacerunner.supervisor import Policy

PERSON = Identity(
    "Mia.Lopez", "mia@corp.example", frozenset({"staff", "spacerunner-admins"}), False
)


class UpstreamIdP:
    def __init__(self, loop: LoopThread, root: Path) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        files = TeamFiles(root)
        self.provider = Provider(
            Clients(files.oauth_clients), load_signing_key(files.signing_key), lambda: self.base
        )
        self.client = self.provider.clients.for_space("team-server")
        self.refuse = False

        async def authorize(request: Request) -> Response:
            query = request.query_params
            back = query["redirect_uri"]
            if self.refuse or query.get("client_id") != self.client.id:
                params = {"error": "access_denied", "state": query.get("state", "")}
                return RedirectResponse(f"{back}?{urlencode(params)}", 303)
            code = self.provider.issue_code(
                self.client,
                PERSON,
                scopes=tuple(query["scope"].split()),
                redirect_uri=back,
                nonce=query.get("nonce"),
                challenge=query.get("code_challenge"),
                lifetime=3600,
            )
            params = {"code": code, "state": query.get("state", "")}
            return RedirectResponse(f"{back}?{urlencode(params)}", 303)

        app = Starlette(
            routes=[*provider_routes(self.provider), Route("/oauth/authorize", authorize)]
        )
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.loop = loop
        self.task = loop.submit(self.server.serve(sockets=[sock]))

    def close(self) -> None:
        self.server.should_exit = True
        self.task.result(10)


@pytest.fixture
def team(loop_thread: LoopThread, tmp_path: Path) -> Iterator[tuple[Server, UpstreamIdP]]:
    idp = UpstreamIdP(loop_thread, tmp_path / "idp")
    http_space(tmp_path / "spaces", "app")
    secret_file = tmp_path / "client-secret"
    secret_file.write_text(idp.client.secret + "\n")
    options = ServeOptions(
        dirs=(tmp_path / "spaces",),
        port=0,
        policy=Policy(health_interval=0, watch=False),
        state_dir=tmp_path / "state",
        spaces=CURRENT,
        upstream=UpstreamOIDC(
            issuer=idp.base,
            client_id=idp.client.id,
            client_secret=secret_file.read_text().strip(),
            admin_group="spacerunner-admins",
        ),
    )
    server = Server(loop_thread, Portfolio(options))
    yield server, idp
    server.close()
    idp.close()


def sign_in(server: Server, idp: UpstreamIdP) -> httpx.Client:
    browser = httpx.Client(base_url=server.base)
    start = browser.get("/signin/oidc", params={"next": "/space/app"})
    assert start.status_code == 302, start.text
    assert start.headers["location"].startswith(idp.base + "/oauth/authorize?")
    approved = httpx.get(start.headers["location"])
    assert approved.status_code == 303
    back = approved.headers["location"]
    assert back.startswith(f"{server.base}/signin/oidc/callback?")
    return browser, browser.get(back.removeprefix(server.base))


def test_people_sign_in_with_the_upstream_provider(team) -> None:
    server, idp = team
    page = httpx.get(f"{server.base}/signin").text
    assert f"Sign in with 127.0.0.1:{idp.base.rsplit(':', 1)[1]}" in page
    browser, done = sign_in(server, idp)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/space/app"
    me = browser.get("/api/whoami").json()
    assert me == {
        "name": "mia.lopez",
        "email": "mia@corp.example",
        "groups": ["spacerunner-admins", "staff"],
        "admin": True,
        "signed_in": True,
    }
    # an admin by the provider's groups: may act on Spaces
    assert browser.get("/api/spaces/app/logs").status_code == 200
    # the account exists here now, without a password, marked with its provider
    account = AccountStore(TeamFiles(server.portfolio.options.state_dir).accounts).get("mia.lopez")
    assert account is not None and account.groups == ("spacerunner-admins", "staff")
    # API tokens work for such accounts too
    origin = {"Origin": server.base}
    assert browser.post("/api/tokens", content=b"{", headers=origin).status_code == 400
    token = browser.post("/api/tokens", headers=origin).json()["token"]
    assert (
        httpx.get(f"{server.base}/api/whoami", headers={"Authorization": f"Bearer {token}"}).json()[
            "name"
        ]
        == "mia.lopez"
    )


def test_a_refused_or_forged_upstream_sign_in_signs_no_one_in(team) -> None:
    server, idp = team
    idp.refuse = True
    browser, done = sign_in(server, idp)
    assert done.status_code == 401
    assert "refused the sign-in" in done.text
    assert browser.get("/api/whoami").json()["signed_in"] is False
    idp.refuse = False
    # a callback with a code but another browser's state: refused
    other = httpx.Client(base_url=server.base)
    start = other.get("/signin/oidc")
    approved = httpx.get(start.headers["location"])
    stranger = httpx.get(approved.headers["location"])
    assert stranger.status_code == 401
    assert "spacerunner_session" not in stranger.cookies


def test_a_local_account_is_never_taken_over(team) -> None:
    server, idp = team
    AccountStore(TeamFiles(server.portfolio.options.state_dir).accounts).add(
        "mia.lopez", "a local password"
    )
    _, done = sign_in(server, idp)
    assert done.status_code == 403
    assert "is an account of this server" in done.text


def test_claims_map_to_names_and_groups() -> None:
    settings = UpstreamOIDC("https://id.example", "c", "s", admin_group="Admins")
    person = from_claims(
        settings, {"sub": "1", "email": "Ann.Lee@x.org", "groups": ["/corp/Admins", "Data Team"]}
    )
    assert (person.name, person.groups, person.admin) == ("ann.lee", ("admins", "data-team"), True)
    assert from_claims(settings, {"sub": "u-42"}).name == "u-42"
    with pytest.raises(AccountError, match="names no one"):
        from_claims(settings, {"groups": "a b"})
