"""Service settings, read once from the environment so one `calmdesk serve` needs no set-up."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from calmdesk.errors import InputError
from calmdesk.settings import default_triage_model

DEFAULT_DB_FILE = "calmdesk.db"
DEFAULT_MAX_BODY_BYTES = 1_048_576
DEFAULT_MAX_TEXT_CHARS = 10_000
DEFAULT_MAX_BATCH = 256
DEFAULT_MAX_TURNS = 2_000


def hash_api_key(key: str) -> str:
    """Keys are held only as sha256 digests, so a memory dump or a log never shows one."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def default_database_url() -> str:
    """A SQLite file in the working directory: `calmdesk serve` works with nothing set up."""
    return f"sqlite:///{Path(DEFAULT_DB_FILE).resolve()}"


def _read_keys(raw: str | None, path: str | None) -> tuple[str, ...]:
    keys: list[str] = []
    if raw:
        keys += [k.strip() for k in raw.split(",")]
    if path:
        file = Path(path)
        if not file.is_file():
            raise InputError(f"CALMDESK_API_KEYS_FILE: no such file: {file}")
        for line in file.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                keys.append(line)
    return tuple(hash_api_key(k) for k in keys if k)


def _int_env(env: dict[str, str], name: str, default: int) -> int:
    value = env.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise InputError(f"{name} must be a whole number, got {value!r}") from None
    if number < 1:
        raise InputError(f"{name} must be at least 1, got {number}")
    return number


@dataclass(frozen=True)
class ApiSettings:
    """Everything the app needs; `from_env` is the only place that reads variables."""

    database_url: str = field(default_factory=default_database_url)
    triage_model_dir: Path = field(default_factory=default_triage_model)
    api_key_hashes: tuple[str, ...] = ()
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS
    max_batch: int = DEFAULT_MAX_BATCH
    max_turns: int = DEFAULT_MAX_TURNS
    cors_origins: tuple[str, ...] = ()
    log_text: bool = False
    access_log: bool = True

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ApiSettings:
        env = dict(os.environ if env is None else env)
        origins = tuple(
            o.strip() for o in env.get("CALMDESK_CORS_ORIGINS", "").split(",") if o.strip()
        )
        return cls(
            database_url=env.get("CALMDESK_DATABASE_URL") or default_database_url(),
            triage_model_dir=Path(env["CALMDESK_TRIAGE_MODEL"])
            if env.get("CALMDESK_TRIAGE_MODEL")
            else default_triage_model(),
            api_key_hashes=_read_keys(
                env.get("CALMDESK_API_KEYS"), env.get("CALMDESK_API_KEYS_FILE")
            ),
            max_body_bytes=_int_env(env, "CALMDESK_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
            max_text_chars=_int_env(env, "CALMDESK_MAX_TEXT_CHARS", DEFAULT_MAX_TEXT_CHARS),
            max_batch=_int_env(env, "CALMDESK_MAX_BATCH", DEFAULT_MAX_BATCH),
            max_turns=_int_env(env, "CALMDESK_MAX_TURNS", DEFAULT_MAX_TURNS),
            cors_origins=origins,
            log_text=env.get("CALMDESK_LOG_TEXT", "") == "1",
            access_log=env.get("CALMDESK_ACCESS_LOG", "1") != "0",
        )

    @property
    def auth_enabled(self) -> bool:
        return bool(self.api_key_hashes)
