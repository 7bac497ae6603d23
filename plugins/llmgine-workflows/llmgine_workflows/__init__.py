"""llmgine-workflows: multi-step workflows (sagas) run on llmgine's message bus.

Define a workflow as named steps, each building a command from the run's input
and the earlier steps' results, with an optional compensating command::

    from llmgine_workflows import Step, Workflow, register_workflow

    register_workflow(Workflow("order", [  # on message_bus; or bus=...
        Step("reserve", Reserve, lambda inp, res: Reserve(inp["item"]),
             compensate=lambda inp, res: Release(res["reserve"]), compensation=Release),
        Step("charge", Charge, lambda inp, res: Charge(inp["card"])),
    ]))
    run_id = message_bus.dispatch(StartWorkflowCommand("order", {"item": "x", "card": "y"}))

Plugins declare workflows through the ``register_workflows`` hook instead (see
:mod:`llmgine_workflows.hookspecs`). The dispatch returns when the run has
finished; ``engine_for(bus).get_run(run_id)`` shows how it went.
"""

from ._definition import Builder, Step, Workflow
from ._engine import DB_ENV, FILE_MODE_ENV, WorkflowEngine
from ._registry import WorkflowRegistry
from ._state import (
    WorkflowsState,
    engine_for,
    get_workflow,
    install,
    register_workflow,
    registered_workflows,
    state_of,
    unregister_workflow,
)
from ._store import RunRecord, RunStore, StepRecord
from .errors import (
    MissingHandlerError,
    RunNotFoundError,
    RunStoreError,
    WorkflowDefinitionError,
    WorkflowError,
    WorkflowNotFoundError,
    WorkflowRunError,
)

__all__ = [
    "DB_ENV",
    "FILE_MODE_ENV",
    "Builder",
    "MissingHandlerError",
    "RunNotFoundError",
    "RunStoreError",
    "RunRecord",
    "RunStore",
    "Step",
    "StepRecord",
    "Workflow",
    "WorkflowDefinitionError",
    "WorkflowEngine",
    "WorkflowError",
    "WorkflowNotFoundError",
    "WorkflowRegistry",
    "WorkflowRunError",
    "WorkflowsState",
    "engine_for",
    "get_workflow",
    "install",
    "register_workflow",
    "registered_workflows",
    "state_of",
    "unregister_workflow",
]
