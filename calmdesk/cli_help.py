"""How `calmdesk ... --help` reads: a one-line summary per command, plain metavars, examples.

Typer renders option types as `<str>`/`<bool>` placeholders; plain names (TEXT, PATH) in the
style of git and gh read better and do not depend on typer's display code.
"""

from __future__ import annotations

from typing import Any

# typer's type labels -> the metavar shown in help
_METAVARS = {
    "<str>": "TEXT",
    "<path>": "PATH",
    "<file>": "FILE",
    "<directory>": "DIR",
    "<int>": "N",
    "<int range>": "N",
    "<float range>": "NUMBER",
    "<float>": "NUMBER",
    "<list[str]>": "TEXT",
    "<list[path]>": "PATH",
    "<list[int]>": "N",
}


def examples(*lines: str) -> str:
    """An epilog whose example lines click prints as written (the \\b stops rewrapping)."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


def summary_of(help_text: str | None) -> str:
    """The first paragraph of a help text, on one line."""
    first = (help_text or "").strip().split("\n\n", 1)[0]
    return " ".join(first.split())


def _metavar(param: Any, ctx: Any) -> str | None:
    display = getattr(param, "display_type", None)
    if display is None:
        return None
    label = display(ctx)
    if label in _METAVARS:
        return _METAVARS[label]
    if label.startswith("<") and "|" in label:  # a choice: show the choices, click style
        return "[" + label.strip("<>") + "]"
    return label.strip("<>").upper() or None


def _no_type_label(ctx: Any) -> None:
    return None


def polish_help(command: Any, parent: Any = None) -> Any:
    """Set short help and plain metavars on every command below `command`, in place.

    Duck-typed on purpose: typer ships its own copy of click, whose classes are not click's.
    """
    ctx = command.context_class(command, info_name=command.name, parent=parent)
    if command.help and not command.short_help:
        command.short_help = summary_of(command.help)
    for param in command.params:
        if param.param_type_name == "option" and not param.is_flag and param.metavar is None:
            param.metavar = _metavar(param, ctx)
        elif param.param_type_name == "argument":
            # shown by name alone (TEXT, FILE_OR_DIR), as click does, without a type label
            param.metavar = param.metavar or param.name.upper()
            param.display_type_rich = _no_type_label
    for sub in getattr(command, "commands", {}).values():
        polish_help(sub, ctx)
    return command
