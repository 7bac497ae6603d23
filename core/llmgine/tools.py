"""Commands as LLM tools: definitions for a model's API, and calls that never crash the host.

A :class:`Toolbox` holds the command classes a host lets a model use. It gives their
definitions in the shapes of the OpenAI, Anthropic and MCP tool APIs, and turns a
model's tool call (a name and its arguments) into a validated command dispatched on
the bus, answering with a JSON-serialisable dict the model can read::

    toolbox = Toolbox([LookUpWeather, PlaceOrder])
    tools = toolbox.definitions("openai")
    ...
    reply = toolbox.call(call.function.name, call.function.arguments)
    # {"ok": True, "result": ...} or {"ok": False, "error": {"type": ..., "message": ...}}

See docs/guide/tools.md.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal, TypeAlias

from .messages._naming import type_name
from .messages.bus import MessageBus, message_bus
from .messages.commands import Command
from .messages.conversion import from_json, json_schema, to_jsonable
from .messages.errors import AsyncHandlerError, CommandHandlerNotFound, MessageValidationError

__all__ = ["FORMATS", "NAME_PATTERN", "Format", "Toolbox", "ToolboxError", "tool_name"]

#: The formats :meth:`Toolbox.definitions` gives.
Format: TypeAlias = Literal["openai", "openai-responses", "anthropic", "mcp"]
FORMATS: tuple[Format, ...] = ("openai", "openai-responses", "anthropic", "mcp")
#: What a tool name must match (OpenAI's and Anthropic's rule; MCP allows more).
NAME_PATTERN = re.compile(r"[a-zA-Z0-9_-]{1,64}")

# PlaceOrder -> place_order, HTTPRequest -> http_request, GetWeatherV2 -> get_weather_v2
_WORD_BREAK = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
# keys of json_schema()'s top level that the definitions carry elsewhere or need not
_SCHEMA_ONLY = ("$schema", "title", "description")

_log = logging.getLogger("llmgine.tools")

Reply: TypeAlias = dict[str, Any]


class ToolboxError(ValueError):
    """A :class:`Toolbox` cannot be built as asked: a bad or duplicate tool name, a class
    that is not a command, or one whose input schema cannot be derived."""


def tool_name(command: type) -> str:
    """The tool name a :class:`Toolbox` gives ``command`` by default: its class name in
    snake_case (``PlaceOrder`` -> ``place_order``, ``HTTPRequest`` -> ``http_request``)."""
    return _WORD_BREAK.sub("_", command.__name__).lower()


class Toolbox:
    """The commands a model may call, as tools.

    ``commands`` is an iterable of command classes, each named by :func:`tool_name`
    (its class name in snake_case), or a mapping of tool names to command classes.
    Names must match ``^[a-zA-Z0-9_-]{1,64}$`` and be unique; each class must be a
    :class:`~llmgine.messages.Command` whose input schema
    (:func:`~llmgine.messages.conversion.json_schema`) can be derived. Anything else
    raises :class:`ToolboxError` here, not when a model calls the tool.

    A tool's description is its class's own docstring; its input schema is the class's
    fields (the bus's meta fields, such as ``command_id``, are never input). Calls are
    dispatched on ``bus``: middleware, sessions (call inside ``with bus.session():``),
    pending events and tracing apply as to any dispatch. A toolbox does not change
    after it is built, so threads and tasks may share it.
    """

    def __init__(
        self,
        commands: Iterable[type[Command[Any]]] | Mapping[str, type[Command[Any]]],
        *,
        bus: MessageBus = message_bus,
    ) -> None:
        self._bus = bus
        if isinstance(commands, type):
            raise ToolboxError(
                f"a Toolbox takes a list of command classes (or a mapping of tool names to "
                f"them), got the class {type_name(commands)} itself: Toolbox([{commands.__name__}])"
            )
        pairs = (
            list(commands.items())
            if isinstance(commands, Mapping)
            else [(_default_name(cls), cls) for cls in commands]
        )
        self._commands: dict[str, type[Command[Any]]] = {}
        self._tools: dict[str, _Tool] = {}
        for name, cls in pairs:
            _check_name(name, cls)
            if name in self._commands:
                raise ToolboxError(
                    f"tool name {name!r} is given to both {type_name(self._commands[name])} "
                    f"and {type_name(cls)}; pass a mapping of names to command classes "
                    "to name them apart"
                )
            self._commands[name] = cls
            self._tools[name] = _describe(name, cls)

    def __repr__(self) -> str:
        return f"<Toolbox {list(self._commands)} on {self._bus!r}>"

    @property
    def bus(self) -> MessageBus:
        """The bus the tools' commands are dispatched on."""
        return self._bus

    @property
    def names(self) -> tuple[str, ...]:
        """The tool names, in the order the commands were given."""
        return tuple(self._commands)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._commands

    def __len__(self) -> int:
        return len(self._commands)

    def __iter__(self) -> Iterator[str]:
        return iter(self._commands)

    def command(self, name: str) -> type[Command[Any]]:
        """The command class of the tool ``name`` (a ``KeyError`` naming the tools if none)."""
        try:
            return self._commands[name]
        except KeyError:
            raise KeyError(f"no tool named {name!r}; the tools are {self.names}") from None

    def definitions(self, format: Format) -> list[dict[str, Any]]:
        """The tool definitions in the shape one API expects, in the order of :attr:`names`.

        * ``"openai"``: Chat Completions' ``tools``, ``{"type": "function", "function":
          {"name", "description", "parameters"}}``;
        * ``"openai-responses"``: the Responses API's ``{"type": "function", "name",
          "description", "parameters", "strict": false}``;
        * ``"anthropic"``: the Messages API's ``{"name", "description", "input_schema"}``;
        * ``"mcp"``: MCP ``tools/list`` entries, ``{"name", "title", "description",
          "inputSchema"}``, the title being the class name in words (``"Place order"``).

        OpenAI's strict mode is off (``strict`` would need every field required and
        nullable instead of optional); arguments are validated on :meth:`call` instead.
        ``description`` is left out for a class without a docstring. Each call returns
        new dicts, which the caller may change.
        """
        if format not in FORMATS:
            raise ValueError(f"unknown tool definition format {format!r}; use one of {FORMATS}")
        return [copy.deepcopy(tool.shape(format)) for tool in self._tools.values()]

    def call(self, name: str, arguments: str | bytes | Mapping[str, Any] | None) -> Reply:
        """Validate ``arguments``, dispatch the tool's command, and answer the model.

        ``arguments`` is a JSON object as text or bytes (as OpenAI sends it), already
        parsed (Anthropic's ``input``), or ``None``/``""`` for none. The answer is
        ``{"ok": True, "result": <the handler's result as JSON values>}`` or ``{"ok":
        False, "error": {"type", "message"[, "fields"]}}`` with ``type`` one of
        ``"unknown_tool"``, ``"invalid_arguments"`` (with ``fields``: ``[{"path",
        "message"}]``), ``"handler_error"`` (the handler raised; logged too),
        ``"unavailable"`` (no handler is registered for the command) or
        ``"result_not_json"`` (the command ran, but its result cannot be given as
        JSON; logged too).

        A tool whose handler is ``async def`` raises
        :class:`~llmgine.messages.AsyncHandlerError` before it runs, and so does a sync
        handler that dispatches to an async one: the host's mistake, not the model's
        (use :meth:`call_async`). ``KeyboardInterrupt``, ``SystemExit`` and other
        ``BaseException`` s propagate.
        """
        command = self._command(name, arguments)
        if isinstance(command, dict):
            return command
        try:
            result = self._bus.dispatch(command)
        except AsyncHandlerError as exc:
            raise AsyncHandlerError(
                f"{exc}; for a toolbox: await toolbox.call_async({name!r}, arguments)"
            ) from exc
        except Exception as exc:
            return _failed(name, command, exc)
        return _succeeded(name, result)

    async def call_async(
        self, name: str, arguments: str | bytes | Mapping[str, Any] | None
    ) -> Reply:
        """Like :meth:`call`, with ``await bus.dispatch_async``: for any handler, plain or
        ``async def``. Cancellation propagates (the answer is never given)."""
        command = self._command(name, arguments)
        if isinstance(command, dict):
            return command
        try:
            result = await self._bus.dispatch_async(command)
        except Exception as exc:
            return _failed(name, command, exc)
        return _succeeded(name, result)

    def _command(
        self, name: str, arguments: str | bytes | Mapping[str, Any] | None
    ) -> Command[Any] | Reply:
        """The command the call asks for, or the error answer that says why there is none."""
        cls = self._commands.get(name) if isinstance(name, str) else None
        if cls is None:
            return _error(
                "unknown_tool", f"there is no tool named {name!r}; the tools are {list(self.names)}"
            )
        try:
            command: Command[Any] = from_json(cls, _parse(arguments), extra="forbid")
        except MessageValidationError as exc:
            return _invalid(name, [{"path": e.path, "message": e.message} for e in exc.errors])
        return command


@dataclasses.dataclass(frozen=True)
class _Tool:
    """One tool's definition parts, worked out once when the toolbox is built."""

    name: str
    title: str
    description: str | None
    schema: dict[str, Any]

    def shape(self, format: Format) -> dict[str, Any]:
        described = {"description": self.description} if self.description else {}
        if format == "openai":
            function = {"name": self.name, **described, "parameters": self.schema}
            return {"type": "function", "function": function}
        if format == "openai-responses":
            # strict defaults to true in the Responses API: say it is off (see definitions())
            return {
                "type": "function",
                "name": self.name,
                **described,
                "parameters": self.schema,
                "strict": False,
            }
        if format == "anthropic":
            return {"name": self.name, **described, "input_schema": self.schema}
        return {"name": self.name, "title": self.title, **described, "inputSchema": self.schema}


def _default_name(cls: Any) -> str:
    if not isinstance(cls, type):
        raise ToolboxError(
            f"a Toolbox takes command classes (or a mapping of tool names to them), got {cls!r}"
        )
    return tool_name(cls)


def _check_name(name: object, cls: object) -> None:
    if not (isinstance(cls, type) and issubclass(cls, Command)):
        raise ToolboxError(
            f"tool {name!r}: {cls!r} is not a command class "
            "(a subclass of llmgine.messages.Command)"
        )
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ToolboxError(
            f"tool name {name!r} of {type_name(cls)} must be 1 to 64 letters, digits, '_' or "
            "'-' (what OpenAI and Anthropic accept); pass a mapping of names to command "
            "classes to choose one"
        )


def _describe(name: str, cls: type[Command[Any]]) -> _Tool:
    try:
        schema = json_schema(cls)
    except Exception as exc:  # TypeError for an annotation it cannot convert, or others
        raise ToolboxError(
            f"tool {name!r}: the input schema of {type_name(cls)} cannot be derived: {exc}"
        ) from exc
    # json_schema's description is the class's own docstring, cleaned, without the
    # "Attributes:" section (the fields carry those) or a @dataclass's signature
    description = schema.get("description")
    parameters = {key: value for key, value in schema.items() if key not in _SCHEMA_ONLY}
    return _Tool(name, _title(cls.__name__), description, parameters)


def _title(class_name: str) -> str:
    # PlaceOrder -> "Place order", HTTPRequest -> "HTTP request": a display name for MCP
    words = [w if w.isupper() else w.lower() for w in _WORD_BREAK.split(class_name)]
    return " ".join(words)[:1].upper() + " ".join(words)[1:]


def _parse(arguments: object) -> Any:
    # from_json parses text itself (refusing NaN, which json.loads would take) and says
    # what is wrong with anything that is not an object; only "no arguments" is ours
    if arguments is None:
        return {}
    if isinstance(arguments, str | bytes | bytearray):
        return arguments if arguments.strip() else {}
    if isinstance(arguments, Mapping) and not isinstance(arguments, dict):
        return dict(arguments)
    return arguments


def _error(kind: str, message: str, **more: Any) -> Reply:
    return {"ok": False, "error": {"type": kind, "message": message, **more}}


def _invalid(name: str, fields: list[dict[str, str]]) -> Reply:
    listed = "; ".join(
        f"{f['path']}: {f['message']}" if f["path"] else f["message"] for f in fields
    )
    return _error(
        "invalid_arguments",
        f"the arguments of tool {name!r} are not valid ({listed}); fix them and call it again",
        fields=fields,
    )


def _failed(name: str, command: Command[Any], exc: Exception) -> Reply:
    if isinstance(exc, CommandHandlerNotFound) and exc.command_type is type(command):
        _log.error("tool %r: %s", name, exc)
        return _error("unavailable", f"tool {name!r} is not available now (no handler runs it)")
    _log.error("tool %r: the handler of %s failed", name, type_name(type(command)), exc_info=exc)
    try:
        text = str(exc)
    except Exception:  # (an exception whose __str__ fails: the answer is still given)
        text = "(its message cannot be shown)"
    return _error("handler_error", f"tool {name!r} failed: {type(exc).__name__}: {text}")


def _succeeded(name: str, result: Any) -> Reply:
    try:
        values = to_jsonable(result)
        # to_jsonable passes values of other types through: make sure JSON can hold them
        json.dumps(values, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:  # (a cycle: RecursionError)
        _log.error("tool %r: its result cannot be given as JSON", name, exc_info=exc)
        return _error(
            "result_not_json",
            f"tool {name!r} ran and succeeded, but its result cannot be given as JSON "
            f"({type(exc).__name__}: {exc}); do not call it again for the same request",
        )
    return {"ok": True, "result": values}
