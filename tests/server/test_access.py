"""Who sees what on a team server, through every door: the gallery, the Space page, the app over
HTTP and WebSocket (by path and by host name), its logs, its actions and the API. Real server,
real sign-ins, real apps; every cell of the matrix asserted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from helpers import SPACES
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from spacerunner.auth import TeamFiles
from spacerunner.auth.access import AccessStore, Visibility
from spacerunner.auth.accounts import AccountStore

PASSWORD = "correct horse"
ROLES = ("anonymous", "member", "owner", "admin")
SPACES_BY_VISIBILITY = {"pub": "public", "prot": "protected", "priv": "private"}

# What each role may do with each Space: "yes", "sign-in" (anonymous: asked to sign in),
# "hidden" (answered as if it did not exist), "no" (seen, but not theirs to manage).
SEE = {
    "anonymous": {"pub": "yes", "prot": "sign-in", "priv": "hidden"},
    "member": {"pub": "yes", "prot": "yes", "priv": "hidden"},
    "owner": {"pub": "yes", "prot": "yes", "priv": "yes"},
    "admin": {"pub": "yes", "prot": "yes", "priv": "yes"},
}
MANAGE = {"anonymous": False, "member": False, "owner": True, "admin": True}


@pytest.fixture
def team(make_server, tmp_path: Path):
    for name in SPACES_BY_VISIBILITY:
        shutil.copytree(SPACES / "whoami-app", tmp_path / "spaces" / name)
    files = TeamFiles(tmp_path / "state")
    accounts = AccountStore(files.accounts)
    accounts.add("mia", PASSWORD, groups=["staff"], email="mia@example.org")
    accounts.add("olly", PASSWORD)
    accounts.add("ada", PASSWORD, admin=True)
    access = AccessStore(files.access)
    for name, visibility in SPACES_BY_VISIBILITY.items():
        access.set(name, visibility=Visibility(visibility), owners=("olly",))
    server = make_server()
    sessions = {"anonymous": {}}
    for role, user in (("member", "mia"), ("owner", "olly"), ("admin", "ada")):
        answer = httpx.post(
            f"{server.base}/signin",
            data={"name": user, "password": PASSWORD, "next": "/"},
            headers={"Origin": server.base},
        )
        assert answer.status_code == 303, answer.text
        sessions[role] = {"spacerunner_session": answer.cookies["spacerunner_session"]}
    return server, sessions, accounts


def host_of(server, space: str) -> str:
    return f"{space}.localhost:{server.portfolio.proxy.port}"


def websocket(server, space: str, cookies: dict[str, str]) -> tuple[int, dict]:
    """The status of a WebSocket handshake to the app (101: open), and its first message."""
    cookie_header = "; ".join(f"{k}={v}" for k, v in cookies.items())
    url = f"{server.base.replace('http', 'ws')}/spaces/{space}/ws"
    try:
        with connect(url, additional_headers={"Cookie": cookie_header} if cookies else {}) as ws:
            return 101, json.loads(ws.recv(timeout=30))
    except InvalidStatus as exc:
        return exc.response.status_code, {}


def test_the_access_matrix(team) -> None:
    server, sessions, _ = team
    html = {"Accept": "text/html"}
    for role in ROLES:
        cookies = sessions[role]
        listed = {
            s["name"]
            for s in httpx.get(f"{server.base}/api/spaces", cookies=cookies).json()["spaces"]
        }
        gallery = httpx.get(f"{server.base}/", cookies=cookies).text
        for space, seen in SEE[role].items():
            cell = f"{role} x {space}"
            visible = seen == "yes"
            # gallery: listed only when visible (a protected Space is not listed to anonymous)
            assert (space in listed) is visible, cell
            assert (f'data-name="{space}"' in gallery) is visible, cell
            # the Space page and its API facts
            page = httpx.get(f"{server.base}/space/{space}", cookies=cookies)
            assert page.status_code == (200 if visible else 404), cell
            api = httpx.get(f"{server.base}/api/spaces/{space}", cookies=cookies)
            assert api.status_code == (200 if visible else 404), cell
            # the app over HTTP, by path and by host name
            for base, host in (
                (f"{server.base}/spaces/{space}", None),
                (server.base, host_of(server, space)),
            ):
                headers = {"Host": host} if host else {}
                app = httpx.get(f"{base}/hello", cookies=cookies, headers=headers, timeout=30)
                browser = httpx.get(
                    f"{base}/hello", cookies=cookies, headers={**headers, **html}, timeout=30
                )
                if visible:
                    assert app.status_code == 200, cell
                    assert app.json()["path"] == "/hello", cell
                elif seen == "sign-in":
                    assert app.status_code == 401, cell
                    assert browser.status_code == 303, cell
                    assert browser.headers["location"].startswith(f"{server.base}/signin?next="), (
                        cell
                    )
                else:
                    assert app.status_code == 404, cell
                    assert browser.status_code == 404, cell
                    missing = httpx.get(
                        f"{base.replace(space, 'no-such-space')}/hello",
                        headers={"Host": host.replace(space, "no-such-space")} if host else {},
                        cookies=cookies,
                    )
                    assert app.text == missing.text.replace("no-such-space", space), cell
            # the app over WebSocket (hidden: refused as for a Space that does not exist)
            status, first = websocket(server, space, cookies)
            expected = {"yes": 101, "sign-in": 401, "hidden": websocket(server, "nope", {})[0]}
            assert status == expected[seen], cell
            if status == 101:
                assert "spacerunner_session" not in first["headers"].get("cookie", ""), cell
            # logs, actions, access settings, secrets
            manage = MANAGE[role] and visible
            refused = 404 if not visible else 401 if role == "anonymous" else 403
            expect = 200 if manage else refused
            logs = httpx.get(f"{server.base}/api/spaces/{space}/logs", cookies=cookies)
            assert logs.status_code == expect, cell
            logs_page = httpx.get(f"{server.base}/space/{space}/logs", cookies=cookies)
            assert logs_page.status_code == (200 if visible else 404), cell
            assert ('id="log"' in logs_page.text) is manage, cell
            assert ('data-action="restart"' in page.text) is manage, cell
            action = httpx.post(
                f"{server.base}/api/spaces/{space}/restart",
                cookies=cookies,
                headers={"Origin": server.base},
                timeout=60,
            )
            assert action.status_code == expect, cell
            rule = httpx.get(f"{server.base}/api/spaces/{space}/access", cookies=cookies)
            assert rule.status_code == expect, cell
            secrets = httpx.get(f"{server.base}/api/spaces/{space}/secrets", cookies=cookies)
            assert secrets.status_code == expect, cell


def test_apps_learn_who_asks_and_forged_identities_are_dropped(team) -> None:
    server, sessions, accounts = team
    forged = {"X-Forwarded-User": "ada", "X-Forwarded-Groups": "admins", "X-Forwarded-Email": "x"}
    anonymous = httpx.get(f"{server.base}/spaces/pub/", headers=forged, timeout=30).json()
    assert not {"x-forwarded-user", "x-forwarded-groups", "x-forwarded-email"} & set(
        anonymous["headers"]
    )
    member = httpx.get(
        f"{server.base}/spaces/pub/",
        headers=forged,
        cookies={**sessions["member"], "app_cookie": "kept"},
        timeout=30,
    ).json()["headers"]
    assert member["x-forwarded-user"] == "mia"
    assert member["x-forwarded-groups"] == "staff"
    assert member["x-forwarded-email"] == "mia@example.org"
    assert member["cookie"] == "app_cookie=kept"  # the app never sees the server's session
    token = accounts.create_token("mia", "script")
    by_token = httpx.get(
        f"{server.base}/spaces/prot/", headers={"Authorization": f"Bearer {token}"}, timeout=30
    ).json()["headers"]
    assert by_token["x-forwarded-user"] == "mia"
    assert "authorization" not in by_token  # a spacerunner credential stays with spacerunner
    apps_own = httpx.get(
        f"{server.base}/spaces/pub/", headers={"Authorization": "Bearer hf_app_token"}, timeout=30
    ).json()["headers"]
    assert apps_own["authorization"] == "Bearer hf_app_token"  # not ours: passed on


def test_tampered_expired_and_revoked_credentials_are_anonymous(team) -> None:
    server, sessions, accounts = team
    good = sessions["owner"]["spacerunner_session"]
    url = f"{server.base}/api/spaces/priv"
    assert httpx.get(url, cookies=sessions["owner"]).status_code == 200
    tampered = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    payload, _, rest = good.partition(".")
    other = httpx.post(
        f"{server.base}/signin",
        data={"name": "mia", "password": PASSWORD},
        headers={"Origin": server.base},
    ).cookies["spacerunner_session"]
    spliced = other.partition(".")[0] + "." + rest  # mia's payload, olly's signature
    for value in (tampered, spliced, "garbage", payload):
        assert httpx.get(url, cookies={"spacerunner_session": value}).status_code == 404, value
    # a changed password ends the sessions signed before it
    accounts.set_password("olly", "a new password")
    assert httpx.get(url, cookies=sessions["owner"]).status_code == 404
    # tokens: right, wrong, revoked; basic auth needs the token's own user
    token = accounts.create_token("ada")
    bearer = {"Authorization": f"Bearer {token}"}
    assert httpx.get(url, headers=bearer).status_code == 200
    assert httpx.get(url, headers={"Authorization": f"Bearer {token}x"}).status_code == 404
    assert httpx.get(url, auth=("ada", token)).status_code == 200
    assert httpx.get(url, auth=("mia", token)).status_code == 404
    accounts.revoke_token(token.split(".")[0].removeprefix("sr_"))
    assert httpx.get(url, headers=bearer).status_code == 404
    assert httpx.get(f"{server.base}/spaces/priv/", headers=bearer).status_code == 404


def test_wrong_passwords_slow_down_sign_in(team) -> None:
    server, _, _ = team

    def attempt(password: str) -> httpx.Response:
        return httpx.post(
            f"{server.base}/signin",
            data={"name": "mia", "password": password},
            headers={"Origin": server.base},
        )

    assert [attempt("wrong").status_code for _ in range(4)] == [401, 401, 401, 401]
    refused = attempt(PASSWORD)  # right, but too soon after four wrong ones
    assert refused.status_code == 429
    assert "Try again in" in refused.text
    # a sign-in form posted from another site is refused
    elsewhere = httpx.post(
        f"{server.base}/signin",
        data={"name": "olly", "password": PASSWORD},
        headers={"Origin": "http://evil.example"},
    )
    assert elsewhere.status_code == 403


def test_a_space_host_name_gets_the_session_through_a_ticket(team) -> None:
    server, sessions, _ = team
    host = host_of(server, "prot")
    first = httpx.get(f"{server.base}/deep/path?x=1", headers={"Host": host, "Accept": "text/html"})
    assert first.status_code == 303
    signin = first.headers["location"]
    assert signin == f"{server.base}/signin?next=" + quote(f"http://{host}/deep/path?x=1", safe="")
    # signed in already at the server: sent on with a ticket for that host
    relay = httpx.get(signin, cookies=sessions["member"])
    assert relay.status_code == 303
    ticket_url = relay.headers["location"]
    assert ticket_url.startswith(f"http://{host}/.spacerunner/session?ticket=")
    path = ticket_url.removeprefix(f"http://{host}")
    taken = httpx.get(server.base + path, headers={"Host": host})
    assert taken.status_code == 303
    assert taken.headers["location"] == "/deep/path?x=1"
    cookie = taken.cookies["spacerunner_session"]
    app = httpx.get(
        f"{server.base}/deep/path?x=1",
        headers={"Host": host},
        cookies={"spacerunner_session": cookie},
        timeout=30,
    )
    assert app.status_code == 200
    assert app.json()["headers"]["x-forwarded-user"] == "mia"
    # a ticket is for its own host only, and a forged one is refused
    other = host_of(server, "pub")
    assert httpx.get(server.base + path, headers={"Host": other}).status_code == 400
    forged = path.replace("ticket=", "ticket=x")
    assert httpx.get(server.base + forged, headers={"Host": host}).status_code == 400
    # never an open redirect
    away = httpx.get(f"{server.base}/signin?next=http://evil.example/", cookies=sessions["member"])
    assert away.headers["location"] == "/"


def test_the_first_admin_comes_from_the_one_time_link(make_server) -> None:
    server = make_server()
    link = server.portfolio.setup_link
    assert link is not None and link.startswith(f"{server.base}/setup?code=")
    assert httpx.get(f"{server.base}/setup?code=wrong").status_code == 401
    assert 'name="password"' in httpx.get(link).text
    code = link.partition("code=")[2]
    form = {"code": code, "name": "root", "password": PASSWORD}
    cross = httpx.post(f"{server.base}/setup", data=form, headers={"Origin": "http://evil.example"})
    assert cross.status_code == 401
    short = httpx.post(
        f"{server.base}/setup", data={**form, "password": "short"}, headers={"Origin": server.base}
    )
    assert short.status_code == 400
    assert "at least 8" in short.text
    made = httpx.post(f"{server.base}/setup", data=form, headers={"Origin": server.base})
    assert made.status_code == 303
    me = httpx.get(f"{server.base}/api/whoami", cookies=made.cookies).json()
    assert (me["name"], me["admin"]) == ("root", True)
    # it works once: now there are accounts
    assert server.portfolio.setup_link is None
    again = httpx.post(
        f"{server.base}/setup", data={**form, "name": "second"}, headers={"Origin": server.base}
    )
    assert again.status_code == 410
