"""The seed README's snippets, run as written in a fresh interpreter against the plugin."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

# The seed's Basic Usage and Asynchronous Usage, with its placeholder "res_123"
# replaced by the created id, then the placeholder itself, which does not exist.
SEED = textwrap.dedent(
    """
    from llmgine.messages.bus import message_bus
    from llmgine.messages.commands import CreateResourceCommand
    from llmgine.messages.handlers import register_handlers

    # Register all handlers
    register_handlers()

    # Create and dispatch a command
    command = CreateResourceCommand(
        resource_type="example",
        resource_data={"name": "Example Resource"}
    )
    resource_id = message_bus.dispatch(command)

    import asyncio
    from llmgine.messages.bus import message_bus
    from llmgine.messages.commands import UpdateResourceCommand

    async def update_resource():
        command = UpdateResourceCommand(
            resource_id=resource_id,
            resource_type="example",
            resource_data={"name": "Updated Resource"}
        )
        await message_bus.dispatch_async(command)

    asyncio.run(update_resource())

    import llmgine_resources
    print(resource_id, dict(llmgine_resources.get_resource(resource_id).data))

    async def update_missing():
        await message_bus.dispatch_async(UpdateResourceCommand(
            resource_id="res_123", resource_type="example", resource_data={}
        ))

    try:
        asyncio.run(update_missing())
    except llmgine_resources.ResourceNotFound as error:
        print(type(error).__name__, error)
    """
)


def run(code: str, **env: str) -> str:
    """Run ``code`` in a fresh interpreter with only this plugin loaded; return its output."""
    base = {k: v for k, v in os.environ.items() if k != "LLMGINE_RESOURCES_DB"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**base, "LLMGINE_LOAD_PLUGINS": "resources", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_seed_snippets_run_against_the_installed_plugin() -> None:
    created, missing = run(SEED).splitlines()
    assert created.startswith("res_")
    assert created.endswith("{'name': 'Updated Resource'}")
    assert missing.startswith("ResourceNotFound no resource 'res_123' of type 'example'")


def test_with_the_env_var_resources_survive_a_restart(tmp_path: Path) -> None:
    db = str(tmp_path / "resources.db")
    create = (
        "from llmgine.messages.bus import message_bus\n"
        "from llmgine.messages.commands import CreateResourceCommand\n"
        "from llmgine.messages.handlers import register_handlers\n"
        "register_handlers()\n"
        "print(message_bus.dispatch(CreateResourceCommand('example', {'name': 'kept'})))\n"
    )
    resource_id = run(create, LLMGINE_RESOURCES_DB=db).strip()
    read = f"import llmgine_resources as r; print(dict(r.get_resource({resource_id!r}).data))"
    assert run(read, LLMGINE_RESOURCES_DB=db).strip() == "{'name': 'kept'}"
