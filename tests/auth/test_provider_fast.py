"""The server's OpenID provider through its HTTP endpoints, with a fake backend (no apps)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fakes import fake_supervisor
from joserfc import jwt
from joserfc.jwk import KeySet
from starlette.testclient import TestClient

from spacerunner.auth import TeamFiles
from spacerunner.auth.gate import Gate
from spacerunner.auth.provider import Clients, Provider, load_signing_key, space_variables
from spacerunner.config.model import OAuth
from spacerunner.server.app import build_app

BASE = "http://testserver"
HEADER = (
    "---\nsdk: gradio\napp_file: app.py\nhf_oauth: true\nhf_oauth_scopes: [email]\n{extra}---\n"
)


@pytest.fixture
def oidc(tmp_path: Path):
    spaces = tmp_path / "spaces"
    for name, extra in (("demo", ""), ("staff-only", "hf_oauth_authorized_org: staff\n")):
        (spaces / name).mkdir(parents=True)
        (spaces / name / "README.md").write_text(HEADER.format(extra=extra))
        (spaces / name / "app.py").write_text("")
    (spaces / "plain").mkdir()
    (spaces / "plain" / "README.md").write_text("---\nsdk: gradio\napp_file: app.py\n---\n")
    (spaces / "plain" / "app.py").write_text("")
    files = TeamFiles(tmp_path / "state")
    gate = Gate.of(files, "server-token")
    gate.origin = BASE
    provider = Provider(
        Clients(files.oauth_clients), load_signing_key(files.signing_key), lambda: BASE
    )
    supervisor, _ = fake_supervisor(spaces, tmp_path)
    supervisor.scan()
    gate.accounts.add("mia", "a long password", groups=["staff"], email="mia@example.org")
    gate.accounts.add("olly", "a long password")
    client = TestClient(
        build_app(supervisor, gate=gate, port=8000, provider=provider), follow_redirects=False
    )
    return client, gate, provider


def signed_in(client: TestClient, gate: Gate, name: str) -> None:
    account = gate.accounts.get(name)
    assert account is not None
    client.cookies.set("spacerunner_session", gate.sessions.issue(account.identity))


def authorize(client: TestClient, provider: Provider, space: str, **extra: str):
    app = provider.clients.for_space(space)
    params = {
        "client_id": app.id,
        "redirect_uri": f"https://{space}.localhost:8000/login/callback?_target_url=%2F",
        "response_type": "code",
        "scope": "openid profile email write-repos",
        "state": "st4te",
        "nonce": "n0nce",
        **extra,
    }
    return client.get("/oauth/authorize", params=params), app, params


def test_a_space_signs_a_person_in_with_the_authorization_code_flow(oidc) -> None:
    client, gate, provider = oidc
    variables = space_variables(provider, "demo", OAuth(enabled=True, scopes=("email",)))
    assert variables["OAUTH_SCOPES"] == "openid profile email"
    assert variables["OPENID_PROVIDER_URL"] == BASE
    meta = client.get("/.well-known/openid-configuration").json()
    assert meta["issuer"] == BASE
    assert meta["token_endpoint"] == BASE + "/oauth/token"
    answer, app, params = authorize(client, provider, "demo")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/signin?next=%2Foauth%2Fauthorize")
    signed_in(client, gate, "mia")
    answer, app, params = authorize(client, provider, "demo")
    back = urlsplit(answer.headers["location"])
    assert (back.scheme, back.netloc, back.path) == (
        "http",
        "demo.localhost:8000",
        "/login/callback",
    )
    query = parse_qs(back.query)
    assert query["state"] == ["st4te"]
    assert query["_target_url"] == ["/"]
    code = query["code"][0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": params["redirect_uri"],
    }
    assert client.post("/oauth/token", data=form, auth=(app.id, "wrong")).status_code == 401
    tokens = client.post("/oauth/token", data=form, auth=(app.id, app.secret)).json()
    assert tokens["scope"] == "openid profile email"  # write-repos is not this Space's
    claims = jwt.decode(tokens["id_token"], KeySet.import_key_set(meta_keys(client))).claims
    assert claims["iss"] == BASE
    assert claims["aud"] == app.id
    assert claims["nonce"] == "n0nce"
    assert claims["preferred_username"] == "mia"
    assert claims["orgs"][0]["name"] == "staff"
    # the code works once
    again = client.post("/oauth/token", data=form, auth=(app.id, app.secret))
    assert again.json()["error"] == "invalid_grant"
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    info = client.get("/oauth/userinfo", headers=bearer).json()
    assert info["email"] == "mia@example.org"
    assert client.get("/oauth/userinfo", headers={"Authorization": "Bearer x"}).status_code == 401


def test_pkce_redirects_and_authorized_orgs(oidc) -> None:
    client, gate, provider = oidc
    signed_in(client, gate, "olly")
    # a return address that is not the Space's own is refused (never redirected to)
    for uri in (
        "https://evil.example/login/callback",
        "https://other.localhost:8000/login/callback",
        "http://testserver/spaces/other/login/callback",
        "javascript:alert(1)",
    ):
        answer, _, _ = authorize(client, provider, "demo", redirect_uri=uri)
        assert answer.status_code == 400, uri
    path_mounted, _, _ = authorize(
        client, provider, "demo", redirect_uri="http://testserver/spaces/demo/login/callback"
    )
    assert path_mounted.status_code == 303
    # a Space that is not hf_oauth has no client here
    plain = provider.clients.for_space("plain")
    assert client.get("/oauth/authorize", params={"client_id": plain.id}).status_code == 400
    # hf_oauth_authorized_org: only its members
    assert authorize(client, provider, "staff-only")[0].status_code == 403
    signed_in(client, gate, "mia")
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    answer, app, params = authorize(
        client,
        provider,
        "staff-only",
        code_challenge=challenge.decode(),
        code_challenge_method="S256",
    )
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": params["redirect_uri"],
        "client_id": app.id,
        "client_secret": app.secret,
        "code_verifier": "w" * 50,
    }
    assert client.post("/oauth/token", data=form).json()["error"] == "invalid_grant"


def meta_keys(client: TestClient) -> dict:
    return client.get("/oauth/jwks").json()
