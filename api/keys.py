"""API keys with names and scopes, and a keys file that is re-read when it changes.

A keys file is either YAML::

    keys:
      - name: desk-bot           # the feedback author for this key
        key: "k-2f9c…"           # or  sha256: "<hex digest of the key>"
        scopes: [triage, feedback]

or the older plain format, one key per line (`#` comments), each with every scope. Keys from
`CALMDESK_API_KEYS` also have every scope. The file's modification time and size are checked at
most once a second, so a rotated key works (and a removed one stops working) without a restart;
a file that becomes unreadable or invalid keeps the last good keys and logs why.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from calmdesk.errors import InputError

log = logging.getLogger("calmdesk.api")
SCOPES = ("triage", "coach", "feedback", "admin")
ALL_SCOPES = frozenset(SCOPES)
MAX_KEYS_FILE_BYTES = 1_000_000
_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,100}")
_DIGEST = re.compile(r"[0-9a-f]{64}")
RELOAD_EVERY_S = 1.0


def hash_api_key(key: str) -> str:
    """Keys are held only as sha256 digests, so a memory dump or a log never shows one."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    """One key: its digest, the name it acts under, and what it may do (`admin` = everything)."""

    name: str
    digest: str
    scopes: frozenset[str] = ALL_SCOPES

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes

    def __repr__(self) -> str:  # the digest stays out of reprs and logs
        return f"ApiKey(name={self.name!r}, scopes={sorted(self.scopes)})"


def keys_from_digests(digests: tuple[str, ...]) -> tuple[ApiKey, ...]:
    """Digests without names (CALMDESK_API_KEYS): every scope, named key-1, key-2…"""
    return tuple(ApiKey(f"key-{i}", d, ALL_SCOPES) for i, d in enumerate(digests, 1))


def find_key(presented: str, keys: tuple[ApiKey, ...]) -> ApiKey | None:
    """The key matching `presented`, comparing with every digest in constant time (no early
    exit), so neither timing nor the number of keys leaks which one was close."""
    candidate = hash_api_key(presented)
    found = None
    for key in keys:
        if hmac.compare_digest(candidate, key.digest):
            found = key
    return found


def read_keys_file(path: Path) -> tuple[ApiKey, ...]:
    """The keys in `path` (YAML or one key per line); InputError naming the file and entry."""
    if not path.is_file():
        raise InputError(f"CALMDESK_API_KEYS_FILE: no such file: {path}")
    if path.stat().st_size > MAX_KEYS_FILE_BYTES:
        raise InputError(f"{path}: a keys file is at most {MAX_KEYS_FILE_BYTES} bytes")
    raw = path.read_text(encoding="utf-8")
    stripped = [ln.strip() for ln in raw.splitlines()]
    if not any(ln.startswith("keys:") for ln in stripped):
        keys = [ln for ln in stripped if ln and not ln.startswith("#")]
        return keys_from_digests(tuple(hash_api_key(k) for k in keys))
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    entries = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise InputError(f"{path}: expected 'keys:' followed by a list of entries")
    out: list[ApiKey] = []
    for i, entry in enumerate(entries, 1):
        out.append(_entry_key(entry, f"{path}: keys entry {i}"))
    names = [k.name for k in out]
    if len(set(names)) != len(names):
        raise InputError(f"{path}: key names must be unique")
    return tuple(out)


def _entry_key(entry: object, where: str) -> ApiKey:
    if not isinstance(entry, dict):
        raise InputError(f"{where}: expected a mapping with name, key (or sha256) and scopes")
    unknown = set(entry) - {"name", "key", "sha256", "scopes"}
    if unknown:
        raise InputError(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InputError(f"{where}: 'name' must be 1-100 letters, digits or _.@-")
    key, digest = entry.get("key"), entry.get("sha256")
    if (key is None) == (digest is None):
        raise InputError(f"{where} ({name}): give exactly one of 'key' or 'sha256'")
    if key is not None:
        if not isinstance(key, str) or len(key) < 8:
            raise InputError(f"{where} ({name}): 'key' must be a string of at least 8 characters")
        digest = hash_api_key(key)
    elif not isinstance(digest, str) or not _DIGEST.fullmatch(digest.lower()):
        raise InputError(f"{where} ({name}): 'sha256' must be 64 hex digits")
    scopes = entry.get("scopes")
    if not isinstance(scopes, list) or not scopes:
        raise InputError(f"{where} ({name}): 'scopes' must be a list from {', '.join(SCOPES)}")
    bad = [s for s in scopes if s not in ALL_SCOPES]
    if bad:
        raise InputError(f"{where} ({name}): unknown scope(s) {bad}; known: {', '.join(SCOPES)}")
    return ApiKey(name, digest.lower(), frozenset(scopes))


class KeyRing:
    """The keys in force: fixed ones (env) plus a keys file re-read when it changes."""

    def __init__(self, fixed: tuple[ApiKey, ...] = (), file: Path | None = None):
        self.fixed = fixed
        self.file = Path(file) if file is not None else None
        self._from_file: tuple[ApiKey, ...] = ()
        self._stamp: tuple[int, int] | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        if self.file is not None:
            self._from_file = read_keys_file(self.file)  # a bad file at start-up is an error
            self._stamp = _stamp(self.file)
            self._checked = time.monotonic()

    @property
    def enabled(self) -> bool:
        return bool(self.fixed) or self.file is not None

    def current(self) -> tuple[ApiKey, ...]:
        if self.file is not None and time.monotonic() - self._checked >= RELOAD_EVERY_S:
            self._maybe_reload()
        return self.fixed + self._from_file

    def find(self, presented: str) -> ApiKey | None:
        return find_key(presented, self.current())

    def _maybe_reload(self) -> None:
        with self._lock:
            if time.monotonic() - self._checked < RELOAD_EVERY_S:
                return
            self._checked = time.monotonic()
            try:
                stamp = _stamp(self.file)
                if stamp == self._stamp:
                    return
                keys = read_keys_file(self.file)
            except (OSError, InputError) as exc:
                log.error("keys file not reloaded; keeping the last good keys", extra={
                    "reason": str(exc) if isinstance(exc, InputError) else type(exc).__name__
                })  # fmt: skip
                return
            self._from_file, self._stamp = keys, stamp
            log.info("keys file reloaded", extra={"keys": len(keys)})


def _stamp(path: Path) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_mtime_ns, info.st_size
