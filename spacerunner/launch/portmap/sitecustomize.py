"""Loaded at start-up by the Python of an app spacerunner runs (its folder is put first on
PYTHONPATH): the port Spaces apps hard-code becomes the port spacerunner gave the app.

On Spaces every app has a container of its own, so ``demo.launch(server_port=7860)`` always
finds 7860 free. Here, binding a TCP socket to one of ``SPACERUNNER_PORT_ALIASES`` (7860) binds
``SPACERUNNER_PORT`` instead, and connecting to that port on loopback (Gradio checks its own URL)
connects there too, so any number of such apps run at once, with the network they would have.
Standard library only; it then runs the interpreter's own sitecustomize, if there is one.
"""

import importlib.util
import os
import socket
import sys

_PORT = int(os.environ.get("SPACERUNNER_PORT") or 0)
_ALIASES = {int(p) for p in os.environ.get("SPACERUNNER_PORT_ALIASES", "").split(",") if p}
_LOOPBACK = ("127.", "::1", "localhost", "0.0.0.0", "::")


def _mapped(sock: socket.socket, address: object, loopback_only: bool) -> object:
    if (
        sock.family in (socket.AF_INET, socket.AF_INET6)
        and isinstance(address, tuple)
        and len(address) >= 2
        and address[1] in _ALIASES
        and (not loopback_only or str(address[0]).startswith(_LOOPBACK) or address[0] == "")
    ):
        return (address[0], _PORT, *address[2:])
    return address


if _PORT and _ALIASES and _PORT not in _ALIASES:
    _bind = socket.socket.bind
    _connect = socket.socket.connect
    _connect_ex = socket.socket.connect_ex
    socket.socket.bind = lambda self, address: _bind(self, _mapped(self, address, False))
    socket.socket.connect = lambda self, address: _connect(self, _mapped(self, address, True))
    socket.socket.connect_ex = lambda self, a: _connect_ex(self, _mapped(self, a, True))


def _chain() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    for entry in sys.path:
        candidate = os.path.join(entry or ".", "sitecustomize.py")
        if os.path.abspath(entry or ".") != here and os.path.isfile(candidate):
            spec = importlib.util.spec_from_file_location("_sitecustomize_next", candidate)
            if spec is not None and spec.loader is not None:
                spec.loader.exec_module(importlib.util.module_from_spec(spec))
            return


_chain()
