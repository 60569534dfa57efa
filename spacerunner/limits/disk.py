"""Ephemeral scratch space for one run (HOME, TMPDIR, caches), capped at the disk limit.

As root where loop devices work: a size-capped ext4 image mounted at the scratch folder (writes
past the cap fail with ENOSPC). Elsewhere: a plain folder the watchdog measures. Either way it is
wiped when the run ends. Persistent data lives elsewhere and is never touched here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from spacerunner.limits.cgroups import pid_alive

_MIN_IMAGE = 8 * 2**20  # mkfs.ext4 refuses smaller filesystems


@dataclass
class Scratch:
    path: Path
    limit: int | None
    image: Path | None = None
    overlay: Path | None = None
    """The app's working copy of its Space folder, once made."""
    problems: list[str] = field(default_factory=list)

    @property
    def home(self) -> Path:
        """The app's HOME on this disk."""
        return self.path / "home"

    @property
    def tmp(self) -> Path:
        """The app's TMPDIR (``/tmp`` inside a sandbox) on this disk."""
        return self.path / "tmp"

    @property
    def enforced(self) -> bool:
        """The kernel caps it (a mounted image), rather than spacerunner watching it."""
        return self.image is not None

    @classmethod
    def create(cls, root: Path, name: str, limit: int | None, *, mount: bool = True) -> Scratch:
        path = root / f"{name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        path.mkdir(parents=True)
        scratch = cls(path, limit)
        if limit is not None and mount:
            scratch._mount(max(limit, _MIN_IMAGE))
        elif limit is not None:
            scratch.problems.append("forced by --limits watchdog")
        for folder in (scratch.home, scratch.tmp):
            folder.mkdir(exist_ok=True)
        return scratch

    def _mount(self, size: int) -> None:
        if os.geteuid() != 0:
            self.problems.append("disk: not root, so no size-capped filesystem can be mounted")
            return
        if not (shutil.which("mkfs.ext4") and shutil.which("mount")):
            self.problems.append("disk: mkfs.ext4 or mount is missing")
            return
        image = self.path.with_name(f".{self.path.name}.img")
        try:
            with image.open("wb") as handle:
                handle.truncate(size)
            subprocess.run(
                ["mkfs.ext4", "-q", "-F", "-m", "0", "-E", "nodiscard", str(image)],
                check=True,
                capture_output=True,
                timeout=60,
            )
            subprocess.run(
                ["mount", "-o", "loop,discard,nosuid,nodev", str(image), str(self.path)],
                check=True,
                capture_output=True,
                timeout=60,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            detail = getattr(exc, "stderr", b"") or b""
            reason = detail.decode(errors="replace").strip() or str(exc)
            self.problems.append(f"disk: cannot mount a {size} byte image: {reason}")
            image.unlink(missing_ok=True)
            return
        self.image = image
        if (self.path / "lost+found").is_dir():
            (self.path / "lost+found").rmdir()
        os.chmod(self.path, 0o1777)

    def working_copy(self, space: Path) -> Path:
        """The Space folder as this run sees it: an overlay (root) or a copy, inside the scratch
        space, so what the app writes there is ephemeral and the user's checkout is untouched."""
        merged = self.path / "app"
        if self.overlay is None:
            upper, work = self.path / ".upper", self.path / ".work"
            for folder in (merged, upper, work):
                folder.mkdir(exist_ok=True)
            if os.geteuid() == 0 and shutil.which("mount"):
                options = f"lowerdir={space},upperdir={upper},workdir={work}"
                # metacopy: giving the files to an isolated app's uid copies up metadata only
                for extra in (",metacopy=on", ""):
                    result = subprocess.run(
                        ["mount", "-t", "overlay", "overlay", "-o", options + extra, str(merged)],
                        capture_output=True,
                        timeout=60,
                    )
                    if result.returncode == 0:
                        break
                if result.returncode == 0:
                    self.overlay = merged
                    return merged
                self.problems.append(
                    f"overlay: {result.stderr.decode(errors='replace').strip()}; copying"
                )
            shutil.rmtree(merged)
            shutil.copytree(space, merged, symlinks=True, ignore=shutil.ignore_patterns(".git"))
            self.overlay = merged
        return merged

    def env(self) -> dict[str, str]:
        home = str(self.home)
        return {
            "HOME": home,
            "TMPDIR": str(self.tmp),
            "XDG_CACHE_HOME": os.path.join(home, ".cache"),
        }

    def used(self) -> int:
        """Bytes in use (0 once the scratch space is gone: an app that just ended)."""
        if self.image is not None:
            try:
                stat = os.statvfs(self.path)
            except OSError:
                return 0
            return (stat.f_blocks - stat.f_bfree) * stat.f_frsize
        total = 0
        skip = self.overlay if self.overlay is not None and os.path.ismount(self.overlay) else None
        for dirpath, dirs, files in os.walk(self.path):
            if skip is not None and Path(dirpath) == self.path and skip.name in dirs:
                dirs.remove(skip.name)  # the merged view: its writes are counted in .upper
            for name in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
        return total

    def full(self) -> bool:
        """No room left: a write would fail (mounted) or the limit is passed (watched)."""
        if self.limit is None:
            return False
        if self.image is not None:
            try:
                stat = os.statvfs(self.path)
            except OSError:
                return False
            return stat.f_bavail * stat.f_frsize < 64 * 1024
        return self.used() > self.limit

    def wipe(self) -> None:
        if self.overlay is not None and os.path.ismount(self.overlay):
            result = subprocess.run(["umount", str(self.overlay)], capture_output=True, timeout=60)
            if result.returncode != 0:
                subprocess.run(["umount", "-l", str(self.overlay)], capture_output=True, timeout=60)
        if self.image is not None:
            result = subprocess.run(["umount", str(self.path)], capture_output=True, timeout=60)
            if result.returncode != 0:
                subprocess.run(["umount", "-l", str(self.path)], capture_output=True, timeout=60)
            self.image.unlink(missing_ok=True)
        shutil.rmtree(self.path, ignore_errors=True)


def sweep(root: Path) -> list[Path]:
    """Unmount and remove scratch folders whose spacerunner is gone (killed, say, with SIGKILL:
    nothing could clean up then). Folders are named ``<space>-<pid>-<random>``."""
    removed: list[Path] = []
    for path in sorted(root.iterdir()) if root.is_dir() else ():
        if path.name.startswith("."):
            continue
        parts = path.name.rsplit("-", 2)
        if len(parts) != 3 or not parts[1].isdigit() or pid_alive(int(parts[1])):
            continue
        image = path.with_name(f".{path.name}.img")
        if os.path.ismount(path / "app"):
            subprocess.run(["umount", "-l", str(path / "app")], capture_output=True, timeout=60)
        if os.path.ismount(path):
            subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=60)
        image.unlink(missing_ok=True)
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed
