"""Accounts, sessions, tokens, access rules and the throttle, without a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from spacerunner.auth import TeamFiles
from spacerunner.auth.access import AccessStore, SpaceAccess, Visibility
from spacerunner.auth.accounts import AccountStore
from spacerunner.auth.gate import Gate
from spacerunner.auth.identity import ANONYMOUS, SERVER_ADMIN, Identity
from spacerunner.auth.throttle import Throttle
from spacerunner.errors import AccountError
from spacerunner.proxy.gate import Verdict, cookie_value, without_cookie


def test_passwords_are_stored_as_argon2_hashes(tmp_path: Path) -> None:
    store = AccountStore(tmp_path / "accounts.json")
    store.add("alice", "a long password", groups=["staff", "staff"])
    text = (tmp_path / "accounts.json").read_text()
    assert "a long password" not in text
    assert "$argon2id$" in text
    assert (tmp_path / "accounts.json").stat().st_mode & 0o777 == 0o600
    assert store.verify_password("alice", "a long password") is not None
    assert store.verify_password("alice", "A long password") is None
    assert store.verify_password("nobody", "a long password") is None
    assert store.get("alice").groups == ("staff",)  # type: ignore[union-attr]
    with pytest.raises(AccountError, match="already exists"):
        store.add("alice", "another password")
    with pytest.raises(AccountError, match="at least 8"):
        store.add("bob", "short")
    with pytest.raises(AccountError, match="cannot name a user"):
        store.add("../x", "a long password")


def test_tokens_are_shown_once_and_stored_as_digests(tmp_path: Path) -> None:
    store = AccountStore(tmp_path / "accounts.json")
    store.add("alice", "a long password")
    token = store.create_token("alice", "laptop")
    assert token.split(".")[1] not in (tmp_path / "accounts.json").read_text()
    assert store.verify_token(token).name == "alice"  # type: ignore[union-attr]
    assert store.verify_token(token + "x") is None
    assert store.verify_token("sr_nothing.here") is None
    [info] = store.tokens("alice")
    assert info.name == "laptop"
    store.remove("alice")
    assert store.verify_token(token) is None  # removed with their account
    assert store.tokens() == []


def test_sessions_end_with_their_age_their_password_and_their_key(tmp_path: Path) -> None:
    files = TeamFiles(tmp_path)
    gate = Gate.of(files, "server-token")
    gate.accounts.add("alice", "a long password", groups=["staff"])
    alice = gate.accounts.get("alice")
    assert alice is not None
    session = gate.sessions.issue(alice.identity)
    assert gate.sessions.read(session) == Identity("alice", "", frozenset({"staff"}), False)
    assert gate.sessions.read(gate.sessions.issue(SERVER_ADMIN)) == SERVER_ADMIN
    gate.sessions.max_age = -1
    assert gate.sessions.read(session) is None  # expired
    gate.sessions.max_age = 3600
    assert Gate.of(files, "server-token").sessions.read(session) is not None  # key kept
    assert (
        Gate.of(files, "another-token").sessions.read(gate.sessions.issue(SERVER_ADMIN)) is None
    )  # a new management token ends the token's sessions
    gate.accounts.set_password("alice", "a new long password")
    assert gate.sessions.read(session) is None


def test_access_rules() -> None:
    member = Identity("mia", groups=frozenset({"staff"}))
    owner = Identity("olly")
    admin = Identity("ada", admin=True)
    by_group = SpaceAccess(Visibility.PRIVATE, ("staff",))
    assert by_group.may_see(member) and by_group.may_manage(member)
    assert not by_group.may_see(owner)
    private = SpaceAccess(Visibility.PRIVATE, ("olly",))
    assert [private.may_see(w) for w in (ANONYMOUS, member, owner, admin)] == [
        False,
        False,
        True,
        True,
    ]
    protected = SpaceAccess(Visibility.PROTECTED)
    assert not protected.may_see(ANONYMOUS)
    assert protected.may_see(member) and not protected.may_manage(member)
    assert SpaceAccess(Visibility.PUBLIC).may_see(ANONYMOUS)


def test_access_store_keeps_what_is_not_changed(tmp_path: Path) -> None:
    store = AccessStore(tmp_path / "access.json", Visibility.PROTECTED)
    assert store.get("demo") == SpaceAccess(Visibility.PROTECTED)
    store.set("demo", owners=("olly",))
    assert store.get("demo") == SpaceAccess(Visibility.PROTECTED, ("olly",))
    store.set("demo", visibility=Visibility.PRIVATE)
    assert store.get("demo") == SpaceAccess(Visibility.PRIVATE, ("olly",))
    (tmp_path / "access.json").write_text('{"spaces": {"demo": {"visibility": "secret"}}}')
    assert store.get("demo").visibility is Visibility.PRIVATE  # damaged: hidden, not exposed


def test_the_gate_decides_for_the_proxy(tmp_path: Path) -> None:
    gate = Gate.of(TeamFiles(tmp_path), "server-token")
    gate.accounts.add("mia", "a long password", email="mia@example.org")
    gate.access.set("prot", visibility=Visibility.PROTECTED)
    gate.access.set("priv", visibility=Visibility.PRIVATE)
    assert gate.admit("prot", None, None).verdict is Verdict.SIGN_IN
    assert gate.admit("priv", None, None).verdict is Verdict.HIDE
    mia = gate.accounts.get("mia")
    assert mia is not None
    cookie = b"a=1; spacerunner_session=" + gate.sessions.issue(mia.identity).encode()
    admitted = gate.admit("prot", cookie, None)
    assert admitted.verdict is Verdict.PASS
    assert dict(admitted.headers) == {
        b"X-Forwarded-User": b"mia",
        b"X-Forwarded-Email": b"mia@example.org",
    }
    assert gate.admit("priv", cookie, None).verdict is Verdict.HIDE
    assert gate.admit("priv", None, b"Bearer server-token").credential
    assert cookie_value(cookie, b"a") == b"1"
    assert without_cookie(cookie, b"spacerunner_session") == b"a=1"
    assert without_cookie(b"spacerunner_session=x", b"spacerunner_session") == b""


def test_the_throttle_doubles_after_three_failures() -> None:
    now = [0.0]
    throttle = Throttle(clock=lambda: now[0])
    keys = ("user:mia", "client:10.0.0.1")
    for _ in range(3):
        throttle.failed(keys)
    assert throttle.wait(keys) == 0
    throttle.failed(keys)
    assert throttle.wait(keys) == 2.0
    throttle.failed(keys)
    assert throttle.wait(["user:mia"]) == 4.0
    assert throttle.wait(["client:10.0.0.2"]) == 0  # other clients and accounts are not held
    now[0] = 10.0
    assert throttle.wait(keys) == 0
    throttle.succeeded(keys)
    throttle.failed(keys)
    assert throttle.wait(keys) == 0
