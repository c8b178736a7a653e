"""The web page in a real browser: Debian's chromium, driven by Playwright, against a real
`calmdesk serve` on a temporary SQLite store, with JavaScript switched off (the core flows
must not need it) and every request leaving the server refused and recorded.

Set CALMDESK_UI_SCREENSHOTS=docs/img to refresh the README's screenshots from this run.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import httpx
import pytest
from served import calmdesk_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).is_file(),
    reason="Debian's chromium is not installed (apt-get install chromium; .ci/run does)",
)
KEY = "ui-browser-key"
COMPLAINT = "I was charged <b>twice</b> for the same order and nobody answers my emails!!"
TRANSCRIPT = """WEBVTT

00:00:01.000 --> 00:00:04.000
<v Customer>Where is my refund? I have waited two weeks.

00:00:05.000 --> 00:00:09.000
<v Agent>I can't do anything about that, it's not my job.
"""
CHANNELS = ("email", "phone", "chat", "web")


@pytest.fixture(scope="module")
def served(tmp_path_factory, trained_triage_model, small_complaints_path):
    """`calmdesk serve` with an API key, and a few dozen tickets so the queues have rows."""
    folder = tmp_path_factory.mktemp("ui-browser")
    with calmdesk_server(folder, trained_triage_model, KEY, "ui.db", ready="/readyz") as (base, _):
        yield _seeded(base, folder, small_complaints_path)


def _seeded(base: str, folder: Path, small_complaints_path: Path) -> str:
    rows = [json.loads(line) for line in small_complaints_path.read_text().splitlines()]
    items = [
        {"text": row["text"], "channel": CHANNELS[i % len(CHANNELS)]}
        for i, row in enumerate(rows[::2])
    ]
    seeded = httpx.post(
        f"{base}/v1/triage/batch", json={"items": items}, headers={"X-API-Key": KEY}, timeout=60
    )
    assert seeded.status_code == 200, seeded.text
    # Spread the seeded tickets over eight past weeks, so the weekly charts have a shape.
    with sqlite3.connect(folder / "ui.db") as connection:
        connection.execute(
            "UPDATE tickets SET created_at = datetime(created_at, "
            "'-' || ((rowid % 8) * 7 + rowid % 5) || ' days')"
        )
    return base


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def _guarded_context(browser, base: str, outside: list[str], **options):
    """A context without JavaScript whose requests to anywhere but the server are refused."""
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1200, "height": 820}, **options
    )

    def only_the_server(route):
        if route.request.url.startswith(base + "/"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_server)
    return context


def _shoot(page, name: str) -> None:
    folder = os.environ.get("CALMDESK_UI_SCREENSHOTS")
    if not folder:
        return
    path = Path(folder) / f"ui-{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    try:  # a palette PNG is a quarter of the size and reads the same
        from PIL import Image

        Image.open(path).convert("RGB").quantize(colors=128).save(path, optimize=True)
    except ImportError:
        pass


def _stat_cell(page, table: str, row_label: str, column: int) -> str:
    row = page.locator(f"section#{table} table.data tr", has_text=row_label).first
    return row.locator("td").nth(column).text_content()


def test_desk_and_trainer_flows_in_a_browser(served, browser, tmp_path):
    base = served
    outside: list[str] = []
    context = _guarded_context(browser, base, outside)
    page = context.new_page()

    # Log in: any page sends a visitor without the key cookie to the login form.
    page.goto(f"{base}/ui/")
    assert page.url.startswith(f"{base}/ui/login")
    _shoot(page, "login")
    page.fill("#api_key", "wrong-key")
    page.click("form button[type=submit]")
    assert page.locator(".error").is_visible()
    page.fill("#api_key", KEY)
    page.click("form button[type=submit]")
    assert page.url.rstrip("/").endswith("/ui") or page.url.endswith("/ui/")
    assert page.locator("table.queue tbody tr").count() == 50  # the first page
    cookies = {c["name"]: c for c in context.cookies()}
    assert cookies["calmdesk_key"]["httpOnly"] and cookies["calmdesk_key"]["sameSite"] == "Strict"

    page.goto(f"{base}/ui/stats")
    corrected_before = int(_stat_cell(page, "totals", "corrected", 1))

    # Triage from the box: the new ticket's page shows the text as text and the labels.
    page.goto(f"{base}/ui/triage")
    _shoot(page, "triage")
    page.fill("#text", COMPLAINT)
    page.select_option("select[name=lang]", "en")
    page.fill("input[name=channel]", "email")
    page.click("main form button[type=submit]")
    assert "/ui/tickets/" in page.url
    ticket_id = page.url.split("/ui/tickets/")[1].split("?")[0]
    assert page.locator("blockquote.complaint").inner_text() == COMPLAINT
    assert page.locator("blockquote.complaint b").count() == 0
    assert page.locator(".calming li").count() >= 1
    assert page.locator("ol.top3").count() == 3
    department = page.locator("select#department").input_value()
    cause = page.locator("select#cause").input_value()

    # Find it in its department's queue, newest first.
    page.goto(f"{base}/ui/")
    page.click(f"nav.queues a:has-text('{department}')")
    page.select_option("select[name=sort]", "newest")
    page.click("form.filters button")
    assert f"department={department}" in page.url
    first = page.locator("table.queue tbody tr").first
    assert "twice" in first.inner_text()
    _shoot(page, "queue")
    first.locator("td.text a").click()
    assert ticket_id in page.url

    # Correct it: another cause, and the customer was calm after all.
    other = next(
        v
        for v in page.locator("select#cause option").evaluate_all("os => os.map(o => o.value)")
        if v != cause
    )
    page.select_option("select#cause", other)
    for box in page.locator("input[name=emotions]:checked").all():
        box.uncheck()
    page.fill("#author", "ana")
    page.click("section.correct button[type=submit]")
    assert page.locator(".notice").is_visible()
    history = page.locator("section.history tbody tr")
    assert history.count() == 2 and other in history.nth(1).inner_text()
    _shoot(page, "ticket")

    # The statistics follow the correction.
    page.goto(f"{base}/ui/stats")
    assert int(_stat_cell(page, "totals", "corrected", 1)) == corrected_before + 1
    assert int(_stat_cell(page, "correction_rate", "cause", 1)) >= 1
    assert page.locator("section.stat svg.chart").count() >= 10
    page.goto(f"{base}/ui/stats#by_cause")  # the screenshot shows a chart and a trend
    _shoot(page, "stats")

    # A trainer uploads a transcript and sees its findings; the report is kept per agent.
    call = tmp_path / "maria_0412.vtt"
    call.write_text(TRANSCRIPT, encoding="utf-8")
    page.goto(f"{base}/ui/coach")
    page.set_input_files("#file", str(call))
    page.click("main form button[type=submit]")
    assert "/ui/coach/reports/" in page.url
    findings = page.locator("table.findings tbody tr")
    assert findings.count() >= 1 and "can't" in findings.first.inner_text().lower()
    framed = page.frame_locator("iframe.report").locator("body")
    assert "can't" in framed.inner_text().lower()
    _shoot(page, "coach-report")
    page.goto(f"{base}/ui/coach")
    assert page.locator("nav.queues a", has_text="maria").count() == 1
    _shoot(page, "coach")

    # Log out: the key cookie is gone and the pages ask for it again.
    page.click("form.logout button")
    assert "/ui/login" in page.url
    assert "calmdesk_key" not in {c["name"] for c in context.cookies()}
    page.goto(f"{base}/ui/stats")
    assert "/ui/login" in page.url
    context.close()
    assert outside == [], f"pages asked for outside resources: {outside}"


def test_spanish_browser_gets_spanish_pages(served, browser):
    outside: list[str] = []
    context = _guarded_context(browser, served, outside, locale="es-ES")
    page = context.new_page()
    page.goto(f"{served}/ui/login")
    page.fill("#api_key", KEY)
    page.click("form button[type=submit]")
    assert page.locator("h1").inner_text() == "Colas de atención"
    assert page.locator("html").get_attribute("lang") == "es"
    context.close()
    assert outside == []
