"""Credentials at rest: encryption, rotation, the embedded key file, production's refusal."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from app.config import Settings
from app.integrations.credentials import (
    KEY_FILE_NAME,
    CredentialCipher,
    CredentialsUnreadable,
    EncryptionKeyProblem,
    cipher_for,
    encryption_keys,
)

TENURE = Path(sys.executable).parent / "tenure"
POSTGRES = "postgresql+asyncpg://nobody@127.0.0.1:1/never-reached"
CREDENTIALS = {"api_key": "SG.secret-value", "region": "eu"}


def key() -> str:
    return Fernet.generate_key().decode()


class TestCipher:
    def test_round_trip_hides_the_values(self) -> None:
        cipher = CredentialCipher([key()])
        token = cipher.encrypt(CREDENTIALS)
        assert "SG.secret-value" not in token
        assert cipher.decrypt(token) == CREDENTIALS

    def test_a_wrong_key_is_a_clear_error_never_garbage(self) -> None:
        token = CredentialCipher([key()]).encrypt(CREDENTIALS)
        with pytest.raises(CredentialsUnreadable, match="TENURE_ENCRYPTION_KEY"):
            CredentialCipher([key()]).decrypt(token)

    def test_rotation_new_key_first_reads_old_tokens_and_rewrites_them(self) -> None:
        old, new = key(), key()
        token = CredentialCipher([old]).encrypt(CREDENTIALS)
        both = CredentialCipher([new, old])
        assert both.decrypt(token) == CREDENTIALS
        rotated = both.rotate(token)
        assert CredentialCipher([new]).decrypt(rotated) == CREDENTIALS
        with pytest.raises(CredentialsUnreadable):
            CredentialCipher([old]).decrypt(rotated)

    def test_a_value_that_is_not_a_fernet_key_is_refused(self) -> None:
        with pytest.raises(EncryptionKeyProblem, match="not a Fernet key"):
            CredentialCipher(["not-a-key"])


class TestKeySource:
    def test_comma_separated_setting_gives_every_key_in_order(self, tmp_path: Path) -> None:
        first, second = key(), key()
        settings = Settings(database_url=POSTGRES, encryption_key=SecretStr(f" {first} ,{second}"))
        assert encryption_keys(settings) == [first, second]
        assert not (tmp_path / KEY_FILE_NAME).exists()

    def test_embedded_mode_makes_a_private_key_file_beside_the_database_once(
        self, tmp_path: Path
    ) -> None:
        database = tmp_path / "var" / "tenure.db"
        settings = Settings(database_url=f"sqlite+aiosqlite:///{database}")

        first = encryption_keys(settings)
        again = encryption_keys(settings)

        key_file = database.parent / KEY_FILE_NAME
        assert first == again == [key_file.read_text().strip()]
        assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
        token = cipher_for(settings).encrypt(CREDENTIALS)
        assert CredentialCipher(first).decrypt(token) == CREDENTIALS

    def test_postgresql_without_a_key_is_refused(self) -> None:
        with pytest.raises(EncryptionKeyProblem, match="TENURE_ENCRYPTION_KEY is not set"):
            encryption_keys(Settings(database_url=POSTGRES))


def _tenure(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("TENURE_")}
    return subprocess.run(
        [str(TENURE), *args],
        env={**inherited, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


class TestProductionRefusesToStartWithoutAKey:
    def test_serve_exits_2_and_says_why(self, tmp_path: Path) -> None:
        result = _tenure("serve", cwd=tmp_path, TENURE_DATABASE_URL=POSTGRES)
        assert result.returncode == 2
        assert "TENURE_ENCRYPTION_KEY is not set" in result.stderr

    def test_worker_exits_2_and_says_why(self, tmp_path: Path) -> None:
        result = _tenure(
            "worker",
            cwd=tmp_path,
            TENURE_DATABASE_URL=POSTGRES,
            TENURE_REDIS_URL="redis://127.0.0.1:1/0",
        )
        assert result.returncode == 2
        assert "TENURE_ENCRYPTION_KEY is not set" in result.stderr

    def test_a_malformed_key_is_refused_too(self, tmp_path: Path) -> None:
        result = _tenure(
            "serve", cwd=tmp_path, TENURE_DATABASE_URL=POSTGRES, TENURE_ENCRYPTION_KEY="oops"
        )
        assert result.returncode == 2
        assert "not a Fernet key" in result.stderr
        assert "oops" not in result.stderr
