"""Encryption of bank details at rest, and the key that does it.

A `Vault` encrypts a small mapping of text (a party's bank details) with Fernet (AES-128-CBC
plus HMAC-SHA256, authenticated and timestamped) and computes a keyed fingerprint of it, so
that the same bank details held by two parties can be found without decrypting anything.

The key comes from the environment or from a key file readable by its owner only. This module
reads and writes that file and nothing else.

>>> vault = Vault(Fernet.generate_key())
>>> token = vault.encrypt_json({"sort_code": "200000", "account_number": "55779911"})
>>> b"55779911" in token
False
>>> vault.decrypt_json(token)
{'account_number': '55779911', 'sort_code': '200000'}
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Final, NoReturn

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from remit import audit
from remit.errors import RemitError

KEY_ENV: Final = "REMIT_SECRET_KEY"
KEY_FILE_ENV: Final = "REMIT_KEY_FILE"
_KEY_SHAPE: Final = re.compile(rb"[A-Za-z0-9_-]{43}=")
_FINGERPRINT_INFO: Final = b"remit bank details fingerprint v1"
_GENERATE_HINT: Final = (
    "generate one with: python -c "
    "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
)


class SecretError(RemitError):
    """Base of the errors about keys and encrypted data."""


class SecretKeyMissing(SecretError):
    """No key is configured, or the key file named does not exist."""


class SecretKeyInsecure(SecretError):
    """The key file can be read or written by users other than its owner."""


class SecretKeyInvalid(SecretError):
    """The configured text is not a Fernet key."""


class SecretKeyExists(SecretError):
    """A key file is already there; a new key would make old data unreadable."""


class SecretUnreadable(SecretError):
    """A token was made with another key, or was altered."""


def load_key(env: Mapping[str, str], default_key_file: Path | None) -> bytes:
    """The key that encrypts: ``REMIT_SECRET_KEY``, else the file named by ``REMIT_KEY_FILE``,
    else `default_key_file`. See `load_keys` for rotation.

    >>> key = Fernet.generate_key()
    >>> load_key({"REMIT_SECRET_KEY": key.decode()}, None) == key
    True
    >>> try:
    ...     load_key({}, None)
    ... except SecretKeyMissing as error:
    ...     print(str(error)[:70])
    no secret key: set REMIT_SECRET_KEY to a Fernet key, or REMIT_KEY_FILE
    """
    return load_keys(env, default_key_file)[0]


def load_keys(env: Mapping[str, str], default_key_file: Path | None) -> tuple[bytes, ...]:
    """All configured keys, separated by whitespace or commas: the first encrypts, all decrypt.

    >>> new, old = Fernet.generate_key(), Fernet.generate_key()
    >>> load_keys({"REMIT_SECRET_KEY": f"{new.decode()},{old.decode()}"}, None) == (new, old)
    True
    """
    text, source = env.get(KEY_ENV, "").strip(), KEY_ENV
    if not text:
        named = env.get(KEY_FILE_ENV, "").strip()
        path = Path(named) if named else default_key_file
        if path is None:
            raise SecretKeyMissing(
                f"no secret key: set {KEY_ENV} to a Fernet key, or {KEY_FILE_ENV} to a file "
                f"holding one (mode 0600); {_GENERATE_HINT}"
            )
        text, source = _read_key_file(path), str(path)
    keys = tuple(part.encode("utf-8", "surrogateescape") for part in text.replace(",", " ").split())
    if not keys:
        raise SecretKeyMissing(f"{source} is empty; {_GENERATE_HINT}")
    for key in keys:
        _fernet(key, source)
    return keys


def _read_key_file(path: Path) -> str:
    try:
        with path.open("rb") as file:
            mode = os.fstat(file.fileno()).st_mode
            if os.name == "posix" and mode & 0o077:
                raise SecretKeyInsecure(
                    f"key file {path} is open to other users (mode {mode & 0o777:o}); "
                    f"run: chmod 600 {path}"
                )
            return file.read().decode("ascii")
    except FileNotFoundError:
        raise SecretKeyMissing(
            f"key file {path} does not exist: set {KEY_ENV}, or {KEY_FILE_ENV} to an existing "
            f"key file; {_GENERATE_HINT}"
        ) from None
    except OSError as error:
        raise SecretKeyMissing(f"cannot read key file {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise SecretKeyInvalid(f"key file {path} does not hold a Fernet key") from None


def create_key_file(path: Path) -> bytes:
    """Write a new key to a new file of mode 0600 and return it; never overwrites.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "remit.key"
    ...     key = create_key_file(path)
    ...     oct(path.stat().st_mode & 0o777), load_key({}, path) == key
    ('0o600', True)
    """
    key = Fernet.generate_key()
    try:
        # O_EXCL: fails if anything (even a symlink) is already there; no window of wider mode.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise SecretKeyExists(
            f"{path} already exists; refusing to replace a key (data it encrypted would be lost)"
        ) from None
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(key + b"\n")
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return key


def _fernet(key: bytes, source: str = "the key") -> Fernet:
    # Checked here because base64 decoding skips stray characters instead of refusing them.
    if not _KEY_SHAPE.fullmatch(key):
        message = f"{source} does not hold a Fernet key (32 bytes, url-safe base64)"
        raise SecretKeyInvalid(message)
    return Fernet(key)


def _canonical(obj: Mapping[str, str]) -> bytes:
    return audit.canonical(dict(obj)).encode()


class Vault:
    """Encrypts and fingerprints mappings of text. ``Vault(new_key, *old_keys)``: the first key
    encrypts and fingerprints, every key decrypts, so keys can be rotated.

    Fingerprints are made with the first key: after a rotation, `rotate` the stored tokens and
    recompute their fingerprints in the same pass.

    >>> old = Vault(Fernet.generate_key())
    >>> details = {"iban": "GB82WEST12345698765432"}
    >>> token = old.encrypt_json(details)
    >>> Vault(Fernet.generate_key()).fingerprint(details) == old.fingerprint(details)
    False
    >>> old
    <Vault with 1 key>
    """

    __slots__ = ("_fernet", "_fingerprint_key", "_key_count")

    def __init__(self, key: bytes, *older_keys: bytes) -> None:
        keys = (key, *older_keys)
        self._fernet = MultiFernet([_fernet(k) for k in keys])
        self._key_count = len(keys)
        # A subkey, so that fingerprints say nothing about the encryption key itself.
        kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_FINGERPRINT_INFO)
        self._fingerprint_key = kdf.derive(base64.urlsafe_b64decode(key))

    def __repr__(self) -> str:
        return f"<Vault with {self._key_count} key{'s' if self._key_count > 1 else ''}>"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Vault holds keys and is not pickled")

    def encrypt_json(self, obj: Mapping[str, str]) -> bytes:
        """A Fernet token of the mapping as canonical JSON."""
        return self._fernet.encrypt(_canonical(obj))

    def decrypt_json(self, token: bytes) -> dict[str, str]:
        """The mapping inside a token; `SecretUnreadable` for a wrong key or altered token.

        >>> vault = Vault(Fernet.generate_key())
        >>> try:
        ...     vault.decrypt_json(Vault(Fernet.generate_key()).encrypt_json({"a": "b"}))
        ... except SecretUnreadable as error:
        ...     print(error)
        cannot decrypt: the token was made with another key, or was altered
        """
        try:
            data = json.loads(self._fernet.decrypt(token))
        except (InvalidToken, ValueError, TypeError):
            raise SecretUnreadable(
                "cannot decrypt: the token was made with another key, or was altered"
            ) from None
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        ):
            raise SecretUnreadable("cannot decrypt: the token does not hold a mapping of text")
        return data

    def seal(self, data: bytes) -> bytes:
        """A Fernet token of raw bytes (a released bank file, which carries account numbers).

        >>> vault = Vault(Fernet.generate_key())
        >>> vault.unseal(vault.seal(b"101 091000019"))
        b'101 091000019'
        """
        return self._fernet.encrypt(data)

    def unseal(self, token: bytes) -> bytes:
        """The bytes inside a `seal` token; `SecretUnreadable` for a wrong key or altered token."""
        try:
            return self._fernet.decrypt(token)
        except (InvalidToken, TypeError):
            raise SecretUnreadable(
                "cannot decrypt: the token was made with another key, or was altered"
            ) from None

    def rotate(self, token: bytes) -> bytes:
        """The same content, encrypted again with the first key."""
        try:
            return self._fernet.rotate(token)
        except (InvalidToken, TypeError):
            raise SecretUnreadable("cannot rotate: no key of this vault made the token") from None

    def fingerprint(self, obj: Mapping[str, str]) -> str:
        """HMAC-SHA256 (hex) of the canonical JSON: equal for equal mappings under one key,
        meaningless without it. Normalise bank details first.

        >>> vault = Vault(Fernet.generate_key())
        >>> vault.fingerprint({"a": "1", "b": "2"}) == vault.fingerprint({"b": "2", "a": "1"})
        True
        """
        return hmac.new(self._fingerprint_key, _canonical(obj), hashlib.sha256).hexdigest()
