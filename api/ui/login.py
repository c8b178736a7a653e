"""Log in with an API key (kept in an HttpOnly cookie) and log out."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from api.auth import scopes_for_key
from api.ui.security import (
    KEY_COOKIE,
    MAX_KEY_CHARS,
    auth_enabled,
    checked_form,
    safe_next,
    set_cookie,
)
from api.ui.templating import render

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/login")
def login_page(request: Request):
    next_path = safe_next(request.query_params.get("next"))
    if not auth_enabled(request):
        return RedirectResponse(next_path, status_code=303)
    return render(request, "login.html", next_path=next_path, error=None)


@router.post("/login")
async def login(request: Request):
    form = await checked_form(request)
    next_path = safe_next(str(form.get("next") or ""))
    key = str(form.get("api_key") or "").strip()
    if not auth_enabled(request):
        return RedirectResponse(next_path, status_code=303)
    if (
        not key
        or len(key) > MAX_KEY_CHARS
        or scopes_for_key(key, request.app.state.settings) is None
    ):
        return render(request, "login.html", 401, next_path=next_path, error="login.wrong_key")
    response = RedirectResponse(next_path, status_code=303)
    set_cookie(response, request, KEY_COOKIE, key)
    return response


@router.post("/logout")
async def logout(request: Request):
    await checked_form(request)
    target = "/ui/login" if auth_enabled(request) else "/ui/"
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(KEY_COOKIE, path="/ui", httponly=True, samesite="strict")
    return response
