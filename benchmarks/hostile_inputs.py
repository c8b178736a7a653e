"""Replay issue 10's hostile inputs (defects 1, 2, 3 and 8): the answer and the time of each.

Every case runs in its own subprocess with a timeout, since a backtracking regex holds the GIL
and cannot be interrupted: a case that does not finish is reported as "> N s". API cases post
through FastAPI's TestClient (time of the request only, the app's start-up excluded); CLI
cases run `python -m calmdesk.cli` (wall time of the command, start-up included).

    python benchmarks/hostile_inputs.py                          # this checkout
    python benchmarks/hostile_inputs.py --before ../main         # and an older checkout beside it
    python benchmarks/hostile_inputs.py --only d1 --timeout 120
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FULL_WIDTH = "ＭＹ ＯＲＤＥＲ ＩＳ ＬＡＴＥ"

# Runs inside the subprocess: build the app once, time one request, print one JSON line.
_API_RUNNER = textwrap.dedent(
    """
    import json, sys, time
    from fastapi.testclient import TestClient
    from api.app import create_app
    from api.settings import ApiSettings

    case = json.loads(sys.stdin.read())
    settings = ApiSettings(database_url=case["db"], triage_model_dir=case["model"])
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        client.get("/healthz")  # the first request's one-off costs are not the input's
        print("ready", flush=True)  # the parent's timeout starts now, not at start-up
        started = time.perf_counter()
        if "raw" in case:
            headers = {"content-type": "application/json"}
            response = client.post(case["path"], content=case["raw"], headers=headers)
        else:
            response = client.post(case["path"], json=case["json"])
        seconds = time.perf_counter() - started
    body = response.json()
    detail = body.get("error", {}).get("code") or body.get("lang") or ""
    message = body.get("error", {}).get("message", "")
    print(json.dumps({"answer": f"{response.status_code} {detail}", "seconds": seconds,
                      "message": message}))
    """
)


@dataclass
class Case:
    key: str  # d1, d2, d3, d8 + a short name
    what: str
    kind: str  # "api" or "cli"
    path: str = ""  # API path
    body: dict | None = None
    raw: str | None = None
    argv: tuple[str, ...] = ()
    files: dict[str, str] | None = None  # name -> content, written to a temporary folder
    needs_model: bool = False  # loads the default triage model: three times the timeout


def _spaces(n: int) -> str:
    return " " * n + "x"


def cases() -> list[Case]:
    vtt_voice = "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v" + " " * 32_000 + "x\n"
    vtt_tags = "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n" + "<" * 32_000 + "\n"
    big_turn = "Customer: hello\nAgent: " + "word " * 1_000_000 + "\n"  # 5 MB
    csv_nan = "speaker,text,start,end\nAgent,I can't do that,nan,1\nCustomer,why,1,2\n"
    vtt_backwards = "WEBVTT\n\n00:00:05.000 --> 00:00:01.000\n<v Agent>I can't do that\n"
    vtt_minutes = "WEBVTT\n\n99:00.000 --> 99:10.000\n<v Agent>I can't do that\n"
    return [
        Case("d1 spaces-200", "POST /v1/coach, text = 200 spaces + x", "api",
             "/v1/coach", {"text": _spaces(200)}),
        Case("d1 spaces-400", "POST /v1/coach, text = 400 spaces + x", "api",
             "/v1/coach", {"text": _spaces(400)}),
        Case("d1 tabs-400", "POST /v1/coach, text = 400 tabs + x", "api",
             "/v1/coach", {"text": "\t" * 400 + "x"}),
        Case("d1 spaces-2000", "POST /v1/coach, text = 2,000 spaces + x (a 2 KB request)", "api",
             "/v1/coach", {"text": _spaces(2000)}),
        Case("d1 srt-newlines", "POST /v1/coach, text = '1' + 32,000 newlines", "api",
             "/v1/coach", {"text": "1" + "\n" * 32_000}),
        Case("d1 vtt-voice", "POST /v1/coach, VTT cue '<v' + 32,000 spaces + x", "api",
             "/v1/coach", {"text": vtt_voice, "format": "vtt"}),
        Case("d1 vtt-tags", "POST /v1/coach, VTT cue of 32,000 '<'", "api",
             "/v1/coach", {"text": vtt_tags, "format": "vtt"}),
        Case("d2 api-text", "POST /v1/coach, text = 100,000 '['", "api",
             "/v1/coach", {"text": "[" * 100_000}),
        Case("d2 api-body", "POST /v1/coach, body = 100,000 '['", "api",
             "/v1/coach", raw="[" * 100_000),
        Case("d2 cli-coach", "calmdesk coach deep.json (100,000 '[')", "cli",
             argv=("coach", "{dir}/deep.json"), files={"deep.json": "[" * 100_000}),
        Case("d2 cli-triage", "calmdesk triage --input deep.json", "cli",
             argv=("triage", "--input", "{dir}/deep.json"), files={"deep.json": "[" * 100_000},
             needs_model=True),
        Case("d3 big-turn", "calmdesk coach big.txt (one 5 MB agent turn)", "cli",
             argv=("coach", "{dir}/big.txt"), files={"big.txt": big_turn}),
        Case("d3 csv-nan", "calmdesk coach call.csv --format html (start = nan)", "cli",
             argv=("coach", "{dir}/call.csv", "--format", "html", "--output", "{dir}/r.html"),
             files={"call.csv": csv_nan}),
        Case("d3 vtt-backwards", "calmdesk coach call.vtt (cue starts at 5 s, ends at 1 s)",
             "cli", argv=("coach", "{dir}/call.vtt"), files={"call.vtt": vtt_backwards}),
        Case("d3 vtt-minutes-99", "calmdesk coach call.vtt (cue at 99:00.000)", "cli",
             argv=("coach", "{dir}/call.vtt"), files={"call.vtt": vtt_minutes}),
        Case("d8 api-full-width", f"POST /v1/triage, text = {FULL_WIDTH}", "api",
             "/v1/triage", {"text": FULL_WIDTH}, needs_model=True),
        Case("d8 cli-full-width", f"calmdesk triage --json '{FULL_WIDTH}'", "cli",
             argv=("triage", "--json", FULL_WIDTH), needs_model=True),
    ]  # fmt: skip


def _env(root: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(root),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "NO_COLOR": "1",
        "CALMDESK_ACCESS_LOG": "0",
    }


def run_case(case: Case, root: Path, timeout: float) -> dict:
    """{"answer", "seconds", "message"} or {"answer": "timeout", "seconds": timeout}."""
    with tempfile.TemporaryDirectory(prefix="calmdesk-hostile-") as folder:
        for name, content in (case.files or {}).items():
            Path(folder, name).write_text(content, encoding="utf-8")
        model = root / "models" / "triage-default"
        if case.kind == "api":
            spec = {
                "db": f"sqlite:///{folder}/api.db",
                # coaching cases do not need the triage model: leave it out, start-up is faster
                "model": str(model if case.needs_model else Path(folder, "no-model")),
                "path": case.path,
            }
            spec.update({"raw": case.raw} if case.raw is not None else {"json": case.body})
            command = [sys.executable, "-c", _API_RUNNER]
            stdin = json.dumps(spec)
        else:
            argv = [a.replace("{dir}", folder) for a in case.argv]
            command = [sys.executable, "-m", "calmdesk.cli", *argv]
            stdin = None
        started = time.perf_counter()
        try:
            rc, out, err = _run(command, stdin, root, timeout, wait_for_ready=case.kind == "api")
        except subprocess.TimeoutExpired:
            return {"answer": "no answer", "seconds": None, "message": f"killed after {timeout} s"}
        wall = time.perf_counter() - started
    if case.kind == "api":
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if rc != 0 or not lines:
            return {"answer": f"crash rc={rc}", "seconds": wall, "message": _last_line(err)}
        return json.loads(lines[-1])
    message = _last_line(err) if rc else ""
    answer = f"exit {rc}" + (" + traceback" if "Traceback" in err else "")
    return {"answer": answer, "seconds": wall, "message": message}


def _run(command, stdin, root: Path, timeout: float, wait_for_ready: bool):
    """(returncode, stdout, stderr); the timeout counts from the child's "ready" line when
    `wait_for_ready` (the app's start-up on a busy machine is not the input's fault)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE if wait_for_ready else out,
            stderr=err,
            text=True,
            env=_env(root),
            cwd=root,
        )
        try:
            if stdin is not None:
                proc.stdin.write(stdin)
            proc.stdin.close()
            if wait_for_ready:
                first = proc.stdout.readline()  # start-up: no limit but the child's own
                rest = _read_within(proc, timeout)
                out.write(first + rest)
            else:
                proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        out.seek(0)
        err.seek(0)
        return proc.returncode, out.read(), err.read()


def _read_within(proc: subprocess.Popen, timeout: float) -> str:
    """The child's remaining stdout, or TimeoutExpired when it does not finish in time."""
    chunks: list[str] = []
    reader = threading.Thread(target=lambda: chunks.append(proc.stdout.read()), daemon=True)
    reader.start()
    reader.join(timeout)
    if reader.is_alive():
        raise subprocess.TimeoutExpired(proc.args, timeout)
    proc.wait()
    return "".join(chunks)


def _limit(case: Case, timeout: float) -> float:
    return timeout * 3 if case.needs_model else timeout


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:160] if lines else ""


def _cell(result: dict, timeout: float) -> str:
    if result["seconds"] is None:
        return f"no answer, > {timeout:g} s"
    return f"{result['answer']}, {result['seconds']:.3f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, help="An older checkout to compare (its root).")
    parser.add_argument("--timeout", type=float, default=60.0, help="Seconds per case.")
    parser.add_argument(
        "--only", help="Comma-separated key prefixes of the cases to run (d1, d2, 'd3 csv' ...)."
    )
    parser.add_argument("--messages", action="store_true", help="Also print each message.")
    parser.add_argument("--json", type=Path, help="Also write the results to this JSON file.")
    args = parser.parse_args()
    roots = {"after": ROOT}
    if args.before:
        roots = {"before": args.before.resolve(), "after": ROOT}
    prefixes = tuple(p.strip() for p in (args.only or "").split(",") if p.strip())
    chosen = [c for c in cases() if not prefixes or c.key.startswith(prefixes)]
    results = []
    header = f"| case | input | {' | '.join(roots)} |"
    print(header + "\n|" + "---|" * (2 + len(roots)), flush=True)
    for case in chosen:
        row = {"case": case.key, "input": case.what}
        for label, root in roots.items():
            row[label] = run_case(case, root, _limit(case, args.timeout))
        results.append(row)
        cells = " | ".join(_cell(row[label], _limit(case, args.timeout)) for label in roots)
        print(f"| {case.key} | {case.what} | {cells} |", flush=True)
        if args.messages:
            for label in roots:
                if row[label].get("message"):
                    print(f"|   | {label}: {row[label]['message']} | |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
