"""Service settings, read once from the environment so one `calmdesk serve` needs no set-up."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from api.keys import ApiKey, KeyRing, hash_api_key, keys_from_digests
from calmdesk.errors import InputError
from calmdesk.settings import default_triage_model

DEFAULT_DB_FILE = "calmdesk.db"
DEFAULT_MAX_BODY_BYTES = 1_048_576
DEFAULT_MAX_TEXT_CHARS = 10_000
DEFAULT_MAX_BATCH = 256
DEFAULT_MAX_TURNS = 2_000


def default_database_url() -> str:
    """A SQLite file in the working directory: `calmdesk serve` works with nothing set up."""
    return f"sqlite:///{Path(DEFAULT_DB_FILE).resolve()}"


def _env_keys(raw: str | None) -> tuple[str, ...]:
    keys = [k.strip() for k in (raw or "").split(",")]
    return tuple(hash_api_key(k) for k in keys if k)


def _flag_env(env: dict[str, str], name: str, default: bool) -> bool:
    value = env.get(name, "").strip()
    if value == "":
        return default
    if value not in ("0", "1"):
        raise InputError(f"{name} must be 0 or 1, got {value!r}")
    return value == "1"


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
    api_key_hashes: tuple[str, ...] = ()  # CALMDESK_API_KEYS: every scope
    api_keys: tuple[ApiKey, ...] = ()  # named keys with scopes, given in code
    api_keys_file: Path | None = None  # CALMDESK_API_KEYS_FILE: re-read when it changes
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS
    max_batch: int = DEFAULT_MAX_BATCH
    max_turns: int = DEFAULT_MAX_TURNS
    cors_origins: tuple[str, ...] = ()
    log_text: bool = False
    access_log: bool = True
    redact: bool = True  # personal data out of stored and logged text (CALMDESK_REDACT)
    keep_original: bool = False  # also store the unredacted text (CALMDESK_KEEP_ORIGINAL)
    docs: bool = True  # /docs, /redoc, /openapi.json (behind the key when keys are set)
    # An in-process app migrates its own database; server workers built by `from_env` only
    # check the revision, because `calmdesk serve` (or `calmdesk db upgrade`) migrated once.
    migrate_on_start: bool = True
    keyring: KeyRing = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fixed = keys_from_digests(self.api_key_hashes) + tuple(self.api_keys)
        object.__setattr__(self, "keyring", KeyRing(fixed, self.api_keys_file))

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
            api_key_hashes=_env_keys(env.get("CALMDESK_API_KEYS")),
            api_keys_file=Path(env["CALMDESK_API_KEYS_FILE"])
            if env.get("CALMDESK_API_KEYS_FILE")
            else None,
            max_body_bytes=_int_env(env, "CALMDESK_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
            max_text_chars=_int_env(env, "CALMDESK_MAX_TEXT_CHARS", DEFAULT_MAX_TEXT_CHARS),
            max_batch=_int_env(env, "CALMDESK_MAX_BATCH", DEFAULT_MAX_BATCH),
            max_turns=_int_env(env, "CALMDESK_MAX_TURNS", DEFAULT_MAX_TURNS),
            cors_origins=origins,
            log_text=_flag_env(env, "CALMDESK_LOG_TEXT", False),
            access_log=_flag_env(env, "CALMDESK_ACCESS_LOG", True),
            redact=_flag_env(env, "CALMDESK_REDACT", True),
            keep_original=_flag_env(env, "CALMDESK_KEEP_ORIGINAL", False),
            docs=_flag_env(env, "CALMDESK_DOCS", True),
            migrate_on_start=_flag_env(env, "CALMDESK_MIGRATE_ON_START", False),
        )

    @property
    def auth_enabled(self) -> bool:
        return self.keyring.enabled
