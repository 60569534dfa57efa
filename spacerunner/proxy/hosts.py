"""Which ``Host`` names the proxy answers: loopback, ``*.localhost``, the address it is bound
to, and names the user allows (``--allowed-host``). Anything else is a DNS-rebinding attempt
or a misrouted request, and gets a short page saying which flag allows it."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from spacerunner.urls import HOST_SUFFIX

ALLOW_FLAG = "--allowed-host"


def host_name(host: bytes) -> str:
    """The name part of a ``Host`` value, lower case, without port or IPv6 brackets."""
    text = host.decode("latin-1").strip().lower()
    if text.startswith("["):
        return text[1 : text.find("]")] if "]" in text else text[1:]
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


@dataclass(frozen=True)
class AllowedHosts:
    extra: tuple[str, ...] = ()
    """Names allowed besides loopback ones: exact (``spaces.example.org``), a suffix pattern
    (``*.example.org``) or ``*`` for any."""
    bound: str = ""
    """The address the server listens on (allowed as a host when it is a specific one)."""

    def allows(self, host: bytes | None) -> bool:
        """Whether a request with this ``Host`` is answered (no Host: HTTP/1.0, allowed)."""
        if host is None:
            return True
        name = host_name(host)
        if name == "localhost" or name.endswith(HOST_SUFFIX) or name == self.bound:
            return True
        try:
            if ipaddress.ip_address(name).is_loopback:
                return True
        except ValueError:
            pass
        for allowed in self.extra:
            if allowed == "*" or name == allowed:
                return True
            if allowed.startswith("*.") and name.endswith(allowed[1:]):
                return True
        return False

    def refusal(self, host: bytes) -> str:
        name = host_name(host)
        return (
            f"This server does not answer to the host name {name!r}. If you meant to reach it "
            f"by that name, start it with '{ALLOW_FLAG} {name}' (repeat the flag for more names)."
        )
