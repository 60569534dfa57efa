"""What `serve` keeps on disk between runs: who was stopped on purpose, and which app
processes it started, so that a restarted server can end any the last one left behind."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil


@dataclass
class SpaceRecord:
    stopped: bool = False
    """Stopped by an admin: stays stopped across restarts of the server."""
    pids: list[tuple[int, float]] = field(default_factory=list)
    """(pid, create time) of the app processes running now."""


class StateFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[str, SpaceRecord] = {}
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            data = {}
        for name, raw in (data.get("spaces") or {}).items():
            if isinstance(raw, dict):
                self.records[name] = SpaceRecord(
                    stopped=bool(raw.get("stopped")),
                    pids=[(int(p), float(t)) for p, t in raw.get("pids", [])],
                )

    def record(self, name: str) -> SpaceRecord:
        return self.records.setdefault(name, SpaceRecord())

    def save(self) -> None:
        data: dict[str, Any] = {
            "spaces": {
                name: {"stopped": rec.stopped, "pids": rec.pids}
                for name, rec in self.records.items()
            }
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, self.path)

    def reap_orphans(self) -> list[int]:
        """End processes a previous server started and left running; returns their pids."""
        ended: list[int] = []
        for rec in self.records.values():
            for pid, created in rec.pids:
                with contextlib.suppress(psutil.Error, OSError):
                    proc = psutil.Process(pid)
                    if abs(proc.create_time() - created) > 0.01:
                        continue  # the pid was reused by an unrelated process
                    for child in proc.children(recursive=True):
                        with contextlib.suppress(psutil.Error):
                            child.kill()
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(pid, signal.SIGKILL)
                    proc.kill()
                    ended.append(pid)
            rec.pids = []
        if ended:
            self.save()
        return ended


def process_identity(pid: int) -> tuple[int, float] | None:
    try:
        return pid, psutil.Process(pid).create_time()
    except psutil.Error:
        return None
