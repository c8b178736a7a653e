"""Login, logout and CSRF for the web page.

The API key a person types is kept in an HttpOnly, SameSite=Strict cookie scoped to /ui (so a
script on the page cannot read it and no other site's form or link sends it) and checked like
a header key, with `api.auth.key_matches`. Every form carries a CSRF token that must equal the
token cookie (double submit); a cross-site request can neither read the cookie nor set it.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import quote, urlsplit

from fastapi import Request
from starlette.datastructures import FormData

from api.auth import scopes_for_key

KEY_COOKIE = "calmdesk_key"
CSRF_COOKIE = "calmdesk_csrf"
CSRF_FIELD = "csrf_token"
COOKIE_PATH = "/ui"
MAX_KEY_CHARS = 500


class LoginRequired(Exception):
    """Raised by a page when keys are configured and the visitor has no valid key cookie."""

    def __init__(self, next_path: str):
        self.next_path = next_path


class UiProblem(Exception):
    """An error shown as an HTML page (not the API's JSON body)."""

    def __init__(self, status: int, message_key: str, **values: object):
        super().__init__(message_key)
        self.status = status
        self.message_key = message_key
        self.values = values


def auth_enabled(request: Request) -> bool:
    return request.app.state.settings.auth_enabled


def key_identity(request: Request) -> tuple[str, frozenset[str]] | None:
    """(name, scopes) of the key in the login cookie, or None; the same keys as the API's."""
    key = request.cookies.get(KEY_COOKIE)
    if not key or len(key) > MAX_KEY_CHARS:
        return None
    return scopes_for_key(key, request.app.state.settings)


def has_valid_key(request: Request) -> bool:
    return key_identity(request) is not None


def require_ui_scope(scope: str):
    """Dependency of a form that acts (triage, correct, coach): the key needs that scope."""

    async def check(request: Request) -> None:
        if not auth_enabled(request):
            return
        identity = key_identity(request)
        if identity is None:
            raise LoginRequired(safe_next(request.url.path))
        if scope not in identity[1] and "admin" not in identity[1]:
            raise UiProblem(403, "error.scope", scope=scope)

    return check


async def require_login(request: Request) -> None:
    """Dependency of every page but the login page; a no-op when no keys are configured."""
    if auth_enabled(request) and not has_valid_key(request):
        raise LoginRequired(safe_next(request.url.path + _query(request)))


def _query(request: Request) -> str:
    return f"?{request.url.query}" if request.url.query else ""


def safe_next(path: str | None) -> str:
    """Only a path on this UI: never another host (`//evil`, `https://…`) or a scheme."""
    if not path or len(path) > 2000:
        return "/ui/"
    parts = urlsplit(path)
    if parts.scheme or parts.netloc or not path.startswith("/ui/") or "\\" in path:
        return "/ui/"
    return path


def login_url(next_path: str) -> str:
    return f"/ui/login?next={quote(next_path, safe='/')}"


def csrf_token(request: Request) -> str:
    """The visitor's token; a new one (set as a cookie by `render`) on the first visit."""
    token = getattr(request.state, "csrf_token", None)
    if token is None:
        token = request.cookies.get(CSRF_COOKIE)
        if not token or len(token) > 100:
            token = secrets.token_urlsafe(32)
            request.state.new_csrf_token = True
        request.state.csrf_token = token
    return token


async def checked_form(request: Request) -> FormData:
    """The posted form, once its CSRF token matches the cookie and the origin is this site."""
    origin = request.headers.get("origin")
    if origin and origin != "null":
        expected = f"{request.url.scheme}://{request.url.netloc}"
        if origin != expected:
            raise UiProblem(403, "error.csrf")
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    cookie = request.cookies.get(CSRF_COOKIE)
    if not isinstance(sent, str) or not cookie or not hmac.compare_digest(sent, cookie):
        raise UiProblem(403, "error.csrf")
    return form


def set_cookie(response, request: Request, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path=COOKIE_PATH,
    )
