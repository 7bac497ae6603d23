"""Message ids are unique across threads and processes, also after fork()."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
from collections.abc import Callable

import pytest
from llmgine.messages._ids import new_id
from llmgine.messages.commands import Command, CreateResourceCommand
from llmgine.messages.events import Event, ResourceDeletedEvent

from .threads import race


@dataclasses.dataclass
class Plain(Event):
    text: str = "x"


@dataclasses.dataclass
class PlainCommand(Command[None]):
    text: str = "x"


# Each way an id is made: frozen (attrs) messages get it through the slots' setters,
# plain ones by an inlined copy of new_id().
MAKERS: list[Callable[[], str]] = [
    lambda: CreateResourceCommand(resource_type="t", resource_data={}).command_id,
    lambda: ResourceDeletedEvent(resource_id="r", resource_type="t").event_id,
    lambda: PlainCommand().command_id,
    lambda: Plain().event_id,
    new_id,
]


def make_ids(count: int) -> list[str]:
    return [MAKERS[i % len(MAKERS)]() for i in range(count)]


def test_ids_are_unique_across_threads() -> None:
    results: list[list[str]] = [[] for _ in range(8)]
    race(
        *(lambda i=i: results[i].extend(make_ids(2000)) for i in range(8)),  # type: ignore[misc]
        switch_interval=1e-5,
    )
    ids = [i for chunk in results for i in chunk]
    assert len(ids) == 16000
    assert len(set(ids)) == len(ids)


def child_ids(queue: multiprocessing.Queue[list[str]]) -> None:  # type: ignore[type-arg]
    queue.put(make_ids(1000))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_ids_are_unique_across_processes(method: str) -> None:
    """Children (forked after the parent made ids, or spawned) never repeat an id."""
    before = make_ids(1000)
    context = multiprocessing.get_context(method)
    queue = context.Queue()
    children = [context.Process(target=child_ids, args=(queue,)) for _ in range(2)]
    for child in children:
        child.start()
    from_children = [queue.get(timeout=60) for _ in children]
    for child in children:
        child.join(60)
        assert child.exitcode == 0
    after = make_ids(1000)
    ids = before + after + [i for chunk in from_children for i in chunk]
    assert len(set(ids)) == len(ids) == 4000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_ids_made_right_after_a_bare_fork_differ_from_the_parents() -> None:
    new_id()  # the counter has moved on in the parent
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next ids and leave at once
        try:
            os.write(write, " ".join(make() for make in MAKERS).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read().split()
    os.waitpid(pid, 0)
    parent = [make() for make in MAKERS]
    assert len(child) == len(MAKERS)
    assert set(child).isdisjoint(parent)
    # a fresh random prefix, not only a different counter position
    assert {i.split("-")[0] for i in child}.isdisjoint({i.split("-")[0] for i in parent})


def test_ids_are_non_empty_strings_with_a_random_prefix() -> None:
    first, second = new_id(), new_id()
    assert isinstance(first, str)
    assert first != second
    assert first.split("-")[0] == second.split("-")[0]
    assert len(first.split("-")[0]) == 16  # 64 random bits: unique across hosts too
