"""The trainers' page: a transcript in (uploaded or pasted), the CLI's HTML report out, and
the reports kept per agent."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import UploadFile

from api.errors import ApiError
from api.schemas import TRANSCRIPT_FORMATS
from api.store import CoachingReportStore
from api.ui.security import UiProblem, checked_form, require_login, require_ui_scope
from api.ui.templating import SECURITY_HEADERS, render
from calmdesk import SUPPORTED_LANGUAGES
from calmdesk.errors import InputError
from calmdesk.langid import normalize_lang_code

router = APIRouter(prefix="/ui", dependencies=[Depends(require_login)], include_in_schema=False)
# The kept report is the CLI's own page (inline CSS, no script); shown framed in ours.
REPORT_HEADERS = {
    **SECURITY_HEADERS,
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'",
    "X-Frame-Options": "SAMEORIGIN",
}
MAX_AGENT_CHARS = 200


def _reports(request: Request) -> CoachingReportStore:
    return CoachingReportStore(request.app.state.store.engine)


def _coach_page(request: Request, status: int = 200, error: str | None = None, form=None):
    agent = (request.query_params.get("agent") or "").strip()[:MAX_AGENT_CHARS] or None
    reports = _reports(request)
    return render(
        request,
        "coach.html",
        status=status,
        error=error,
        form=form or {},
        agents=reports.agents(),
        agent=agent,
        reports=reports.for_agent(agent),
        languages=SUPPORTED_LANGUAGES,
        formats=TRANSCRIPT_FORMATS,
    )


@router.get("/coach")
def coach_page(request: Request):
    return _coach_page(request)


async def _transcript_text(form) -> tuple[str, str | None]:
    upload = form.get("file")
    if isinstance(upload, UploadFile) and upload.filename:
        raw = await upload.read()
        try:
            return raw.decode("utf-8-sig"), upload.filename[:300]
        except UnicodeDecodeError:
            raise InputError(f"{upload.filename}: not UTF-8 text") from None
    return str(form.get("text") or ""), None


@router.post("/coach", dependencies=[Depends(require_ui_scope("coach"))])
async def coach_submit(request: Request):
    """Check the transcript like `calmdesk coach --format html`, keep the report, show it."""
    from coaching import parse_transcript
    from coaching.reports import Checked, to_html

    form = await checked_form(request)
    settings = request.app.state.settings
    fields = {
        "text": str(form.get("text") or ""),
        "lang": str(form.get("lang") or "").strip() or None,
        "format": str(form.get("format") or "").strip() or None,
        "agent": str(form.get("agent") or "").strip()[:MAX_AGENT_CHARS] or None,
        "script": "follow-up" if form.get("script") == "follow-up" else None,
    }
    try:
        text, name = await _transcript_text(form)
        if not text.strip():
            raise InputError("no transcript: upload a file or paste one")
        limit = settings.max_text_chars * settings.max_turns
        if len(text) > limit:
            raise InputError(f"the transcript has {len(text)} characters; the limit is {limit}")
        if fields["format"] is not None and fields["format"] not in TRANSCRIPT_FORMATS:
            raise InputError(f"unknown format {fields['format']!r}")
        lang = normalize_lang_code(fields["lang"]) if fields["lang"] else None
        transcript = parse_transcript(text, format=fields["format"], lang=lang, name=name)
        if len(transcript.turns) > settings.max_turns:
            raise InputError(
                f"the transcript has {len(transcript.turns)} turns; "
                f"the limit is {settings.max_turns}"
            )
        checker = request.app.state.coach.checker(lang, fields["script"])
        result = checker.check(transcript)
    except InputError as exc:
        return _coach_page(request, 422, str(exc), fields)
    except ApiError as exc:
        return _coach_page(request, exc.status_code, exc.message, fields)
    result.agent_id = fields["agent"] or result.agent_id or transcript.agent_id
    if result.source is None:
        result.source = name or transcript.source
    html = to_html([Checked(transcript, result)])
    kept = _reports(request).add(result.to_dict(), html, result.agent_id)
    return RedirectResponse(f"/ui/coach/reports/{kept.id}", status_code=303)


def _kept(request: Request, report_id: int):
    report = _reports(request).get(report_id)
    if report is None:
        raise UiProblem(404, "error.no_report", report_id=report_id)
    return report


@router.get("/coach/reports/{report_id}")
def report_page(request: Request, report_id: int):
    return render(request, "coach_report.html", report=_kept(request, report_id))


@router.get("/coach/reports/{report_id}/html")
def report_html(request: Request, report_id: int):
    """The report file itself (also what 'download' saves)."""
    return HTMLResponse(_kept(request, report_id).html, headers=REPORT_HEADERS)
