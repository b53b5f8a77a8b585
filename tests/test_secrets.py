"""Bank details encrypted at rest: keys, round trips, rotation, fingerprints."""

from __future__ import annotations

import pickle
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from remit.errors import RemitError
from remit.secrets import (
    SecretKeyExists,
    SecretKeyInsecure,
    SecretKeyInvalid,
    SecretKeyMissing,
    SecretUnreadable,
    Vault,
    create_key_file,
    load_key,
    load_keys,
)

DETAILS = {"scheme": "uk_sort_code", "sort_code": "200000", "account_number": "55779911"}


@pytest.fixture
def key() -> bytes:
    return Fernet.generate_key()


def test_round_trip_hides_the_account_number(key: bytes) -> None:
    vault = Vault(key)
    token = vault.encrypt_json(DETAILS)
    assert b"55779911" not in token
    assert vault.decrypt_json(token) == DETAILS


def test_wrong_key_is_unreadable(key: bytes) -> None:
    token = Vault(key).encrypt_json(DETAILS)
    with pytest.raises(SecretUnreadable):
        Vault(Fernet.generate_key()).decrypt_json(token)


@pytest.mark.parametrize("position", [0, 10, 60, -1])
def test_tampered_token_is_unreadable(key: bytes, position: int) -> None:
    vault = Vault(key)
    token = bytearray(vault.encrypt_json(DETAILS))
    token[position] = ord("A") if token[position] != ord("A") else ord("B")
    with pytest.raises(SecretUnreadable):
        vault.decrypt_json(bytes(token))


def test_garbage_is_unreadable(key: bytes) -> None:
    with pytest.raises(SecretUnreadable):
        Vault(key).decrypt_json(b"not a token")


def test_token_of_something_other_than_a_text_mapping_is_unreadable(key: bytes) -> None:
    token = Fernet(key).encrypt(b'{"amount": 5}')
    with pytest.raises(SecretUnreadable, match="mapping of text"):
        Vault(key).decrypt_json(token)


def test_rotation_reads_old_tokens_and_writes_with_the_new_key(key: bytes) -> None:
    old_token = Vault(key).encrypt_json(DETAILS)
    new_key = Fernet.generate_key()
    rotated_vault = Vault(new_key, key)
    assert rotated_vault.decrypt_json(old_token) == DETAILS
    new_token = rotated_vault.rotate(old_token)
    assert Vault(new_key).decrypt_json(new_token) == DETAILS
    with pytest.raises(SecretUnreadable):
        Vault(key).decrypt_json(rotated_vault.encrypt_json(DETAILS))


def test_fingerprint_is_stable_order_free_and_key_dependent(key: bytes) -> None:
    vault = Vault(key)
    reordered = dict(reversed(DETAILS.items()))
    assert vault.fingerprint(DETAILS) == Vault(key).fingerprint(reordered)
    assert len(vault.fingerprint(DETAILS)) == 64
    assert vault.fingerprint(DETAILS) != vault.fingerprint(DETAILS | {"sort_code": "200001"})
    assert vault.fingerprint(DETAILS) != Vault(Fernet.generate_key()).fingerprint(DETAILS)
    assert vault.fingerprint(DETAILS) != vault.encrypt_json(DETAILS).hex()


def test_vault_never_shows_or_pickles_its_key(key: bytes) -> None:
    vault = Vault(key, Fernet.generate_key())
    assert key.decode() not in repr(vault)
    assert repr(vault) == "<Vault with 2 keys>"
    with pytest.raises(TypeError):
        pickle.dumps(vault)


@pytest.mark.parametrize("bad", [b"", b"short", b"A" * 44, b"A" * 43 + b"=\xff"])
def test_vault_refuses_a_malformed_key(bad: bytes) -> None:
    with pytest.raises(SecretKeyInvalid):
        Vault(bad)


# --- keys ------------------------------------------------------------------------------------


def test_key_file_is_created_owner_only_and_loads(tmp_path: Path) -> None:
    path = tmp_path / "remit.key"
    key = create_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key({}, path) == key
    assert load_key({"REMIT_KEY_FILE": str(path)}, None) == key


def test_key_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "remit.key"
    key = create_key_file(path)
    with pytest.raises(SecretKeyExists):
        create_key_file(path)
    assert load_key({}, path) == key


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_key_file_open_to_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "remit.key"
    create_key_file(path)
    path.chmod(mode)
    with pytest.raises(SecretKeyInsecure, match="chmod 600"):
        load_key({}, path)


def test_environment_key_is_preferred_over_files(tmp_path: Path, key: bytes) -> None:
    path = tmp_path / "remit.key"
    file_key = create_key_file(path)
    env = {"REMIT_SECRET_KEY": key.decode(), "REMIT_KEY_FILE": str(path)}
    assert load_key(env, path) == key != file_key


def test_key_file_named_in_environment_is_preferred_over_default(tmp_path: Path) -> None:
    default_key = create_key_file(tmp_path / "default.key")
    named_key = create_key_file(tmp_path / "named.key")
    env = {"REMIT_KEY_FILE": str(tmp_path / "named.key")}
    assert load_key(env, tmp_path / "default.key") == named_key != default_key


def test_missing_key_says_how_to_configure_one() -> None:
    with pytest.raises(SecretKeyMissing) as caught:
        load_key({"REMIT_SECRET_KEY": "  "}, None)
    assert "REMIT_SECRET_KEY" in str(caught.value)
    assert "REMIT_KEY_FILE" in str(caught.value)
    assert isinstance(caught.value, RemitError)


def test_missing_key_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "absent.key"
    with pytest.raises(SecretKeyMissing, match=r"absent\.key"):
        load_key({}, path)


def test_malformed_key_is_refused_without_echoing_it() -> None:
    with pytest.raises(SecretKeyInvalid) as caught:
        load_key({"REMIT_SECRET_KEY": "not-a-key-but-a-secret"}, None)
    assert "not-a-key" not in str(caught.value)


def test_several_keys_load_in_order_for_rotation(tmp_path: Path) -> None:
    new, old = Fernet.generate_key(), Fernet.generate_key()
    path = tmp_path / "remit.key"
    create_key_file(path)
    path.write_bytes(new + b"\n" + old + b"\n")
    assert load_keys({}, path) == (new, old)
    assert load_key({}, path) == new
    assert Vault(*load_keys({}, path)).decrypt_json(Vault(old).encrypt_json(DETAILS)) == DETAILS


def test_unreadable_key_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(SecretKeyMissing, match="cannot read key file"):
        load_key({}, tmp_path)  # a directory, not a file
