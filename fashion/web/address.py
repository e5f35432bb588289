"""Check the web server's address before anything slow is loaded (no torch, no catalog: a second at most).

A port out of range or already in use, or a host that does not resolve or is not an address of this
machine, is one :class:`AddressError` line instead of a traceback after the model and catalog loaded.
"""

from __future__ import annotations

import socket

from fashion.errors import FashionError


class AddressError(FashionError, ValueError):
    """The web server cannot listen on the requested host and port; the message says why."""


def check_address(host: str, port: int) -> None:
    """Raise :class:`AddressError` unless a server could listen on ``host:port`` right now.

    Port 0 (any free port) is allowed. The check binds a socket the way uvicorn does
    (``SO_REUSEADDR``) and closes it at once.
    """
    if isinstance(port, bool) or not isinstance(port, int):
        raise AddressError(f"port must be a whole number from 0 to 65535, got {port!r}")
    if not 0 <= port <= 65535:
        raise AddressError(f"port {port} is out of range (0 to 65535)")
    if not isinstance(host, str) or not host.strip() or any(c in host for c in "\0/ \t\n"):
        raise AddressError(f"host {host!r} is not a host name or IP address")
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError, OSError) as error:
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        raise AddressError(f"cannot serve on {shown}: host {host!r} does not resolve ({reason})") from None
    family, kind, proto, _, address = infos[0]
    try:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
            probe.listen(1)
    except OSError as error:
        reason = error.strerror or str(error)
        if getattr(error, "errno", None) == 98:  # EADDRINUSE
            reason = "the port is already in use (another server?); choose another with --port"
        elif getattr(error, "errno", None) == 99:  # EADDRNOTAVAIL
            reason = "that address does not belong to this machine"
        elif getattr(error, "errno", None) == 13:  # EACCES
            reason = "permission denied (ports below 1024 need administrator rights)"
        raise AddressError(f"cannot serve on {shown}: {reason}") from None
