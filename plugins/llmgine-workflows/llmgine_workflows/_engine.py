"""The engine: handles Start/ResumeWorkflowCommand on one bus and drives runs.

A run's steps go through ``await bus.dispatch_async(command)``, so a step's
command may have an ``async def`` handler, or a transport's forwarding handler
that runs it in another process. The dispatch of ``StartWorkflowCommand``
returns when the run has finished (completed, or failed and compensated), and a
redelivery of it at once; the run id is the start command's ``command_id``.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import Command, ResumeWorkflowCommand, StartWorkflowCommand
from llmgine.messages.events import (
    SystemEvent,
    WorkflowCompletedEvent,
    WorkflowFailedEvent,
    WorkflowStartedEvent,
    WorkflowStepCompletedEvent,
)
from llmgine.plugins.files import DEFAULT_FILE_MODE, file_mode_setting

from ._definition import Workflow
from ._owners import engine_owner, start_driving, stop_driving
from ._store import RunRecord, RunStore, to_json
from .errors import MissingHandlerError, WorkflowError, WorkflowRunError

__all__ = ["DB_ENV", "FILE_MODE_ENV", "WorkflowEngine"]

#: Path of the SQLite file that keeps runs; unset: runs are kept in memory only.
DB_ENV = "LLMGINE_WORKFLOWS_DB"
#: Mode of a SQLite file the plugin creates (octal, e.g. 0640); unset: 0600.
FILE_MODE_ENV = "LLMGINE_WORKFLOWS_FILE_MODE"

T = TypeVar("T")


def _run_or_return(coro: Coroutine[Any, Any, T]) -> T | Coroutine[Any, Any, T]:
    """Run ``coro`` to the end when called from sync code; hand it back inside a loop.

    ``dispatch_async`` awaits a coroutine a plain handler returns, and a plain
    ``dispatch`` from a running loop raises a clear AsyncHandlerError for it.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    return coro


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class WorkflowEngine:
    """Runs workflows on one bus, keeping their state in a :class:`RunStore`.

    ``store`` defaults to a :class:`RunStore` on the SQLite file ``db``, else the one
    ``LLMGINE_WORKFLOWS_DB`` names, else an in-memory database (opened when the engine
    is bound to a bus). A database file it creates gets mode ``file_mode``, else
    ``LLMGINE_WORKFLOWS_FILE_MODE``'s, else 0600.
    """

    def __init__(
        self,
        store: RunStore | None = None,
        *,
        db: str | None = None,
        file_mode: int | str | None = None,
    ) -> None:
        if store is not None and file_mode is not None:
            raise ValueError(
                "WorkflowEngine(store, file_mode=...): file_mode is for a database the "
                "engine opens itself; pass RunStore(path, file_mode=...) as store"
            )
        self._store = store
        self._db = db
        #: the mode of a database file the engine creates
        self.file_mode = (
            DEFAULT_FILE_MODE
            if store is not None
            else file_mode_setting(file_mode, FILE_MODE_ENV, "WorkflowEngine()")
        )
        self._cancel_close: Callable[[], object] | None = None
        #: the engine opens (and, on close, forgets) its store only when given none,
        #: so a bus started again after close() gets it reopened; a store passed in
        #: stays the caller's
        self._owns_store = store is None
        self._closed = False
        self._bus: MessageBus | None = None
        #: tells this engine's runs from those of other engines of this process
        #: that share the database (see :mod:`._owners`)
        self._token = secrets.token_hex(4)

    def __repr__(self) -> str:
        return f"<WorkflowEngine on {self._bus!r}, store {self._store!r}>"

    # Wiring ---------------------------------------------------------------------

    def bind(self, bus: MessageBus) -> None:
        """Drive runs on ``bus`` (opening the store if needed); closing the bus closes it.

        Binding again after the bus was closed (``register_handlers()`` after
        ``close()``) reopens a store the engine opened itself.
        """
        if self._bus is bus and not self._closed:
            return  # bound already: its close callback is in place
        if self._store is None:
            path = self._db or os.environ.get(DB_ENV) or ":memory:"
            self._store = RunStore(path, file_mode=self.file_mode)
        self._closed = False
        self._bus = bus
        self._cancel_close = bus.on_close(self.close)

    @property
    def path(self) -> str | None:
        """The file its runs are (or will be) kept in: ``":memory:"`` or ``None`` for memory."""
        if self._store is not None:
            return self._store.path
        return self._db or os.environ.get(DB_ENV) or None

    @property
    def bound(self) -> bool:
        """Whether the engine was bound to a bus (it may have been closed since)."""
        return self._bus is not None

    def close(self) -> None:
        """Close the store; the engine is unusable until it is bound to a bus again."""
        cancel, self._cancel_close = self._cancel_close, None
        if cancel is not None:
            cancel()  # (closed by hand: the bus's close has nothing left to do here)
        store = self._store
        self._closed = True
        if self._owns_store:
            self._store = None
        if store is not None:
            store.close()

    @property
    def bus(self) -> MessageBus:
        """The bus this engine dispatches steps on."""
        if self._bus is None:
            raise WorkflowError(
                "the workflows engine is not bound to a bus: load it with "
                "llmgine.plugins.register_handlers(bus), or use llmgine_workflows.install(bus)"
            )
        return self._bus

    @property
    def owner(self) -> str:
        """What this engine records as the owner of its runs: ``host:pid/token``."""
        return engine_owner(self._token)

    @property
    def store(self) -> RunStore:
        """Where this engine keeps its runs."""
        if self._closed:
            raise WorkflowError(
                f"the workflows engine's bus {self._bus!r} was closed; a run in flight stops "
                "here (resumable from its last completed step when LLMGINE_WORKFLOWS_DB keeps "
                "runs), and new runs need llmgine.plugins.register_handlers(bus) again"
            )
        if self._store is None:
            raise WorkflowError("the workflows engine has no store until it is bound to a bus")
        return self._store

    # Queries --------------------------------------------------------------------

    def get_run(self, run_id: str) -> RunRecord:
        """Return run ``run_id`` (raises :class:`RunNotFoundError` if unknown)."""
        return self.store.get(run_id)

    def interrupted(self) -> list[RunRecord]:
        """Unfinished runs that nobody is driving: what ``resume`` would pick up.

        Not those another engine of this process is driving, nor those of a live
        process (or of another host).
        """
        return self.store.interrupted()

    # Command handlers -------------------------------------------------------------

    def handle_start(self, command: StartWorkflowCommand) -> Any:
        """Handle ``StartWorkflowCommand``: run the workflow; return the run id."""
        return _run_or_return(self.start(command))

    def handle_resume(self, command: ResumeWorkflowCommand) -> Any:
        """Handle ``ResumeWorkflowCommand``: finish an interrupted run; return its id."""
        return _run_or_return(self.resume(command.run_id))

    async def start(self, command: StartWorkflowCommand) -> str:
        """Start and drive a run of ``command.workflow_name``; return its run id.

        Raises before any step runs if the workflow is unknown, a step's command has
        no handler, or the input is not JSON. A step's failure does not raise: the
        run is compensated and ``WorkflowFailedEvent`` emitted. Starting with a run
        id (command id) that already exists returns it at once, running nothing and
        not waiting for that run to finish (it may be driven by another process, or
        by one that died).
        """
        workflow = self._workflow(command.workflow_name)
        self._check_handlers(workflow)
        input_json = to_json(dict(command.input), f"input of workflow {workflow.name!r}")
        run_id, owner = command.command_id, self.owner
        if not start_driving(owner, run_id):
            return run_id  # a redelivery while this engine drives the run: see the README
        try:
            created = self.store.create_run(
                run_id, workflow.name, input_json, workflow.step_names, owner=owner
            )
            if not created:
                return run_id
            inputs = json.loads(input_json)
            await self.bus.emit_async(
                WorkflowStartedEvent(workflow_name=workflow.name, run_id=run_id, input=inputs)
            )
            await self._drive(workflow, self.store.get(run_id))
        finally:
            stop_driving(owner, run_id)
        return run_id

    async def resume(self, run_id: str) -> str:
        """Continue run ``run_id`` after its last completed step; return its id.

        A finished run is left as it is. Raises :class:`RunNotFoundError` for an
        unknown run and :class:`WorkflowRunError` if another owner may be driving it
        (an engine of this process that is, a live process, another host) or its
        workflow's steps changed since it started.
        """
        owner = self.owner
        # marked before the claim names this engine, so no other engine of this
        # process sees the run owned by it yet undriven
        if not start_driving(owner, run_id):
            raise WorkflowRunError(f"run {run_id} is already being driven by this engine")
        try:
            run = self.store.claim(run_id, owner=owner)
            if run.finished:
                return run_id
            workflow = self._workflow(run.workflow_name)
            if workflow.step_names != run.step_names:
                raise WorkflowRunError(
                    f"run {run_id} of workflow {workflow.name!r} started with steps "
                    f"{list(run.step_names)} but the workflow now has "
                    f"{list(workflow.step_names)}; it cannot be resumed safely: restore the "
                    "old definition, or start a new run"
                )
            self._check_handlers(workflow)
            done = len(run.steps)
            await self.bus.emit_async(
                SystemEvent(
                    component="workflows",
                    severity="info",
                    message=f"resuming run {run_id} of workflow {workflow.name!r} "
                    f"({run.status}) after {done} completed step(s)",
                    details={"run_id": run_id, "workflow_name": workflow.name},
                )
            )
            await self._drive(workflow, run)
        finally:
            stop_driving(owner, run_id)
        return run_id

    # Driving ----------------------------------------------------------------------

    def _workflow(self, name: str) -> Workflow:
        from ._state import get_workflow  # (the state module imports this one)

        return get_workflow(name, self.bus)

    def _check_handlers(self, workflow: Workflow) -> None:
        handlers = self.bus.command_handlers()
        missing: dict[str, list[str]] = {}  # command type -> steps that need it
        for step in workflow.steps:
            for tp in step.command_types():
                if not any(klass in handlers for klass in tp.__mro__):
                    missing.setdefault(f"{tp.__module__}.{tp.__qualname__}", []).append(step.name)
        if missing:
            listed = "; ".join(
                f"{tp} (step {', '.join(map(repr, steps))})" for tp, steps in missing.items()
            )
            raise MissingHandlerError(
                f"workflow {workflow.name!r} cannot start: no handler on this bus for {listed}. "
                "Register one (bus.register_command, or install the plugin that handles it and "
                "call register_handlers()) before starting the workflow"
            )

    async def _drive(self, workflow: Workflow, run: RunRecord) -> None:
        if run.status == "compensating":
            await self._compensate(workflow, run)
            return
        results = run.results
        inputs = run.input
        for index, step in enumerate(workflow.steps[len(run.steps) :], start=len(run.steps)):
            try:
                command = step.build(inputs, dict(results))
                if not isinstance(command, step.command):
                    raise TypeError(
                        f"the build of step {step.name!r} returned {command!r}, not a "
                        f"{step.command.__qualname__} as the step declares"
                    )
                result = await self.bus.dispatch_async(command)
            except Exception as exc:
                self.store.record_failure(run.run_id, step.name, type(exc).__name__, str(exc))
                await self._compensate(workflow, self.store.get(run.run_id))
                return
            try:
                result_json = to_json(result, f"the result of step {step.name!r}")
            except TypeError as exc:
                # The handler took effect: undo the step like a completed one. It is
                # stored (result null) with the failure, so a resume undoes it too;
                # this process's compensation gets the result itself.
                self.store.record_failure(
                    run.run_id, step.name, type(exc).__name__, str(exc), unstored_index=index
                )
                raw = {step.name: result}
                await self._compensate(workflow, self.store.get(run.run_id), raw)
                return
            self.store.record_step(run.run_id, index, step.name, result_json)
            results[step.name] = json.loads(result_json)
            await self.bus.emit_async(
                WorkflowStepCompletedEvent(
                    workflow_name=workflow.name,
                    run_id=run.run_id,
                    step_name=step.name,
                    step_index=index,
                    result=results[step.name],
                )
            )
        self.store.finish(run.run_id, "completed")
        await self.bus.emit_async(
            WorkflowCompletedEvent(workflow_name=workflow.name, run_id=run.run_id, results=results)
        )

    async def _compensate(
        self, workflow: Workflow, run: RunRecord, raw: Mapping[str, Any] | None = None
    ) -> None:
        """Undo the completed steps, last first, then report the failure.

        ``raw``: results to give the compensations instead of their stored form (a
        result that could not be stored as JSON).
        """
        results = {**run.results, **(raw or {})}
        for record in reversed(run.steps):
            step = workflow.steps[record.index]
            if step.compensate is None or record.status != "completed":
                continue
            error = await self._compensate_one(workflow, run, step.name, step.compensate, results)
            self.store.record_compensation(run.run_id, record.index, error)
        self.store.finish(run.run_id, "failed")
        await self.bus.emit_async(
            WorkflowFailedEvent(
                workflow_name=workflow.name,
                run_id=run.run_id,
                step_name=run.failed_step or "?",
                error_type=run.error_type or "?",
                error_message=run.error_message or "",
            )
        )

    async def _compensate_one(
        self,
        workflow: Workflow,
        run: RunRecord,
        step_name: str,
        compensate: Any,
        results: Mapping[str, Any],
    ) -> str | None:
        try:
            command: Command[Any] = compensate(run.input, dict(results))
            await self.bus.dispatch_async(command)
        except Exception as exc:
            # Keep undoing the other steps: one failed compensation should not
            # leave the earlier steps' effects in place too.
            await self.bus.emit_async(
                SystemEvent(
                    component="workflows",
                    severity="error",
                    message=f"compensation of step {step_name!r} of run {run.run_id} "
                    f"(workflow {workflow.name!r}) failed: {_describe(exc)}; "
                    "its effects were not undone",
                    details={"run_id": run.run_id, "step_name": step_name},
                )
            )
            return _describe(exc)
        return None
