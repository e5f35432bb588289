"""A command line parsed without building typer's command, for the common invocations.

Typer builds its click command and converts every value through pydantic on each run: about
0.1-0.2 s of a cold ``python recommend.py photo.jpg`` on these machines (issue 17), longer than
everything the lookups do. :func:`quick_arguments` reads the command function's own typer
declarations (flags, defaults, types) and parses the plain forms (``photo.jpg --catalog DIR -k 5
--no-progress --set a.b=c``); anything else (``--help``, an unknown or repeated option, a value
that starts with ``-`` or is empty, ``-k5``, ``--``, numbers in other spellings) gives ``None``,
and typer parses it as always, with its own messages. :func:`run_parsed` then calls the function
with typer's exit handling (exit codes, Ctrl+C as 130, a closed pipe, its traceback display).
``tests/test_quick_args.py`` checks the arguments against typer's for many command lines.
"""

from __future__ import annotations

import os
import re
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

_INT = re.compile(r"[0-9]{1,18}")
_FLOAT = re.compile(r"[0-9]{1,18}(\.[0-9]{1,18})?")
_SCALARS = (bool, int, float, str, Path)


class _Spec:
    """One parameter: its Python name, value type, whether it repeats, its default."""

    def __init__(self, name: str, kind: type, multiple: bool, default: Any) -> None:
        self.name, self.kind, self.multiple, self.default = name, kind, multiple, default


def _declarations(function: Callable[..., Any]) -> tuple[dict[str, tuple[_Spec, Any]], _Spec | None, dict[str, Any]] | None:
    """({flag: (spec, value for a bool flag)}, the positional argument's spec, defaults by name),
    or None when a parameter is of a kind this parser leaves to typer."""
    import inspect

    from typer.models import ArgumentInfo, OptionInfo

    hints = typing.get_type_hints(function)
    flags: dict[str, tuple[_Spec, Any]] = {}
    positional: _Spec | None = None
    defaults: dict[str, Any] = {}
    for name, parameter in inspect.signature(function).parameters.items():
        info = parameter.default
        annotation = hints.get(name)
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        multiple = origin in (list, typing.List)
        if origin is typing.Union and len(args) == 2 and type(None) in args:
            annotation = next(a for a in args if a is not type(None))
        elif multiple and len(args) == 1:
            annotation = args[0]
        if annotation not in _SCALARS or not isinstance(info, (OptionInfo, ArgumentInfo)):
            return None
        if getattr(info, "envvar", None) or getattr(info, "callback", None) or getattr(info, "parser", None):
            return None
        spec = _Spec(name, annotation, multiple, info.default)
        defaults[name] = info.default
        if isinstance(info, ArgumentInfo):
            if positional is not None or not multiple:
                return None
            positional = spec
            continue
        declared = list(info.param_decls or ())
        if any("/" in d or not d.startswith("-") for d in declared):
            return None
        if not declared:
            declared = ["--" + name.replace("_", "-")]
            if annotation is bool:
                flags["--no-" + name.replace("_", "-")] = (spec, False)
        for flag in declared:
            flags[flag] = (spec, True if annotation is bool else None)
    return flags, positional, defaults


def _value(spec: _Spec, text: str) -> Any:
    """``text`` as the parameter's type, or raise ValueError where typer could read it otherwise."""
    if not text or text.startswith("-"):
        raise ValueError(text)
    if spec.kind is int:
        if not _INT.fullmatch(text):
            raise ValueError(text)
        return int(text)
    if spec.kind is float:
        if not _FLOAT.fullmatch(text):
            raise ValueError(text)
        return float(text)
    return spec.kind(text)


def quick_arguments(function: Callable[..., Any], argv: list[str]) -> dict[str, Any] | None:
    """``function``'s keyword arguments for ``argv`` as typer would give them, or None where
    typer must parse (help, errors, anything but the plain forms)."""
    if any(key.startswith("_") and key.endswith("_COMPLETE") for key in os.environ):
        return None  # a shell-completion request: typer's
    try:
        from typer import main as typer_main
        from typer.models import DeveloperExceptionConfig  # noqa: F401 - run_parsed needs these

        typer_main.except_hook, typer_main._typer_developer_exception_attr_name  # noqa: B018
        declared = _declarations(function)
    except Exception:  # noqa: BLE001 - another typer than the one tested, or odd annotations: typer parses
        return None
    if declared is None:
        return None
    flags, positional, defaults = declared
    values: dict[str, Any] = {}
    given: set[str] = set()
    positionals: list[Any] = []
    tokens = list(argv)
    position = 0
    try:
        while position < len(tokens):
            token = tokens[position]
            position += 1
            if not token.startswith("-"):
                if positional is None:
                    return None
                positionals.append(_value(positional, token))
                continue
            flag, inline = (token.split("=", 1) + [None])[:2] if token.startswith("--") else (token, None)
            if flag not in flags:
                return None  # --help, --, -k5, an unknown or misspelt option: typer's message
            spec, flag_value = flags[flag]
            if spec.name in given and not spec.multiple:
                return None
            given.add(spec.name)
            if spec.kind is bool:
                if inline is not None:
                    return None
                values[spec.name] = flag_value
                continue
            if inline is None:
                if position >= len(tokens):
                    return None
                inline = tokens[position]
                position += 1
            value = _value(spec, inline)
            if spec.multiple:
                values.setdefault(spec.name, []).append(value)
            else:
                values[spec.name] = value
    except ValueError:
        return None
    arguments = {}
    for name, default in defaults.items():
        if positional is not None and name == positional.name:
            arguments[name] = positionals if positionals else default
        elif name in values:
            arguments[name] = values[name]
        else:
            arguments[name] = list(default) if isinstance(default, (list, tuple)) else default
    return arguments


def run_parsed(app: Any, function: Callable[..., Any], arguments: dict[str, Any]) -> None:
    """Call ``function(**arguments)`` the way typer's standalone mode would have: ``typer.Exit``
    and ``SystemExit`` end the process with their code, Ctrl+C with 130, a closed output pipe with
    1, and any other exception goes to typer's traceback display (as ``app()`` sets it up)."""
    import errno

    import typer
    from typer import main as typer_main
    from typer.models import DeveloperExceptionConfig

    if sys.excepthook != typer_main.except_hook:
        sys.excepthook = typer_main.except_hook
    try:
        try:
            function(**arguments)
            code = 0
        except typer.Exit as done:
            code = done.exit_code
        except KeyboardInterrupt:
            code = 130
        except EOFError:
            from typer.core import HAS_RICH

            print(file=sys.stderr)
            if HAS_RICH:
                from typer import rich_utils

                rich_utils.rich_abort_error()
            else:
                print("Aborted!", file=sys.stderr)
            code = 1
        except OSError as error:
            if error.errno != errno.EPIPE:
                raise
            from typer._click.utils import PacifyFlushWrapper

            sys.stdout = PacifyFlushWrapper(sys.stdout)  # type: ignore[assignment]
            sys.stderr = PacifyFlushWrapper(sys.stderr)  # type: ignore[assignment]
            code = 1
    except Exception as error:
        setattr(error, typer_main._typer_developer_exception_attr_name, DeveloperExceptionConfig(
            pretty_exceptions_enable=app.pretty_exceptions_enable,
            pretty_exceptions_show_locals=app.pretty_exceptions_show_locals,
            pretty_exceptions_short=app.pretty_exceptions_short))
        raise
    sys.exit(code)
