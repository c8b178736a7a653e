"""The one `calmdesk` command. Each part (triage, coaching, api) registers its own sub-commands.

Usage errors are left to click's standalone mode (usage line, reason, "try --help", exit 2), so
they keep working whichever click typer ships; only our own errors and bugs are caught here.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer

from calmdesk import __version__
from calmdesk.cli_help import examples, polish_help
from calmdesk.errors import CalmdeskError

app = typer.Typer(
    name="calmdesk",
    help=(
        "Complaint triage and agent coaching for complaint desks.\n\n"
        "Labels complaints with their cause, responsible department and the customer's emotions, "
        "and checks agent transcripts for banned phrases, in English, Spanish, Chinese and "
        "Russian.\n\n"
        "Run 'calmdesk COMMAND --help' for a command's options and examples."
    ),
    epilog=examples(
        'calmdesk triage "my card was charged twice"',
        "calmdesk coach call.txt",
        "calmdesk serve --workers 2",
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: no <bool> placeholders, paragraphs rewrapped
)

# Each module defines `register(app)`; the order here is the order of `calmdesk --help`.
COMMAND_MODULES = (
    "triage.cli",
    "triage.transformer_cli",
    "coaching.cli",
    "api.cli",
    "calmdesk.redact_cli",
    "calmdesk.encoder.cli",
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"calmdesk {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_show_version,
        is_eager=True,
        help="Print the calmdesk version and exit.",
    ),
    debug: bool = typer.Option(
        False, "--debug", help="Show the full traceback when calmdesk fails unexpectedly."
    ),
) -> None:
    # --debug is read by main() before parsing (it must apply to errors raised anywhere).
    del version, debug


@app.command("version", epilog=examples("calmdesk version", "calmdesk --version"))
def version() -> None:
    """Print the calmdesk version."""
    typer.echo(__version__)


@app.command(
    "detect-lang",
    epilog=examples(
        'calmdesk detect-lang "Me cobraron dos veces"', 'calmdesk detect-lang "我的快递"'
    ),
)
def detect_lang(text: str = typer.Argument(..., help="Text whose language to detect.")) -> None:
    """Print the detected language of a text.

    Prints en, es, zh or ru, or explains why none fits (a text clearly in another language is
    refused; force a language with --lang where a command offers it).
    """
    from calmdesk.langid import detect_language

    typer.echo(detect_language(text))


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that part is not installed; its own import errors still raise
                continue
            raise
        module.register(app)


_register_commands()


def get_command():
    """The click command tree behind `calmdesk`, with help polished for display."""
    return polish_help(typer.main.get_command(app))


def _wants_debug(args: list[str]) -> bool:
    if os.environ.get("CALMDESK_DEBUG", "") not in ("", "0"):
        return True
    for arg in args:  # a top-level option: it stands before the command name
        if arg == "--debug":
            return True
        if not arg.startswith("-"):
            return False
    return False


def _is_click_exception(exc: Exception) -> bool:
    # click's or typer's vendored copy: both define their exceptions in a `click.exceptions`
    return type(exc).__module__.endswith("click.exceptions")


def _show_usage_error(command, args: list[str], exc: Exception) -> None:
    if not hasattr(exc, "show"):  # Abort: the user pressed Ctrl-C at a prompt
        sys.exit(1)
    if getattr(exc, "ctx", False) is None:  # some parser errors lose their command's context
        ctx = command.context_class(command, info_name="calmdesk")
        for name in (a for a in args if not a.startswith("-")):  # down nested groups (db purge)
            sub = getattr(ctx.command, "commands", {}).get(name)
            if sub is None:
                break
            ctx = sub.context_class(sub, info_name=name, parent=ctx)
        exc.ctx = ctx
    exc.show()
    sys.exit(getattr(exc, "exit_code", 2))


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one clear line and exit 2; bugs one line and exit 1."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = _wants_debug(args)
    command = get_command()
    try:
        code = command.main(args=args, prog_name="calmdesk", standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except CalmdeskError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except FileNotFoundError as exc:
        typer.echo(f"error: file not found: {exc.filename or exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:
        if _is_click_exception(exc):  # usage errors: usage line, reason, try --help; exit 2
            _show_usage_error(command, args, exc)
        if debug:
            raise
        typer.echo(
            f"error: calmdesk failed unexpectedly ({type(exc).__name__}: {exc}); "
            "run 'calmdesk --debug ...' to see the traceback and report it",
            err=True,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
