"""A team's server: accounts, sessions, who may see which Space, and the gatekeeper."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TeamFiles:
    """Where a machine's team-server facts live, under its state directory."""

    state_dir: Path

    @property
    def accounts(self) -> Path:
        return self.state_dir / "auth" / "accounts.json"

    @property
    def session_key(self) -> Path:
        return self.state_dir / "auth" / "session.key"

    @property
    def access(self) -> Path:
        return self.state_dir / "access.json"
