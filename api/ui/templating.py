"""Jinja2 templates with autoescaping: every value a page shows (complaint text above all) is
escaped unless a template marks it safe, which only our own server-drawn SVG charts are."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from api.ui.i18n import Translator, negotiate
from api.ui.security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    auth_enabled,
    csrf_token,
    has_valid_key,
    set_cookie,
)

TEMPLATE_DIR = Path(__file__).with_name("templates")
STATIC_DIR = Path(__file__).with_name("static")
# Same origin only; inline SVG needs no source. Reports (framed) get their own policy.
PAGE_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": PAGE_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

environment = Environment(
    loader=FileSystemLoader(TEMPLATE_DIR),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _percent(value: float, digits: int = 0) -> str:
    return f"{value * 100:.{digits}f}%"


def _probability(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


environment.filters["percent"] = _percent
environment.filters["probability"] = _probability


def translator(request: Request) -> Translator:
    return Translator(negotiate(request.headers.get("accept-language")))


def local_time(request: Request, moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if moment is None:
        return ""
    from api.store.repository import as_utc

    zone = request.app.state.ui_settings.zone
    return as_utc(moment).astimezone(zone).strftime(fmt)


def render(request: Request, name: str, status: int = 200, **context: object) -> HTMLResponse:
    t = translator(request)
    token = csrf_token(request)
    page = environment.get_template(name).render(
        t=t,
        lang=t.lang,
        csrf_field=CSRF_FIELD,
        csrf_token=token,
        auth_enabled=auth_enabled(request),
        logged_in=has_valid_key(request),
        path=request.url.path,
        timezone=request.app.state.ui_settings.timezone,
        when=lambda moment, fmt="%Y-%m-%d %H:%M": local_time(request, moment, fmt),
        **context,
    )
    response = HTMLResponse(page, status_code=status, headers=SECURITY_HEADERS)
    if getattr(request.state, "new_csrf_token", False):
        set_cookie(response, request, CSRF_COOKIE, token)
    return response
