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
    def oauth_clients(self) -> Path:
        """Each Space's client id and secret of the server's OpenID provider."""
        return self.state_dir / "auth" / "oauth-clients.json"

    @property
    def signing_key(self) -> Path:
        """The OpenID provider's private key (its ID tokens are signed with it)."""
        return self.state_dir / "auth" / "oidc-key.json"

    @property
    def access(self) -> Path:
        return self.state_dir / "access.json"
