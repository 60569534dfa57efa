"""What a person sees while Spaces build, start and fail, in Debian's Chromium: the build's
output live on the Space's page, the badge turning to running as the app becomes ready, a
failure's cause on its card and page. Screenshots land in artifacts/."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from browser import ARTIFACTS, CHROMIUM, FLAGS, require_chromium
from helpers import SPACES, LoopThread

from spacerunner.envs import EnvBuilder, EnvMode
from spacerunner.launcher import SpaceSettings
from spacerunner.server.serve import Portfolio, ServeOptions
from spacerunner.supervisor import Policy

pytestmark = pytest.mark.slow
HTTP_APP = (SPACES / "http-app" / "server.py").read_text()

# The pill's text and the time it changed, as the page shows them.
WATCH_STATE = """() => {
  window.stateSeen = [];
  const pill = document.getElementById("state");
  new MutationObserver(() => window.stateSeen.push([pill.textContent, Date.now()]))
    .observe(pill, {childList: true, characterData: true, subtree: true});
}"""


def space(root: Path, name: str, app: str, six: str) -> None:
    """A Space with an environment of its own (built here: ``six`` at that version)."""
    path = root / name
    path.mkdir(parents=True)
    (path / "README.md").write_text(
        f"---\ntitle: {name}\nemoji: 🧪\nsdk: gradio\nsdk_version: 6.31.0\n"
        "app_file: server.py\n---\n"
    )
    (path / "requirements.txt").write_text(f"six=={six}\n")
    (path / "server.py").write_text(app)


def test_build_start_and_failure_as_a_browser_shows_them(
    loop_thread: LoopThread, tmp_path: Path
) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    spaces = tmp_path / "spaces"
    space(spaces, "demo", "import time\ntime.sleep(1.5)\n" + HTTP_APP, "1.16.0")
    space(
        spaces,
        "broken",
        "print('loading the model...', flush=True)\n"
        "raise RuntimeError('model weights not found')\n",
        "1.17.0",
    )
    portfolio = Portfolio(
        ServeOptions(
            dirs=(spaces,),
            port=0,
            token="t0ken",
            state_dir=tmp_path / "state",
            policy=Policy(health_interval=0, watch=False, max_crashes=0),
            spaces=SpaceSettings(env_mode=EnvMode.ISOLATED, builder=EnvBuilder(tmp_path / "envs")),
        )
    )
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            loop_thread.run(portfolio.start())  # the environment builds from now on
            base = portfolio.url
            page.goto(f"{base}/login?token=t0ken")
            page.goto(f"{base}/space/demo")
            page.evaluate(WATCH_STATE)
            # building: its output streams on its page before it is ready
            # building (its turn may come after the other Space's build): its output streams
            # on its page before it is ready
            expect(page.locator("#boot-title")).to_have_text("Building: demo", timeout=20_000)
            expect(page.locator("#boot-log")).to_contain_text("+ six==1.16.0", timeout=120_000)
            assert page.locator("#state").text_content() == "building"
            page.screenshot(path=str(ARTIFACTS / "observe-building.png"))
            # then the app, by itself, once ready; the badge follows within a second
            expect(page.locator("#state")).to_have_text("running", timeout=120_000)
            expect(page.locator("iframe#app")).to_be_visible()
            expect(page.locator("#boot")).to_be_hidden()
            facts = httpx.get(f"{base}/api/spaces/demo").json()
            seen = page.evaluate("window.stateSeen")
            shown = next(at for text, at in seen if text == "running") / 1000
            assert 0 <= shown - facts["ready_at"] < 1.0, (seen, facts["ready_at"])
            assert [t for t, _ in seen][-2:] == ["starting", "running"], seen
            frame = page.frame_locator("iframe#app")
            expect(frame.locator("body")).to_contain_text('"SPACE_ID": "local/demo"')
            page.screenshot(path=str(ARTIFACTS / "observe-running.png"))
            # a failing Space: the traceback's last line on its page and its card
            page.goto(f"{base}/space/broken")
            expect(page.locator("#boot-title")).to_have_text("Failed: broken", timeout=120_000)
            expect(page.locator("#boot-why")).to_contain_text(
                "RuntimeError: model weights not found"
            )
            expect(page.locator("#boot-log")).to_contain_text("loading the model...")
            page.screenshot(path=str(ARTIFACTS / "observe-failed-page.png"))
            page.goto(f"{base}/")
            card = page.locator('.card[data-name="broken"]')
            expect(card.locator('[data-role="why"]')).to_contain_text(
                "RuntimeError: model weights not found"
            )
            expect(page.locator('.card[data-name="demo"] [data-role="memory"]')).to_contain_text(
                "iB"
            )
            page.screenshot(path=str(ARTIFACTS / "observe-gallery.png"))
            # a phone-sized screen still shows "Open app" and "Logs"
            page.set_viewport_size({"width": 390, "height": 844})
            page.goto(f"{base}/space/demo")
            for name in ("Open app ↗", "Logs"):
                link = page.get_by_role("link", name=name)
                expect(link).to_be_visible()
                box = link.bounding_box()
                assert box is not None and box["x"] + box["width"] <= 390
            page.screenshot(path=str(ARTIFACTS / "observe-phone.png"))
        finally:
            browser.close()
            loop_thread.run(portfolio.close())
