"""Where remit finds its settings: the environment, with defaults for a local install."""

from __future__ import annotations

import os
from pathlib import Path

from remit.secrets import Vault, load_keys

DEFAULT_KEY_FILE = Path("var/remit.key")


def vault() -> Vault:
    """The vault for bank details: key from REMIT_SECRET_KEY, REMIT_KEY_FILE or var/remit.key."""
    return Vault(*load_keys(os.environ, DEFAULT_KEY_FILE))
