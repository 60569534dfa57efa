"""A Docker engine for the tests, and the base images their Dockerfiles use, made locally.

No registry is reachable here: ``python:3.11-slim`` is a Debian bookworm root filesystem made
with ``debootstrap`` (Python 3.11, pip, the host's CA bundle so pip and uv can reach PyPI through
this network's TLS proxy) and imported under that name. When ``$DOCKER_HOST`` answers, it is
used; otherwise, as root with ``dockerd`` installed, an engine of the tests' own is started
(no bridge, no iptables) with its data in a cache folder so the base image is made once per
machine, and stopped at the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import docker

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "spacerunner-tests"
BASE_IMAGES = ("python:3.11-slim",)
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")


@dataclass
class Engine:
    url: str
    process: subprocess.Popen[bytes] | None
    run_dir: Path | None

    def client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.url)

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.run_dir is not None:
            # dockerd leaves its network namespace mounted in its exec root
            mounts = Path("/proc/self/mounts").read_text().splitlines()
            for target in sorted((m.split()[1] for m in mounts), reverse=True):
                if target.startswith(str(self.run_dir)):
                    subprocess.run(["umount", "-l", target], check=False)
            shutil.rmtree(self.run_dir, ignore_errors=True)


def _answers(url: str) -> bool:
    try:
        with closing(docker.DockerClient(base_url=url, timeout=5)) as client:
            return bool(client.ping())
    except docker.errors.DockerException:
        return False


def start_engine() -> tuple[Engine | None, str]:
    """An engine, or ``None`` and why there is none."""
    if os.environ.get("DOCKER_HOST") and _answers(os.environ["DOCKER_HOST"]):
        return Engine(os.environ["DOCKER_HOST"], None, None), ""
    dockerd = shutil.which("dockerd")
    if dockerd is None or os.geteuid() != 0:
        return None, "no Docker engine: $DOCKER_HOST does not answer and dockerd cannot be started"
    _stop_stale_engine()
    run_dir = Path(tempfile.mkdtemp(prefix="spacerunner-dockerd-"))
    url = f"unix://{run_dir}/docker.sock"
    data = CACHE / "docker-data"
    data.mkdir(parents=True, exist_ok=True)
    log = (run_dir / "dockerd.log").open("wb")
    process = subprocess.Popen(
        [
            dockerd,
            "--iptables=false",
            "--ip6tables=false",
            "--bridge=none",
            "--data-root",
            str(data),
            "--exec-root",
            str(run_dir / "exec"),
            "--pidfile",
            str(run_dir / "dockerd.pid"),
            "-H",
            url,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    (CACHE / "dockerd.pid").write_text(str(process.pid))
    engine = Engine(url, process, run_dir)
    deadline = time.monotonic() + 60
    try:
        while not _answers(url):
            if process.poll() is not None or time.monotonic() > deadline:
                text = (run_dir / "dockerd.log").read_text(errors="replace")[-2000:]
                engine.stop()
                return None, f"dockerd did not start:\n{text}"
            time.sleep(0.2)
    except BaseException:
        engine.stop()
        raise
    return engine, ""


def _stop_stale_engine() -> None:
    """An engine of an earlier test run that was killed before it could stop its dockerd holds
    the data folder; end it."""
    import psutil

    try:
        proc = psutil.Process(int((CACHE / "dockerd.pid").read_text()))
        if proc.name() == "dockerd" and str(CACHE) in " ".join(proc.cmdline()):
            proc.terminate()
            proc.wait(30)
    except (OSError, ValueError, psutil.Error):
        pass


def ensure_base_images(client: docker.DockerClient) -> None:
    """Make ``python:3.11-slim`` on the engine when it is not there."""
    try:
        client.images.get("python:3.11-slim")
        return
    except docker.errors.ImageNotFound:
        pass
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        raise RuntimeError("debootstrap is needed to make the tests' base image (apt install)")
    with tempfile.TemporaryDirectory(prefix="spacerunner-rootfs-") as tmp:
        root = Path(tmp) / "root"
        subprocess.run(
            [
                debootstrap,
                "--variant=minbase",
                "--include=python3,python3-pip,ca-certificates",
                "bookworm",
                str(root),
            ],
            check=True,
            capture_output=True,
        )
        # like the python:*-slim images: `python` on PATH, pip allowed to install system-wide
        (root / "usr/lib/python3.11/EXTERNALLY-MANAGED").unlink(missing_ok=True)
        (root / "usr/bin/python").symlink_to("python3")
        if HOST_CA.is_file():
            shutil.copyfile(HOST_CA, root / "etc/ssl/certs/ca-certificates.crt")
        archive = Path(tmp) / "rootfs.tar"
        subprocess.run(["tar", "-C", str(root), "-cf", str(archive), "."], check=True)
        cert = "/etc/ssl/certs/ca-certificates.crt"
        client.api.import_image(
            src=str(archive),
            repository="python",
            tag="3.11-slim",
            changes=[
                "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                f"ENV PIP_CERT={cert} SSL_CERT_FILE={cert} REQUESTS_CA_BUNDLE={cert}",
                'CMD ["python3"]',
            ],
        )


def leftovers(client: docker.DockerClient) -> list[str]:
    """Containers, volumes and dangling images of spacerunner still on the engine."""
    found = [
        f"container {c.name}"
        for c in client.containers.list(all=True, filters={"label": "spacerunner=1"})
    ]
    found += [f"volume {v.name}" for v in client.volumes.list(filters={"label": "spacerunner=1"})]
    found += [f"dangling image {i.id[:19]}" for i in client.images.list(filters={"dangling": True})]
    return found


def remove_leftovers(client: docker.DockerClient) -> None:
    """Containers and volumes of spacerunner left in the tests' own engine by a test run that
    was killed; never used on an engine the tests did not start."""
    for container in client.containers.list(all=True, filters={"label": "spacerunner=1"}):
        container.remove(force=True)
    for volume in client.volumes.list(filters={"label": "spacerunner=1"}):
        volume.remove(force=True)
