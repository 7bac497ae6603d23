"""Shutdown: close()/aclose() run the close callbacks so plugins can flush."""

from __future__ import annotations

import asyncio
import threading

import pytest
from llmgine.messages import AsyncHandlerError
from llmgine.messages.bus import MessageBus


def test_close_runs_callbacks_last_added_first_and_once(bus: MessageBus) -> None:
    order: list[str] = []
    bus.on_close(lambda: order.append("first added"))
    bus.on_close(lambda: order.append("second added"))
    bus.close()
    assert order == ["second added", "first added"]
    bus.close()
    assert order == ["second added", "first added"]


def test_all_callbacks_run_and_errors_are_raised_together(bus: MessageBus) -> None:
    ran: list[str] = []

    def fail(name: str) -> None:
        ran.append(name)
        raise RuntimeError(f"{name} failed")

    bus.on_close(lambda: fail("a"))
    bus.on_close(lambda: ran.append("ok"))
    bus.on_close(lambda: fail("c"))
    with pytest.raises(ExceptionGroup) as info:
        bus.close()
    assert ran == ["c", "ok", "a"]
    assert [str(e) for e in info.value.exceptions] == ["c failed", "a failed"]


def test_the_bus_stays_usable_after_close(bus: MessageBus) -> None:
    bus.close()
    seen: list[str] = []
    from llmgine.messages.events import Event

    class Late(Event):
        pass

    bus.subscribe_event(Late, lambda e: seen.append("ok"))
    bus.emit(Late())
    assert seen == ["ok"]


def test_aclose_awaits_async_callbacks_and_runs_plain_ones(bus: MessageBus) -> None:
    order: list[str] = []

    async def flush() -> None:
        await asyncio.sleep(0)
        order.append("async")

    bus.on_close(lambda: order.append("plain"))
    bus.on_close(flush)
    asyncio.run(bus.aclose())
    assert order == ["async", "plain"]


def test_aclose_raises_errors_together(bus: MessageBus) -> None:
    async def fail() -> None:
        raise ValueError("async failed")

    def fail_sync() -> None:
        raise KeyError("sync failed")

    bus.on_close(fail_sync)
    bus.on_close(fail)
    with pytest.raises(ExceptionGroup) as info:
        asyncio.run(bus.aclose())
    assert [type(e) for e in info.value.exceptions] == [ValueError, KeyError]


def test_close_with_an_async_callback_raises_and_loses_nothing(bus: MessageBus) -> None:
    ran: list[str] = []

    async def flush() -> None:
        ran.append("async flush")

    bus.on_close(lambda: ran.append("plain"))
    bus.on_close(flush)
    with pytest.raises(AsyncHandlerError, match=r"aclose\(\)") as info:
        bus.close()
    assert "flush" in str(info.value)
    assert ran == []  # nothing ran, so aclose() can still run everything
    asyncio.run(bus.aclose())
    assert ran == ["async flush", "plain"]


def test_close_closes_a_coroutine_returned_by_a_plain_callback(bus: MessageBus) -> None:
    import gc
    import warnings

    async def flush() -> None:
        pass

    bus.on_close(lambda: flush())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ExceptionGroup) as info:
            bus.close()
        gc.collect()
    assert isinstance(info.value.exceptions[0], AsyncHandlerError)
    assert [w for w in caught if "never awaited" in str(w.message)] == []


def test_on_close_waits_for_a_close_that_is_taking_the_callbacks() -> None:
    # close() swaps the callback list out under the bus lock; an on_close() racing
    # with it must not append to the list being taken (its callback would be lost).
    bus = MessageBus.isolated()
    added = threading.Event()
    with bus._lock:  # as close() holds it while it takes the callbacks
        thread = threading.Thread(target=lambda: (bus.on_close(lambda: None), added.set()))
        thread.start()
        assert not added.wait(0.2)  # blocked on the lock
    thread.join()
    assert added.is_set()
