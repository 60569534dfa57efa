"""Static Spaces with a build step, without running one: the header, the Node.js choice, the
output folder per content, and the plan."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from helpers import SPACES

from spacerunner.config import load_space
from spacerunner.envs import sites
from spacerunner.envs.node import NodeTools, machine_node, matches
from spacerunner.errors import ConfigError, LaunchError
from spacerunner.launch import LaunchOptions, StaticPlan, build_plan

NODE = NodeTools("22.20.0", Path("/cache/node/22/bin"), (Path("/cache/node/22"),), "test")


def space(tmp_path: Path) -> Path:
    folder = tmp_path / "site"
    shutil.copytree(SPACES / "static-build", folder)
    return folder


def test_the_header_names_the_build_and_the_app_file_is_its_output(tmp_path: Path) -> None:
    config = load_space(space(tmp_path))
    assert config.app_build_command == "npm ci && npm run build"
    assert config.app_file == "dist/index.html"  # not there before the build: not an error
    assert config.nodejs_version == "22"
    readme = tmp_path / "site" / "README.md"
    readme.write_text(readme.read_text().replace('nodejs_version: "22"', "nodejs_version: v20"))
    assert load_space(readme.parent).nodejs_version == "20"
    readme.write_text(readme.read_text().replace("nodejs_version: v20", "nodejs_version: lts"))
    with pytest.raises(ConfigError, match="nodejs_version"):
        load_space(readme.parent)


def test_without_a_build_a_missing_app_file_is_still_an_error(tmp_path: Path) -> None:
    folder = space(tmp_path)
    readme = folder / "README.md"
    build = "app_build_command: npm ci && npm run build\n"
    readme.write_text(readme.read_text().replace(build, ""))
    with pytest.raises(ConfigError, match=r"dist/index\.html"):
        load_space(folder)


def test_versions_match_by_their_leading_parts() -> None:
    assert matches("22.20.0", "22") and matches("22.20.0", "22.20")
    assert not matches("22.20.0", "2") and not matches("20.1.0", "22")


def test_the_machines_node_is_used_when_it_is_the_version_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "prefix" / "bin"
    bin_dir.mkdir(parents=True)
    for name, text in (("node", "echo v20.11.1"), ("npm", "echo 10.2.4")):
        (bin_dir / name).write_text(f"#!/bin/sh\n{text}\n")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    found = machine_node("20")
    assert found is not None and found.version == "20.11.1"
    assert found.bin == bin_dir and found.roots == (tmp_path / "prefix",)
    assert machine_node("22") is None


def test_the_output_folder_follows_the_content_not_its_fetched_packages(tmp_path: Path) -> None:
    config = load_space(space(tmp_path))
    first = sites.site_folder(tmp_path / "cache", config, "22.20.0")
    assert first.parent == tmp_path / "cache" / "sites" and first.name.startswith("site-")
    (config.path / "node_modules" / "marked").mkdir(parents=True)
    (config.path / "node_modules" / "marked" / "x.js").write_text("fetched")
    assert sites.site_folder(tmp_path / "cache", config, "22.20.0") == first
    assert sites.site_folder(tmp_path / "cache", config, "20.11.1") != first
    (config.path / "content.md").write_text("# changed\n")
    assert sites.site_folder(tmp_path / "cache", config, "22.20.0") != first


def test_kept_sites_are_complete_and_only_the_two_newest_stay(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "dist").mkdir(parents=True)
    (work / "node_modules").mkdir()
    (work / "dist" / "index.html").write_text("hi")
    made = []
    for index in range(3):
        folder = tmp_path / "sites" / f"my-site-{index:016x}"
        sites.keep(work, folder, {"n": index})
        assert sites.is_built(folder)
        made.append(folder)
        os.utime(folder / sites.MARKER, (index, index))  # in the order they were made
    sites.keep(work, tmp_path / "sites" / "my-other-0000000000000000", {})
    assert not made[0].exists() and made[1].exists() and made[2].exists()
    assert (made[2] / "dist" / "index.html").read_text() == "hi"
    assert not (made[2] / "node_modules").exists()
    assert (tmp_path / "sites" / "my-other-0000000000000000").exists()  # another Space's


def test_the_plan_serves_the_output_and_builds_it_with_its_node(tmp_path: Path) -> None:
    config = load_space(space(tmp_path))
    output = tmp_path / "cache" / "sites" / "site-0"
    plan = build_plan(
        config,
        LaunchOptions(variables={"API": "v"}, site=sites.SiteBuild(output, NODE)),
    )
    assert isinstance(plan, StaticPlan) and plan.build is not None
    assert plan.root == output / "dist" and plan.index == "index.html"  # the output is the site
    job = plan.build
    assert job.command == ("/bin/sh", "-c", "npm ci && npm run build")
    assert job.cwd == config.path and job.output == output
    assert job.env["PATH"].startswith("/cache/node/22/bin" + os.pathsep)
    assert job.env["SPACE_ID"] == "local/site" and job.env["API"] == "v"
    assert "PORT" not in job.env and job.tools == (Path("/cache/node/22"),)
    assert job.secret_names == frozenset({"API"})
    with pytest.raises(LaunchError, match="app_build_command"):
        build_plan(config, LaunchOptions())
