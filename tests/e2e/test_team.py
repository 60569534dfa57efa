"""A team server in Debian's Chromium: sign in, see a private Space appear, restart it from its
page and watch its logs; and an unmodified Gradio app with ``gr.LoginButton()`` under
``hf_oauth: true`` signing in with the server's accounts (the server as its OpenID provider)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from browser import ARTIFACTS, browser_page, require_chromium
from helpers import SPACES, LoopThread

from spacerunner.auth import TeamFiles
from spacerunner.auth.access import AccessStore, Visibility
from spacerunner.auth.accounts import AccountStore
from spacerunner.envs import EnvMode
from spacerunner.launcher import SpaceSettings
from spacerunner.server.serve import Portfolio, ServeOptions
from spacerunner.supervisor import Policy

pytestmark = [pytest.mark.slow]
PASSWORD = "correct horse"


@dataclass
class Team:
    base: str
    port: int
    portfolio: Portfolio


@pytest.fixture
def team(loop_thread: LoopThread, tmp_path: Path) -> Iterator[Team]:
    require_chromium()  # before building anything
    spaces = tmp_path / "spaces"
    shutil.copytree(SPACES / "gradio-oauth", spaces / "login-demo")
    shutil.copytree(SPACES / "http-app", spaces / "secret-plans")
    files = TeamFiles(tmp_path / "state")
    accounts = AccountStore(files.accounts)
    accounts.add("mia", PASSWORD, groups=["staff"], email="mia@example.org")
    AccessStore(files.access).set("secret-plans", visibility=Visibility.PRIVATE, owners=("staff",))
    portfolio = Portfolio(
        ServeOptions(
            dirs=(spaces,),
            port=0,
            state_dir=tmp_path / "state",
            policy=Policy(watch=False),
            spaces=SpaceSettings(env_mode=EnvMode.CURRENT),
        )
    )
    loop_thread.run(portfolio.start())
    yield Team(portfolio.url, portfolio.proxy.port, portfolio)
    loop_thread.run(portfolio.close())


def sign_in(page, name: str = "mia") -> None:
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_sign_in_see_the_private_space_restart_it_and_watch_its_logs(team: Team) -> None:
    from playwright.sync_api import expect

    with browser_page() as page:
        page.goto(team.base + "/")
        expect(page.locator('.card[data-name="login-demo"]')).to_have_count(1)
        expect(page.locator('.card[data-name="secret-plans"]')).to_have_count(0)
        page.get_by_role("link", name="Sign in", exact=True).click()
        sign_in(page)
        expect(page.locator('.card[data-name="secret-plans"]')).to_have_count(1)
        expect(page.locator("header.top")).to_contain_text("mia")
        page.screenshot(path=str(ARTIFACTS / "team-gallery.png"))
        page.locator('.card[data-name="secret-plans"]').click()
        page.wait_for_url(re.compile(r"/space/secret-plans$"))
        expect(page.locator("#state")).to_have_text("running", timeout=30_000)
        pid = page.evaluate("fetch('/api/spaces/secret-plans').then(r => r.json())")["pid"]
        assert pid
        page.get_by_role("button", name="Restart").click()
        expect(page.locator("#state")).to_have_text("running", timeout=30_000)
        page.wait_for_function("() => true", timeout=100)  # let the click's request land
        page.get_by_role("link", name="Logs").click()
        page.wait_for_url(re.compile(r"/space/secret-plans/logs$"))
        expect(page.locator("#log")).to_contain_text("listening on", timeout=15_000)
        page.screenshot(path=str(ARTIFACTS / "team-logs.png"))
        # signed out: the private Space is gone again, its logs too
        page.goto(team.base + "/")
        page.get_by_role("button", name="Sign out").click()
        expect(page.locator('.card[data-name="secret-plans"]')).to_have_count(0)


def test_gradio_login_button_signs_in_with_the_team_accounts(team: Team) -> None:
    from playwright.sync_api import expect

    with browser_page() as page:
        page.goto(f"http://login-demo.localhost:{team.port}/")
        page.wait_for_url(re.compile(r"login-demo\.localhost"))
        greeting = page.locator("#greeting")
        expect(greeting).to_contain_text("Not signed in", timeout=60_000)
        page.get_by_role("button", name=re.compile("Sign in")).click()
        page.wait_for_url(re.compile(r"/signin\?next="), timeout=30_000)
        sign_in(page)
        page.wait_for_url(re.compile(r"login-demo\.localhost"), timeout=30_000)
        expect(greeting).to_contain_text("Hello mia (mia)", timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "team-gradio-oauth.png"))
