"""Where remit finds its settings: the environment, with defaults for a local install."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path

from remit.secrets import Vault, load_keys

DEFAULT_KEY_FILE = Path("var/remit.key")
TRUSTED_PROXIES_ENV = "REMIT_TRUSTED_PROXIES"


def vault() -> Vault:
    """The vault for bank details: key from REMIT_SECRET_KEY, REMIT_KEY_FILE or var/remit.key."""
    return Vault(*load_keys(os.environ, DEFAULT_KEY_FILE))


def trusted_proxies(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The reverse proxies whose ``X-Forwarded-For`` names the client: REMIT_TRUSTED_PROXIES,
    addresses or networks separated by commas; none by default (then the client is the
    connection's peer, whatever a request's headers say). ``ValueError`` names a bad one.

    >>> trusted_proxies({TRUSTED_PROXIES_ENV: "10.0.0.5, 192.168.0.0/24,::1"})
    ('10.0.0.5', '192.168.0.0/24', '::1')
    >>> trusted_proxies({})
    ()
    >>> trusted_proxies({TRUSTED_PROXIES_ENV: "10.0.0.5,proxy.local"})
    Traceback (most recent call last):
    ValueError: REMIT_TRUSTED_PROXIES: 'proxy.local' is not an IP address or network
    """
    env = os.environ if env is None else env
    found = tuple(p.strip() for p in env.get(TRUSTED_PROXIES_ENV, "").split(",") if p.strip())
    for proxy in found:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ValueError(
                f"{TRUSTED_PROXIES_ENV}: {proxy!r} is not an IP address or network"
            ) from None
    return found
