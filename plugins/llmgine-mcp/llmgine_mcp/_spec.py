"""Finding the toolbox a ``MODULE:ATTRIBUTE`` spec names (``llmgine mcp serve``'s argument)."""

from __future__ import annotations

import importlib
import re
from types import ModuleType

from llmgine.tools import Toolbox

from .errors import ToolboxSpecError

__all__ = ["load_toolbox"]

#: MODULE:ATTRIBUTE, both dotted Python names
_SPEC = re.compile(r"(?P<module>[\w.]+):(?P<attribute>[\w.]+)")
_EXAMPLE = "e.g. myapp.tools:toolbox"


def load_toolbox(spec: str) -> Toolbox:
    """Import the module of ``spec`` (``"MODULE:ATTRIBUTE"``) and return its toolbox.

    ``ATTRIBUTE`` (dotted for a nested one, ``"app:tools.toolbox"``) is an
    :class:`~llmgine.tools.Toolbox`, or a callable taking no arguments that returns
    one (``"app:make_toolbox"``), called once. Anything else raises
    :class:`~llmgine_mcp.ToolboxSpecError` naming the spec and what is wrong.
    The module is imported as Python finds it: on ``sys.path`` (the CLI's
    ``--app-dir`` adds a directory there).
    """
    match = _SPEC.fullmatch(spec.strip()) if isinstance(spec, str) else None
    if match is None:
        raise ToolboxSpecError(
            f"{spec!r} is not MODULE:ATTRIBUTE ({_EXAMPLE}): name the module that holds "
            "the toolbox, a colon, and the toolbox (or a function returning one)"
        )
    module_name, attribute = match["module"], match["attribute"]
    try:
        found: object = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and _is_prefix(exc.name, module_name):
            raise ToolboxSpecError(
                f"{spec}: there is no module {module_name!r} (no module named {exc.name!r}); "
                "run from the directory that holds it, pass --app-dir, or install it"
            ) from exc
        raise _import_failed(spec, module_name, exc) from exc
    # the module's own code failed (or exited: serving then would be a silent exit 0)
    except (Exception, SystemExit) as exc:
        raise _import_failed(spec, module_name, exc) from exc
    for part in attribute.split("."):
        if not hasattr(found, part):
            raise ToolboxSpecError(
                f"{spec}: {_what(found)} {_name_of(found)!r} has no attribute {part!r}"
            )
        found = getattr(found, part)
    if isinstance(found, Toolbox):
        return found
    if not callable(found):
        raise ToolboxSpecError(
            f"{spec} is {_kind(found)}, not an llmgine.tools.Toolbox (or a function returning one)"
        )
    try:
        made = found()
    except (Exception, SystemExit) as exc:
        raise ToolboxSpecError(
            f"{spec}: calling {attribute}() failed: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(made, Toolbox):
        raise ToolboxSpecError(
            f"{spec}: {attribute}() returned {_kind(made)}, not an llmgine.tools.Toolbox"
        )
    return made


def _is_prefix(missing: str, module_name: str) -> bool:
    """Whether the missing module is ``module_name`` or one of its parent packages."""
    return module_name == missing or module_name.startswith(missing + ".")


def _import_failed(spec: str, module_name: str, exc: BaseException) -> ToolboxSpecError:
    return ToolboxSpecError(
        f"{spec}: importing {module_name!r} failed: {type(exc).__name__}: {exc}"
    )


def _what(obj: object) -> str:
    if isinstance(obj, type):
        return "class"
    return "module" if isinstance(obj, ModuleType) else type(obj).__name__


def _name_of(obj: object) -> str:
    return str(getattr(obj, "__name__", type(obj).__name__))


def _kind(obj: object) -> str:
    shown = repr(obj)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"a {type(obj).__name__} ({shown})"
