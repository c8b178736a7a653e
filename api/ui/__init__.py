"""The web page for the desk and the trainers, served by `calmdesk serve` under /ui/.

Server-rendered (Jinja2), no JavaScript needed, nothing fetched from outside the server.
`install_ui(app)` adds the pages, the static files and the HTML error pages to the API app.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from api.ui import coach, desk, login, stats
from api.ui.security import LoginRequired, UiProblem, login_url
from api.ui.settings import UiSettings
from api.ui.templating import STATIC_DIR, render


async def _on_login_required(request: Request, exc: LoginRequired):
    return RedirectResponse(login_url(exc.next_path), status_code=303)


async def _on_problem(request: Request, exc: UiProblem):
    return render(
        request, "error.html", status=exc.status, message_key=exc.message_key, values=exc.values
    )


def install_ui(app: FastAPI, settings: UiSettings | None = None) -> None:
    app.state.ui_settings = settings or UiSettings.from_env()
    for module in (login, desk, coach, stats):
        app.include_router(module.router)
    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="ui-static")
    app.add_exception_handler(LoginRequired, _on_login_required)
    app.add_exception_handler(UiProblem, _on_problem)

    @app.get("/ui", include_in_schema=False)
    async def _ui_root() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=308)
