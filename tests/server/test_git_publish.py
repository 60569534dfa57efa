"""Publishing by git push with real git: clone, push an update, a push that would lose edits made
on the server, a broken update, a new Space by push; who may read and who may push."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from helpers import git
from serving import HTTP_APP

from spacerunner.auth import TeamFiles
from spacerunner.auth.access import AccessStore, Visibility
from spacerunner.auth.accounts import AccountStore

PASSWORD = "correct horse"


def space_repo(root: Path, name: str, title: str) -> Path:
    path = root / name
    path.mkdir(parents=True)
    readme = f"---\ntitle: {title}\nsdk: gradio\napp_file: server.py\n---\n"
    (path / "README.md").write_text(readme)
    (path / "server.py").write_text(HTTP_APP)
    git("init", "--quiet", "--initial-branch=main", cwd=path)
    git("add", ".", cwd=path)
    git("commit", "--quiet", "-m", "first", cwd=path)
    return path


@pytest.fixture
def team(make_server, tmp_path: Path):
    spaces = tmp_path / "spaces"
    served = space_repo(spaces, "demo", "Demo")
    files = TeamFiles(tmp_path / "state")
    accounts = AccountStore(files.accounts)
    accounts.add("olly", PASSWORD)
    accounts.add("mia", PASSWORD)
    AccessStore(files.access).set("demo", visibility=Visibility.PUBLIC, owners=("olly",))
    server = make_server(allow_create=True)
    tokens = {name: accounts.create_token(name) for name in ("olly", "mia")}
    return server, served, tokens


def remote(server, name: str, user: str | None = None, token: str | None = None) -> str:
    host = server.base.removeprefix("http://")
    auth = f"{user}:{token}@" if user else ""
    return f"http://{auth}{host}/{name}.git"


def test_clone_push_and_refusals(team, tmp_path: Path) -> None:
    server, served, tokens = team
    work = tmp_path / "work"
    git("clone", "--quiet", remote(server, "demo"), str(work))  # public: anyone may read
    assert (work / "README.md").read_text().startswith("---\ntitle: Demo")
    # an update by its owner: the server's folder follows, the page shows the new title
    readme = work / "README.md"
    readme.write_text(readme.read_text().replace("title: Demo", "title: Demo, pushed"))
    git("commit", "--quiet", "-am", "new title", cwd=work)
    anonymous = git("push", remote(server, "demo"), "main", cwd=work, check=False)
    assert anonymous.returncode != 0
    assert "could not read Username" in anonymous.stderr  # the 401 asked git for credentials
    member = git(
        "push", remote(server, "demo", "mia", tokens["mia"]), "main", cwd=work, check=False
    )
    assert member.returncode != 0
    assert "403" in member.stderr
    wrong = git(
        "push", remote(server, "demo", "olly", tokens["mia"]), "main", cwd=work, check=False
    )
    assert wrong.returncode != 0  # a token is its own user's only
    git("push", "--quiet", remote(server, "demo", "olly", tokens["olly"]), "main", cwd=work)
    assert "title: Demo, pushed" in (served / "README.md").read_text()
    server.wait_for(lambda: server.facts("demo")["title"] == "Demo, pushed")
    # an edit made on the server is never lost: git refuses the push and says why
    (served / "server.py").write_text("# edited on the server\n" + HTTP_APP)
    (work / "notes.txt").write_text("more\n")
    git("add", "notes.txt", cwd=work)
    git("commit", "--quiet", "-m", "notes", cwd=work)
    refused = git(
        "push", remote(server, "demo", "olly", tokens["olly"]), "main", cwd=work, check=False
    )
    assert refused.returncode != 0
    assert "unstaged changes" in refused.stderr or "dirty" in refused.stderr, refused.stderr
    assert (served / "server.py").read_text().startswith("# edited on the server")
    assert not (served / "notes.txt").exists()


def test_a_broken_update_is_shown_with_its_reason(team, tmp_path: Path) -> None:
    server, _, tokens = team
    work = tmp_path / "work"
    git("clone", "--quiet", remote(server, "demo"), str(work))
    (work / "README.md").write_text("---\nsdk: gradoi\napp_file: server.py\n---\n")
    git("commit", "--quiet", "-am", "typo", cwd=work)
    git("push", "--quiet", remote(server, "demo", "olly", tokens["olly"]), "main", cwd=work)
    server.wait_for(lambda: server.facts("demo")["state"] == "error")
    assert "sdk" in server.facts("demo")["reason"]


def test_a_pushed_revision_takes_over_a_running_space_and_a_broken_one_does_not(
    team, tmp_path: Path
) -> None:
    server, served, tokens = team
    page = f"{server.base}/spaces/demo/env"
    assert httpx.get(page, timeout=30).status_code == 200
    first = server.facts("demo")
    head = lambda where: git("rev-parse", "--short=12", "HEAD", cwd=where).stdout.strip()  # noqa: E731
    assert first["revision"] == head(served)
    work = tmp_path / "work"
    git("clone", "--quiet", remote(server, "demo"), str(work))
    (work / "server.py").write_text("print('revision two', flush=True)\n" + HTTP_APP)
    git("commit", "--quiet", "-am", "two", cwd=work)
    push = remote(server, "demo", "olly", tokens["olly"])
    git("push", "--quiet", push, "main", cwd=work)
    server.wait_for(lambda: server.facts("demo")["revision"] == head(work), timeout=60)
    second = server.facts("demo")
    assert second["state"] == "running" and second["pid"] != first["pid"]
    assert second["build"]["state"] == "done" and second["build"]["revision"] == head(work)
    # a revision that cannot start: the one running keeps serving
    (work / "server.py").write_text("raise SystemExit('broken on purpose')\n" + HTTP_APP)
    git("commit", "--quiet", "-am", "broken", cwd=work)
    git("push", "--quiet", push, "main", cwd=work)
    server.wait_for(lambda: server.facts("demo")["build"]["state"] == "failed", timeout=60)
    third = server.facts("demo")
    assert third["pid"] == second["pid"] and third["revision"] == second["revision"]
    assert third["build"]["revision"] == head(work)
    assert (
        "broken on purpose"
        in httpx.get(f"{server.base}/api/spaces/demo/logs/run", headers=server.admin()).text
    )
    assert httpx.get(page, timeout=30).status_code == 200


def test_a_push_to_a_new_name_creates_a_space_owned_by_the_pusher(team, tmp_path: Path) -> None:
    server, _, tokens = team
    fresh = space_repo(tmp_path / "mine", "fresh", "Fresh")
    anonymous = git("push", remote(server, "fresh"), "main", cwd=fresh, check=False)
    assert anonymous.returncode != 0
    git("push", "--quiet", remote(server, "fresh", "mia", tokens["mia"]), "main", cwd=fresh)
    server.wait_for(lambda: "fresh" in server.supervisor.spaces)
    assert server.facts("fresh")["title"] == "Fresh"
    answer = httpx.get(f"{server.base}/spaces/fresh/env", timeout=30)
    assert answer.status_code == 200
    assert answer.json()["env"]["SPACE_TITLE"] == "Fresh"
    rule = httpx.get(
        f"{server.base}/api/spaces/fresh/access",
        headers={"Authorization": f"Bearer {tokens['mia']}"},
    )
    assert rule.json()["owners"] == ["mia"]


def test_private_spaces_are_cloned_by_their_owners_only(team, tmp_path: Path) -> None:
    server, _, tokens = team
    AccessStore(TeamFiles(server.portfolio.options.state_dir).access).set(
        "demo", visibility=Visibility.PRIVATE
    )
    anonymous = git("clone", remote(server, "demo"), str(tmp_path / "a"), check=False)
    assert anonymous.returncode != 0
    member = git(
        "clone", remote(server, "demo", "mia", tokens["mia"]), str(tmp_path / "b"), check=False
    )
    assert member.returncode != 0
    assert "not found" in member.stderr.lower() or "404" in member.stderr
    git("clone", "--quiet", remote(server, "demo", "olly", tokens["olly"]), str(tmp_path / "c"))
    assert (tmp_path / "c" / "server.py").exists()
    # git's dumb protocol (plain files of the repository) is not served
    dumb = httpx.get(f"{server.base}/demo.git/HEAD", auth=("olly", tokens["olly"]))
    assert dumb.status_code == 404


def test_a_space_in_a_plain_folder_says_it_is_not_a_repository(team, tmp_path: Path) -> None:
    server = team[0]
    plain = server.supervisor.dirs[0] / "plain"
    plain.mkdir()
    (plain / "README.md").write_text("---\nsdk: gradio\napp_file: server.py\n---\n")
    (plain / "server.py").write_text(HTTP_APP)
    server.supervisor.scan()
    cloned = git("clone", remote(server, "plain"), str(tmp_path / "p"), check=False)
    assert cloned.returncode != 0
    refs = httpx.get(f"{server.base}/plain.git/info/refs?service=git-upload-pack")
    assert refs.status_code == 404
    assert "plain folder, not a git repository" in refs.text
    assert "git init" in refs.text
