"""The /ui/ pages through FastAPI's TestClient (the browser test drives the same flows in
chromium): login, CSRF, escaping, the correction form, the queues, statistics and report."""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from test_api_store import engine  # noqa: F401  (SQLite, and PostgreSQL when CI runs one)

from api.app import create_app
from api.settings import ApiSettings, hash_api_key
from api.store import TicketStore, create_store_engine, run_migrations
from api.store.repository import NewTicket
from api.ui.callback import callback_due
from api.ui.i18n import negotiate
from calmdesk.cli import main

KEY = "ui-page-key"
API = {"X-API-Key": KEY}
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)> charged twice!!'
CSRF = "csrf_token"


@pytest.fixture(scope="module")
def database_url(tmp_path_factory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('ui') / 'ui.db'}"


@pytest.fixture(scope="module")
def client(trained_triage_model, database_url):
    settings = ApiSettings(
        database_url=database_url,
        triage_model_dir=trained_triage_model,
        api_key_hashes=(hash_api_key(KEY),),
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        c.get("/ui/login")  # the CSRF cookie
        response = c.post(
            "/ui/login",
            data={"api_key": KEY, CSRF: c.cookies["calmdesk_csrf"], "next": "/ui/"},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        yield c


def _token(client) -> str:
    return client.cookies["calmdesk_csrf"]


def _triage(client, text: str, **fields) -> dict:
    response = client.post("/v1/triage", json={"text": text, **fields}, headers=API)
    assert response.status_code == 200, response.text
    return response.json()


def test_pages_need_the_key_and_login_sets_a_strict_httponly_cookie(trained_triage_model, tmp_path):
    settings = ApiSettings(
        database_url=f"sqlite:///{tmp_path / 'login.db'}",
        triage_model_dir=trained_triage_model,
        api_key_hashes=(hash_api_key(KEY),),
    )
    with TestClient(create_app(settings)) as c:
        first = c.get("/ui/stats?since=2026-01-01", follow_redirects=False)
        assert first.status_code == 303
        assert first.headers["location"] == "/ui/login?next=/ui/stats%3Fsince%3D2026-01-01"
        c.get("/ui/login")
        token = c.cookies["calmdesk_csrf"]
        wrong = c.post("/ui/login", data={"api_key": "nope", CSRF: token})
        assert wrong.status_code == 401 and "not valid" in wrong.text
        outside = c.post(
            "/ui/login",
            data={"api_key": KEY, CSRF: token, "next": "https://evil.example/"},
            follow_redirects=False,
        )
        assert outside.headers["location"] == "/ui/"  # never a redirect off the site
        cookie = outside.headers["set-cookie"]
        assert cookie.startswith("calmdesk_key=") and "HttpOnly" in cookie
        assert "SameSite=strict" in cookie and "Path=/ui" in cookie
        assert c.get("/ui/stats").status_code == 200
        logout = c.post("/ui/logout", data={CSRF: token}, follow_redirects=False)
        assert logout.headers["location"] == "/ui/login"
        assert 'calmdesk_key=""' in logout.headers["set-cookie"]
        assert c.get("/ui/", follow_redirects=False).status_code == 303


def test_every_form_rejects_a_missing_wrong_or_cross_site_csrf_token(client):
    before = client.get("/v1/stats", headers=API).json()["total"]
    ticket = _triage(client, "My parcel is two weeks late.")["ticket_id"]
    forms = [
        ("/ui/triage", {"text": "charged twice"}),
        (f"/ui/tickets/{ticket}/feedback", {"cause": "billing"}),
        ("/ui/coach", {"text": "Agent: I can't help."}),
        ("/ui/logout", {}),
        ("/ui/login", {"api_key": KEY}),
    ]
    for path, data in forms:
        for token in (None, "forged-token"):
            sent = {**data, CSRF: token} if token else data
            response = client.post(path, data=sent, follow_redirects=False)
            assert response.status_code == 403, (path, token)
            assert "CSRF" in response.text
        cross_site = client.post(
            path,
            data={**data, CSRF: _token(client)},
            headers={"Origin": "https://evil.example"},
            follow_redirects=False,
        )
        assert cross_site.status_code == 403, path
    assert client.get("/v1/stats", headers=API).json()["total"] == before + 1
    assert client.get(f"/v1/tickets/{ticket}", headers=API).json()["feedback"] == []


def test_complaint_text_with_html_is_shown_as_text(client):
    ticket = _triage(client, HOSTILE, channel="<i>chan</i>")["ticket_id"]
    escaped = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
    for page in (f"/ui/tickets/{ticket}", "/ui/?sort=newest"):
        body = client.get(page).text
        assert "<script>" not in body and "<img src=x" not in body
        assert escaped in body
    stats = client.get("/ui/stats").text
    assert "<i>chan</i>" not in stats and "&lt;i&gt;chan&lt;/i&gt;" in stats
    headers = client.get(f"/ui/tickets/{ticket}").headers
    assert "default-src 'none'" in headers["content-security-policy"]


def test_correction_form_stores_the_same_feedback_as_the_api(client):
    result = _triage(client, "Мой заказ пришёл сломанным, я очень расстроена.")
    ticket = result["ticket_id"]
    labels = client.get("/v1/models", headers=API).json()["triage"]["labels"]
    cause = next(c for c in labels["cause"] if c != result["cause"]["label"])
    page = client.get(f"/ui/tickets/{ticket}").text
    assert "Call back" in page and "three days after" in page
    for option in labels["cause"]:
        assert f'value="{option}"' in page
    saved = client.post(
        f"/ui/tickets/{ticket}/feedback",
        data={
            "cause": cause,
            "department": labels["department"][0],
            "emotions": ["sad"],
            "author": "ana",
            "note": "was sad, not angry",
            CSRF: _token(client),
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303 and saved.headers["location"].endswith("?saved=1")
    stored = client.get(f"/v1/tickets/{ticket}", headers=API).json()
    [feedback] = stored["feedback"]
    assert (feedback["cause"], feedback["department"], feedback["emotions"]) == (
        cause,
        labels["department"][0],
        ["sad"],
    )
    # with keys the author is the key's name, as in the API; the form's author field is ignored
    assert (feedback["author"], feedback["note"]) == ("key-1", "was sad, not angry")
    assert stored["cause"] == cause and stored["corrected"]
    shown = client.get(saved.headers["location"]).text
    assert "was sad, not angry" in shown and "Correction saved" in shown

    refused = client.post(
        f"/ui/tickets/{ticket}/feedback",
        data={"cause": "no_such_cause", CSRF: _token(client)},
    )
    assert refused.status_code == 422 and "not a known label" in refused.text
    assert len(client.get(f"/v1/tickets/{ticket}", headers=API).json()["feedback"]) == 1
    missing = client.get("/ui/tickets/no-such-ticket")
    assert missing.status_code == 404 and "No ticket with id" in missing.text


def test_triage_box_stores_a_ticket_and_explains_bad_input(client):
    posted = client.post(
        "/ui/triage",
        data={
            "text": "Me cobraron dos veces y nadie contesta",
            "channel": "chat",
            CSRF: _token(client),
        },
        follow_redirects=False,
    )
    assert posted.status_code == 303
    ticket = posted.headers["location"].split("/ui/tickets/")[1].split("?")[0]
    stored = client.get(f"/v1/tickets/{ticket}", headers=API).json()
    assert stored["lang"] == "es" and stored["channel"] == "chat"
    page = client.get(posted.headers["location"]).text
    assert "Me cobraron dos veces" in page and 'lang="es"' in page
    empty = client.post("/ui/triage", data={"text": "   ", CSRF: _token(client)})
    assert empty.status_code == 422 and "empty" in empty.text
    french = client.post(
        "/ui/triage",
        data={"text": "Je voudrais être remboursé, s'il vous plaît.", CSRF: _token(client)},
    )
    assert french.status_code == 422 and "Je voudrais" in french.text  # the text is kept


def test_queue_filters_departments_and_pages(client):
    for text in ("Mi pedido llegó roto.", "El repartidor fue muy grosero conmigo.", "快递还没到"):
        _triage(client, text)
    spanish = client.get("/ui/?lang=es&limit=25").text
    rows = re.findall(r'<td class="text">.*?<small class="meta">(\w+)', spanish, re.S)
    assert rows and set(rows) == {"es"}
    total = client.get("/v1/stats", headers=API).json()["total"]
    first = client.get("/ui/?limit=25&sort=newest").text
    assert f"of {total} tickets" in first
    if total > 25:
        assert 'rel="next"' in first and "offset=25" in first
    by_department = client.get("/v1/stats", headers=API).json()["by_department"]
    for department, n in by_department.items():
        assert re.search(rf"{department} <span class=\"count\">{n}</span>", first)
    nonsense = client.get("/ui/?limit=7&offset=-3&sort=sideways&needs_review=maybe")
    assert nonsense.status_code == 200 and "1–" in nonsense.text


def test_urgent_order_puts_review_and_pressing_moods_first(tmp_path):
    from api.store import TicketFilters
    from api.ui.queue import queue_page

    queue_engine = create_store_engine(f"sqlite:///{tmp_path / 'q.db'}")
    run_migrations(queue_engine)
    store = TicketStore(queue_engine)

    def result(emotions=(), review=False) -> dict:
        head = {"top3": [], "needs_review": review}
        return {
            "lang": "en",
            "cause": {"label": "billing", "probability": 0.9, **head},
            "department": {"label": "billing_finance", "probability": 0.9, **head},
            "emotions": {"labels": list(emotions), "needs_review": False},
        }

    for text, emotions, review in (
        ("calm", (), False),
        ("sad", ("sad",), False),
        ("angry", ("angry",), False),
        ("review", (), True),
    ):
        store.add_tickets(
            [NewTicket(text=text, result=result(emotions, review), model_version="m")]
        )
    urgent, total = queue_page(store, TicketFilters(), "urgent", 10, 0)
    assert total == 4 and [t.text for t in urgent] == ["review", "angry", "calm", "sad"]
    newest, _ = queue_page(store, TicketFilters(), "newest", 2, 0)
    assert [t.text for t in newest] == ["review", "angry"]


def test_coaching_page_keeps_reports_per_agent(client):
    pasted = client.post(
        "/ui/coach",
        data={
            "text": "Cliente: ¿Y mi dinero?\nAgente: Lo siento, pero no puedo hacer nada.",
            "agent": "lucia",
            CSRF: _token(client),
        },
        follow_redirects=False,
    )
    assert pasted.status_code == 303
    report = client.get(pasted.headers["location"])
    assert "lucia" in report.text and "no puedo" in report.text
    html = client.get(pasted.headers["location"] + "/html")
    assert html.text.startswith("<!") and "no puedo" in html.text
    assert "frame-ancestors 'self'" in html.headers["content-security-policy"]
    upload = client.post(
        "/ui/coach",
        data={CSRF: _token(client)},
        files={"file": ("pablo_0101.srt", "1\n00:00:01,000 --> 00:00:03,000\nAgente: No lo sé.\n")},
        follow_redirects=False,
    )
    assert upload.status_code == 303
    listing = client.get("/ui/coach").text
    assert "lucia" in listing and "pablo" in listing
    only_lucia = client.get("/ui/coach?agent=lucia").text
    assert "pablo_0101" not in only_lucia
    bad = client.post(
        "/ui/coach", data={"text": "Agent: hi", "format": "docx", CSRF: _token(client)}
    )
    assert bad.status_code == 422 and "unknown format" in bad.text


def test_pages_follow_the_browsers_language(client):
    assert negotiate("es-ES,es;q=0.9,en;q=0.8") == "es"
    assert negotiate("fr-FR,en;q=0.5,es;q=0.4") == "en"
    assert negotiate("de, es;q=0.1") == "es"
    assert negotiate("zh-CN") == "en" and negotiate(None) == "en"
    assert negotiate("es;q=abc, en") == "en"
    page = client.get("/ui/stats", headers={"Accept-Language": "es-MX,es;q=0.9"}).text
    assert '<html lang="es">' in page and "Estadísticas de quejas" in page
    assert "Complaint statistics" in client.get("/ui/stats").text


def test_callback_date_avoids_weekends_and_nights():
    utc = ZoneInfo("UTC")
    weekday = callback_due(datetime(2026, 11, 30, 10, tzinfo=UTC), utc)  # Monday
    assert weekday.due == datetime(2026, 12, 3, 10, tzinfo=utc) and weekday.call_by is None
    saturday = callback_due(datetime(2026, 12, 2, 10, tzinfo=UTC), utc)  # Wednesday
    assert saturday.weekend and not saturday.night
    assert saturday.call_by == datetime(2026, 12, 4, 20, 59, tzinfo=utc)  # Friday evening
    night = callback_due(datetime(2026, 11, 30, 23, 30, tzinfo=UTC), utc)
    assert night.night and night.call_by == datetime(2026, 12, 3, 20, 59, tzinfo=utc)
    early = callback_due(datetime(2026, 11, 30, 5, tzinfo=UTC), utc)
    assert early.call_by == datetime(2026, 12, 2, 20, 59, tzinfo=utc)  # the evening before
    madrid = callback_due(datetime(2026, 11, 30, 20, 30, tzinfo=UTC), ZoneInfo("Europe/Madrid"))
    assert madrid.due.hour == 21 and madrid.night  # 20:30 UTC is 21:30 in Madrid


def test_emotion_overrides_are_counted_in_sql(engine):  # noqa: F811
    """On SQLite and PostgreSQL (the `engine` fixture of the store tests): the JSON list of
    predicted emotions is unnested by each database's own function."""
    from api.statistics import desk_statistics

    run_migrations(engine)
    store = TicketStore(engine)
    result = {
        "lang": "en",
        "cause": {"label": "billing", "probability": 0.9, "needs_review": False},
        "department": {"label": "billing_finance", "probability": 0.9, "needs_review": True},
        "emotions": {"labels": ["angry", "sad"], "needs_review": False},
    }
    ids = store.add_tickets(
        [
            NewTicket(text=str(i), result=result, model_version="m", channel="email")
            for i in range(5)
        ]
    )
    store.add_feedback(ids[0], emotions=["sad", "angry"])  # confirmed: not an override
    store.add_feedback(ids[1], emotions=[])  # calm after all
    store.add_feedback(ids[2], emotions=["angry", "sad", "anxious"])  # one more mood
    store.add_feedback(ids[3], cause="policy")  # emotions untouched
    stats = desk_statistics(store)
    assert stats.overridden == {"cause": 1, "department": 0, "emotions": 2}
    assert stats.corrected == 4 and stats.needs_review == 5 and stats.by["channel"] == {"email": 5}
    week = stats.weeks[0]
    assert datetime.fromisoformat(week).weekday() == 0  # weeks start on Monday
    assert stats.weekly["emotion"]["calm"] == {week: 1}
    later = desk_statistics(store, since=datetime.now(UTC) + timedelta(hours=1))
    assert later.total == 0 and later.weeks == [] and later.overridden["emotions"] == 0


def _cli(args: list[str]) -> int:
    """The exit code of `calmdesk ARGS` run in this process."""
    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _csv(path) -> dict[str, int]:
    with path.open(encoding="utf-8") as handle:
        return {row[0]: int(row[1]) for row in list(csv.reader(handle))[1:]}


def test_report_tables_match_v1_stats(client, database_url, tmp_path):
    _triage(client, "The app keeps crashing when I log in!", channel="web")
    stats = client.get("/v1/stats", headers=API).json()
    out = tmp_path / "report"
    assert _cli(["report", "--db", database_url, "--out", str(out)]) == 0
    for table, key in (
        ("by_cause", "by_cause"),
        ("by_department", "by_department"),
        ("by_emotion", "by_emotion"),
        ("by_lang", "by_lang"),
    ):
        assert _csv(out / f"{table}.csv") == stats[key], table
    totals = _csv_rows(out / "totals.csv")
    assert int(totals["tickets"]) == stats["total"]
    assert int(totals["needs_review"]) == stats["needs_review"]
    assert int(totals["corrected"]) == stats["corrected"]
    weekly = list(csv.reader((out / "weekly_cause.csv").open(encoding="utf-8")))
    summed = {
        label: sum(int(row[i]) for row in weekly[1:]) for i, label in enumerate(weekly[0]) if i
    }
    assert summed == stats["by_cause"]
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<svg" in page and "<script" not in page and "<link" not in page
    assert not re.search(r"""(src|href)=["']?https?:""", page)

    since = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert (
        _cli(["report", "--db", database_url, "--out", str(tmp_path / "empty"), "--since", since])
        == 0
    )
    assert _csv_rows(tmp_path / "empty" / "totals.csv")["tickets"] == "0"


def _csv_rows(path) -> dict[str, str]:
    with path.open(encoding="utf-8") as handle:
        return {row[0]: row[1] for row in list(csv.reader(handle))[1:]}


def test_report_from_triage_output_jsonl_and_parquet(trained_triage_model, tmp_path, capsys):
    import json

    tickets = tmp_path / "tickets.jsonl"
    start = datetime(2026, 11, 2, 9, tzinfo=UTC)  # a Monday
    texts = ["Me cobraron dos veces", "My parcel is late", "快递还没到", "Bonjour, je suis fâché"]
    with tickets.open("w", encoding="utf-8") as handle:
        for i, text in enumerate(texts * 3):
            row = {
                "id": f"t{i}",
                "text": text,
                "created_at": (start + timedelta(days=i)).isoformat(),
            }
            handle.write(json.dumps({**row, "channel": "email" if i % 2 else "phone"}) + "\n")
    outputs = {}
    for suffix in ("jsonl", "parquet"):
        routed = tmp_path / f"routed.{suffix}"
        model = str(trained_triage_model)
        keep = ["--keep-column", "created_at", "--keep-column", "channel"]
        assert (
            _cli(["triage", "--model", model, "--input", str(tickets), *keep, "-o", str(routed)])
            == 0
        )
        out = tmp_path / f"report-{suffix}"
        assert (
            _cli(["report", "--input", str(routed), "--out", str(out), "--until", "2026-11-09"])
            == 0
        )
        outputs[suffix] = {p.name: p.read_text() for p in out.glob("*.csv")}
    assert outputs["jsonl"] == outputs["parquet"]
    lines = [json.loads(line) for line in (tmp_path / "routed.jsonl").read_text().splitlines()]
    assert lines[0]["channel"] == "phone" and lines[0]["created_at"].startswith("2026-11-02")
    in_window = [r for r in lines[:7] if "error" not in r]  # 2 to 8 November
    assert sum(_csv(tmp_path / "report-jsonl" / "by_cause.csv").values()) == len(in_window)
    assert "left out" in capsys.readouterr().err  # the French rows could not be triaged
    weekly = (tmp_path / "report-jsonl" / "weekly_review.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in weekly[1:]] == ["2026-11-02"]

    bare = tmp_path / "bare.jsonl"
    bare.write_text(json.dumps({k: v for k, v in lines[0].items() if k != "created_at"}) + "\n")
    with pytest.raises(SystemExit) as refused:
        main(
            ["report", "--input", str(bare), "--out", str(tmp_path / "x"), "--since", "2026-01-01"]
        )
    assert refused.value.code == 2
    assert "--keep-column created_at" in capsys.readouterr().err
    missing = _cli(["report", "--db", f"sqlite:///{tmp_path / 'none.db'}", "--out", str(tmp_path)])
    assert missing == 2 and "no ticket store" in capsys.readouterr().err


def test_forms_need_their_scope_and_named_keys_log_in(trained_triage_model, tmp_path):
    """The page takes the API's keys (named, with scopes): a coach-only key can log in and read,
    but its triage form is refused (403), and its name is who it is."""
    from api.keys import ApiKey

    coach_key = ApiKey("trainer", hash_api_key("coach-only"), frozenset({"coach"}))
    settings = ApiSettings(
        database_url=f"sqlite:///{tmp_path / 'scopes.db'}",
        triage_model_dir=trained_triage_model,
        api_keys=(coach_key,),
    )
    with TestClient(create_app(settings)) as c:
        c.get("/ui/login")
        login = c.post(
            "/ui/login",
            data={"api_key": "coach-only", CSRF: c.cookies["calmdesk_csrf"], "next": "/ui/"},
            follow_redirects=False,
        )
        assert login.status_code == 303
        assert c.get("/ui/coach").status_code == 200
        refused = c.post("/ui/triage", data={"text": "charged twice!!", CSRF: _token(c)})
        assert refused.status_code == 403 and "triage" in refused.text
