"""A workflow whose steps are remote commands: each step runs on a worker, through Redis."""

from __future__ import annotations

import dataclasses
from typing import Any

import attrs
import llmgine_redis
import pytest
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import Command, StartWorkflowCommand

llmgine_workflows = pytest.importorskip("llmgine_workflows")

pytestmark = pytest.mark.redis


@dataclasses.dataclass
class Fetch(Command[dict[str, Any]]):
    url: str


@dataclasses.dataclass
class Forget(Command[None]):
    url: str


WIRE_NAMES = {Fetch: "test.workflows.Fetch", Forget: "test.workflows.Forget"}
REMOTE_TYPES = [Fetch, Forget]


@pytest.fixture
def crawl() -> Any:
    from llmgine_workflows import Step, Workflow

    return Workflow(
        "crawl",
        [
            Step(
                "first",
                Fetch,
                lambda inp, res: Fetch(inp["first"]),
                compensate=lambda inp, res: Forget(inp["first"]),
                compensation=Forget,
            ),
            Step("second", Fetch, lambda inp, res: Fetch(res["first"]["next"])),
        ],
    )


async def test_remote_steps_complete_and_a_remote_failure_is_compensated(config, crawl, serving):
    cfg = attrs.asdict(config())
    caller_bus, worker_bus = MessageBus.isolated(), MessageBus.isolated()
    ran: list[str] = []

    def fetch(command: Fetch) -> dict[str, Any]:
        ran.append(f"fetch {command.url}")
        if command.url == "gone/next":
            raise LookupError(f"404: {command.url}")
        return {"next": command.url + "/next"}

    def forget(command: Forget) -> None:
        ran.append(f"forget {command.url}")

    worker_bus.register_command(Fetch, fetch)
    worker_bus.register_command(Forget, forget)
    engine = llmgine_workflows.install(caller_bus)
    llmgine_workflows.register_workflow(crawl, bus=caller_bus)
    llmgine_redis.install(caller_bus, **cfg)  # forwards Fetch and Forget: no local handler
    worker = llmgine_redis.install(worker_bus, worker=True, **cfg)
    async with serving(worker):
        run_id = await caller_bus.dispatch_async(StartWorkflowCommand("crawl", {"first": "a"}))
        run = engine.get_run(run_id)
        assert run.status == "completed"
        assert run.results == {"first": {"next": "a/next"}, "second": {"next": "a/next/next"}}
        assert ran == ["fetch a", "fetch a/next"]  # both ran on the worker's handlers

        ran.clear()
        failed = engine.get_run(
            await caller_bus.dispatch_async(StartWorkflowCommand("crawl", {"first": "gone"}))
        )
        assert failed.status == "failed"
        assert failed.failed_step == "second"
        assert "404: gone/next" in (failed.error_message or "")
        assert ran == ["fetch gone", "fetch gone/next", "forget gone"]  # undone on the worker
