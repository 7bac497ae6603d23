"""Run the seed's four usage snippets as one program, on the installed llmgine wheels.

    python -I tools/smoke_seed.py snippets.json

``snippets.json`` maps ``SUBSCRIBER``, ``BASIC``, ``ASYNC`` and ``CUSTOM_HANDLER`` to
the snippets' code (``tools/smoke.py`` writes it from ``tests/test_seed_snippets.py``).
The only glue is what the snippets leave open: an existing id in place of the
placeholder ``res_123`` and a ``some_event`` for the custom handler. The resource
commands must be handled by the installed llmgine-resources plugin. Exits 1 with a
message naming what differs; prints one summary line when all is well.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import types
from pathlib import Path
from typing import Any


def run_snippet(code: str, namespace: dict[str, Any]) -> None:
    """Run ``code`` in ``namespace``, the globals of a module (dataclass looks it up)."""
    exec(compile(code, "<seed snippet>", "exec", dont_inherit=True), namespace)


def main(path: str) -> int:
    """Run the snippets in the seed's order (the subscriber first, to see the first event)."""
    snippets = json.loads(Path(path).read_text())
    from llmgine.messages.bus import message_bus
    from llmgine.messages.commands import CreateResourceCommand
    from llmgine.messages.events import SystemEvent

    module = types.ModuleType("seed_program")
    sys.modules[module.__name__] = module
    namespace = module.__dict__
    errors: list[SystemEvent] = []
    message_bus.subscribe_event("system.*.error", errors.append)
    some_event = SystemEvent(component="example", severity="info", message="custom ran")
    namespace["some_event"] = some_event
    published: list[SystemEvent] = []
    message_bus.subscribe_event("system.example.info", published.append)
    updated: list[Any] = []
    message_bus.subscribe_event("resource.updated", updated.append)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        run_snippet(snippets["SUBSCRIBER"], namespace)
        run_snippet(snippets["BASIC"], namespace)
        resource_id = namespace["resource_id"]
        run_snippet(snippets["ASYNC"].replace('"res_123"', repr(resource_id)), namespace)
        run_snippet(snippets["CUSTOM_HANDLER"], namespace)
        result = message_bus.dispatch(namespace["CustomCommand"](parameter="p"))
    _, source = message_bus.command_handlers()[CreateResourceCommand]
    expected_out = [f"Resource created: {resource_id}", "Handling custom command with parameter: p"]
    problems = [
        f"{what}: {got!r}, expected {want!r}"
        for what, got, want in [
            ("output", out.getvalue().splitlines(), expected_out),
            (
                "resources the async snippet updated",
                [e.resource_id for e in updated],
                [resource_id],
            ),
            ("the custom command's result", result, True),
            ("events the custom handler queued", published, [some_event]),
            ("the resource commands' handler", source, "plugin 'resources'"),
            ("system error events", errors, []),
        ]
        if got != want
    ]
    if problems:
        print("the seed's snippets misbehaved:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print(f"4 snippets ran; resource {resource_id} created and updated by {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
