"""Integration credentials at rest: a dict of strings as one Fernet token.

The keys come from `TENURE_ENCRYPTION_KEY` (comma-separated: the first encrypts, every one
decrypts, so a key is rotated by putting the new one first and dropping the old one once
`rotate` has rewritten the rows). Without the setting, the embedded mode (SQLite) keeps a
generated key in `encryption.key` beside the database file, made on first start; PostgreSQL
is production and has no such fallback: `tenure serve` and `tenure worker` refuse to start."""

import json
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.engine import make_url

from app.config import Settings
from app.errors import AppError

KEY_FILE_NAME = "encryption.key"
GENERATE_KEY_HINT = (
    "generate one with: python -c "
    "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
)


class EncryptionKeyProblem(Exception):
    """The process cannot encrypt credentials: no key where one is required, or a key that is
    not a Fernet key. A configuration error, reported at startup."""


class CredentialsUnreadable(AppError):
    """The stored credentials do not decrypt with any configured key (the key was changed
    without keeping the old one for decryption). Never answered with garbage."""

    status = 409
    title = "Credentials unreadable"
    type_slug = "credentials-unreadable"


class CredentialCipher:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise EncryptionKeyProblem("no encryption key given")
        try:
            fernets = [Fernet(key.encode()) for key in keys]
            self._first, self._fernet = fernets[0], MultiFernet(fernets)
        except ValueError as exc:
            raise EncryptionKeyProblem(
                "TENURE_ENCRYPTION_KEY holds a value that is not a Fernet key "
                f"(32 url-safe base64-encoded bytes); {GENERATE_KEY_HINT}"
            ) from exc

    def encrypt(self, credentials: Mapping[str, str]) -> str:
        plain = json.dumps(dict(credentials), separators=(",", ":"), sort_keys=True)
        return self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, token: str) -> dict[str, str]:
        try:
            plain = self._fernet.decrypt(token.encode())
        except InvalidToken:
            raise CredentialsUnreadable(
                "the integration's credentials cannot be decrypted with the configured "
                "encryption keys (TENURE_ENCRYPTION_KEY changed without keeping the old key); "
                "keep the old key after the new one, or send the credentials again"
            ) from None
        values = json.loads(plain)
        return {str(k): str(v) for k, v in values.items()}

    def is_current(self, token: str) -> bool:
        """Whether the token is already under the first key (a rotation leaves it alone)."""
        try:
            self._first.decrypt(token.encode())
        except InvalidToken:
            return False
        return True

    def rotate(self, token: str) -> str:
        """The same credentials under the first key (the token of a rotation)."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise CredentialsUnreadable("the credentials cannot be decrypted") from None


def parse_keys(value: str) -> list[str]:
    return [key.strip() for key in value.split(",") if key.strip()]


def encryption_keys(settings: Settings) -> list[str]:
    """The configured keys; for SQLite without the setting, the key file's (made if absent)."""
    if settings.encryption_key is not None:
        keys = parse_keys(settings.encryption_key.get_secret_value())
        if keys:
            return keys
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite":
        raise EncryptionKeyProblem(
            "TENURE_ENCRYPTION_KEY is not set: integration credentials are stored encrypted "
            f"and a {url.get_backend_name()} database needs a key from settings; "
            + GENERATE_KEY_HINT
        )
    if not url.database or url.database == ":memory:":
        return [_process_key()]
    return [read_or_create_key_file(Path(url.database).parent / KEY_FILE_NAME)]


_process_keys: list[str] = []
_lock = threading.Lock()


def _process_key() -> str:
    """An in-memory database forgets its rows with the process; so may its key."""
    with _lock:
        if not _process_keys:
            _process_keys.append(Fernet.generate_key().decode())
        return _process_keys[0]


def read_or_create_key_file(path: Path) -> str:
    """The key in `path`, written (mode 0600) by the first process that needs it; a second
    process starting at the same moment reads the winner's key instead of writing its own."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key_file(path)
    with os.fdopen(descriptor, "w") as file:
        key = Fernet.generate_key().decode()
        file.write(key + "\n")
    return key


def _read_key_file(path: Path) -> str:
    for _ in range(50):  # the writer may be between creating the file and writing the key
        key = path.read_text().strip()
        if key:
            break
        threading.Event().wait(0.01)
    keys = parse_keys(key)
    if not keys:
        raise EncryptionKeyProblem(f"{path} is empty; delete it to generate a new key")
    return keys[0]


_ciphers: dict[tuple[str, ...], CredentialCipher] = {}


def cipher_for(settings: Settings) -> CredentialCipher:
    """The process's cipher for these settings (the key file is read once)."""
    secret = settings.encryption_key.get_secret_value() if settings.encryption_key else ""
    cache_key = (secret, settings.database_url)
    cipher = _ciphers.get(cache_key)
    if cipher is None:
        cipher = CredentialCipher(encryption_keys(settings))
        with _lock:
            _ciphers[cache_key] = cipher
    return cipher
