"""Waiting for an event: bus.wait_for() and bus.expect(); what they match, every way they
end, threads and transports, and that no subscription is ever left behind."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from llmgine.messages.bus import MessageBus, Waiter
from llmgine.messages.commands import Command
from llmgine.messages.events import Event

from .threads import race


@dataclasses.dataclass
class Replied(Event):
    event_type = "chat.replied"
    request_id: str = "r1"
    text: str = ""


@dataclasses.dataclass
class Escalated(Replied):
    """A subclass under another name: a ``Replied`` by class, not by type name."""

    event_type = "chat.escalated"


@dataclasses.dataclass
class Other(Event):
    event_type = "other.thing"


@dataclasses.dataclass
class Ask(Command[str]):
    request_id: str = "r1"


@contextmanager
def unchanged(bus: MessageBus) -> Iterator[None]:
    """The bus's subscriptions are the same after the block as before it."""
    before = bus.subscriptions
    yield
    assert bus.subscriptions == before


@pytest.fixture
def bus() -> MessageBus:
    """Strict: a waiter that failed as a subscriber would raise in the publisher."""
    bus = MessageBus.isolated(strict=True)
    bus.subscribe_event("*", lambda event: None)  # some other subscriber is always there
    return bus


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# What matches --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["chat.replied", "chat.*", "**", "*", Replied],
    ids=["name", "pattern", "deep-pattern", "star", "class"],
)
def test_wait_for_returns_the_first_matching_event(bus: MessageBus, key: Any) -> None:
    async def main() -> Event:
        with unchanged(bus):
            waiter = bus.expect(key)
            bus.emit(Replied(text="hello"))
            return await waiter

    event = run(main())
    assert isinstance(event, Replied)
    assert event.text == "hello"


def test_a_class_matches_its_subclasses_a_name_does_not(bus: MessageBus) -> None:
    async def main() -> tuple[Event, Event]:
        with unchanged(bus):
            by_class = bus.expect(Replied)
            by_name = bus.expect("chat.replied")
            bus.emit(Escalated(text="urgent"))
            assert by_class.done()
            assert not by_name.done()
            bus.emit(Replied(text="plain"))
            return await by_class, await by_name

    by_class, by_name = run(main())
    assert type(by_class) is Escalated
    assert type(by_name) is Replied


def test_where_picks_the_event(bus: MessageBus) -> None:
    async def main() -> Replied:
        with unchanged(bus):
            waiter = bus.expect(Replied, where=lambda e: e.request_id == "r2")
            bus.emit(Replied("r1", "not this"))
            bus.emit(Other())
            bus.emit(Replied("r2", "this"))
            bus.emit(Replied("r2", "too late"))
            return await waiter

    assert run(main()).text == "this"


def test_only_the_first_match_and_the_subscription_goes_with_it(bus: MessageBus) -> None:
    seen: list[str] = []
    bus.subscribe_event(Replied, lambda e: seen.append(e.text))

    async def main() -> Replied:
        before = bus.subscriptions
        waiter = bus.expect(Replied)
        assert len(bus.subscriptions) == len(before) + 1
        bus.emit(Replied(text="first"))
        assert bus.subscriptions == before  # at once, in the publisher's call
        bus.emit(Replied(text="second"))
        return await waiter

    assert run(main()).text == "first"
    assert seen == ["first", "second"]  # the other subscribers saw both


def test_events_published_before_the_call_are_not_seen(bus: MessageBus) -> None:
    async def main() -> Replied:
        bus.emit(Replied(text="before"))
        with unchanged(bus):
            waiter = bus.expect(Replied)
            bus.emit(Replied(text="after"))
            return await waiter

    assert run(main()).text == "after"


def test_wait_for_sees_events_published_once_it_waits(bus: MessageBus) -> None:
    async def reply_later() -> None:
        await asyncio.sleep(0)
        bus.emit(Other())
        await bus.emit_async(Replied(text="later"))

    async def main() -> Replied:
        with unchanged(bus):
            task = asyncio.create_task(reply_later())
            event = await bus.wait_for(Replied, timeout=30)
            await task
            return event

    assert run(main()).text == "later"


def test_expect_before_the_dispatch_catches_its_events(bus: MessageBus) -> None:
    def handle(command: Ask) -> str:
        bus.add_pending_event(Replied(command.request_id, "queued by the handler"))
        return "asked"

    bus.register_command(Ask, handle)

    async def main() -> Replied:
        with unchanged(bus):
            waiter = bus.expect(Replied, where=lambda e: e.request_id == "r7")
            assert await bus.dispatch_async(Ask("r7")) == "asked"
            return await waiter

    event = run(main())
    assert event.text == "queued by the handler"
    assert event.causation_id is not None  # published by the dispatch, as usual


def test_an_event_caused_by_another_subscriber_matches(bus: MessageBus) -> None:
    bus.subscribe_event(Other, lambda e: bus.add_pending_event(Replied(text="caused")))

    async def main() -> Replied:
        with unchanged(bus):
            waiter = bus.expect("chat.replied")
            await bus.emit_async(Other())
            return await waiter  # type: ignore[return-value]

    assert run(main()).text == "caused"


def test_a_waiter_sees_its_own_bus_only(bus: MessageBus) -> None:
    other = MessageBus.isolated(strict=True)

    async def main() -> None:
        with unchanged(bus), unchanged(other):
            waiter = bus.expect(Replied, timeout=0)
            other.emit(Replied())
            with pytest.raises(TimeoutError):
                await waiter

    run(main())


def test_many_waiters_each_get_their_own_event(bus: MessageBus) -> None:
    async def main() -> list[str]:
        with unchanged(bus):
            waiters = [
                bus.expect(Replied, where=lambda e, i=i: e.request_id == f"r{i}")
                for i in range(200)
            ]
            for i in reversed(range(200)):
                bus.emit(Replied(f"r{i}", f"answer {i}"))
            return [(await w).text for w in waiters]

    assert run(main()) == [f"answer {i}" for i in range(200)]


def test_awaiting_again_gives_the_same_event(bus: MessageBus) -> None:
    async def main() -> None:
        waiter = bus.expect(Replied)
        assert not waiter.done()
        assert "(waiting)" in repr(waiter)
        bus.emit(Replied())
        first = await waiter
        assert waiter.done()
        assert "(done)" in repr(waiter)
        assert await waiter is first

    with unchanged(bus):
        run(main())


# Timeout ------------------------------------------------------------------------------


def test_a_timeout_raises_timeout_error_naming_what_it_waited_for(bus: MessageBus) -> None:
    async def main() -> None:
        with unchanged(bus):
            with pytest.raises(TimeoutError, match=r"no event matching 'chat\.\*' within 0\.01 s"):
                await bus.wait_for("chat.*", timeout=0.01)
            named = r"tests\.test_waiting\.Replied accepted by where=.*is_r9 within 0 s"
            with pytest.raises(TimeoutError, match=named):
                await bus.wait_for(Replied, where=is_r9, timeout=0)

    run(main())


def is_r9(event: Replied) -> bool:
    return event.request_id == "r9"


def test_an_event_before_the_timeout_wins(bus: MessageBus) -> None:
    async def main() -> Replied:
        with unchanged(bus):
            waiter = bus.expect(Replied, timeout=0)  # (the timer fires on the next turn)
            bus.emit(Replied(text="in time"))
            event = await waiter
            await asyncio.sleep(0)  # the timer, cancelled, changes nothing
            return event

    assert run(main()).text == "in time"


def test_events_not_accepted_do_not_stop_the_timeout(bus: MessageBus) -> None:
    async def main() -> None:
        with unchanged(bus):
            waiter = bus.expect(Replied, where=is_r9, timeout=0.01)
            bus.emit(Replied("r1"))
            with pytest.raises(TimeoutError):
                await waiter

    run(main())


@pytest.mark.parametrize(
    ("timeout", "error", "message"),
    [
        (-1, ValueError, "at least 0 seconds, got -1"),
        (float("nan"), ValueError, "at least 0 seconds, got nan"),
        ("5", TypeError, "timeout must be a number of seconds or None, got '5'"),
        (True, TypeError, "got True"),
    ],
)
def test_a_bad_timeout_is_refused_before_subscribing(
    bus: MessageBus, timeout: Any, error: type[Exception], message: str
) -> None:
    async def main() -> None:
        with unchanged(bus), pytest.raises(error, match=message):
            bus.expect(Replied, timeout=timeout)

    run(main())


# Cancellation ---------------------------------------------------------------------------


def test_cancelling_the_awaiting_task_unsubscribes(bus: MessageBus) -> None:
    async def main() -> None:
        with unchanged(bus):
            task = asyncio.create_task(bus.wait_for(Replied))
            await asyncio.sleep(0)
            assert len(bus.subscriptions) == 2
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        bus.emit(Replied())  # nobody waits for it any more: no error either

    run(main())


def test_an_outer_timeout_cancels_the_wait_and_unsubscribes(bus: MessageBus) -> None:
    async def main() -> None:
        with unchanged(bus):
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(bus.wait_for(Replied), timeout=0.01)
            waiter = bus.expect(Replied, timeout=60)
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.01):
                    await waiter
            assert waiter.done()

    run(main())


def test_waiter_cancel_stops_waiting(bus: MessageBus) -> None:
    async def main() -> None:
        with unchanged(bus):
            waiter = bus.expect(Replied, timeout=60)
            waiter.cancel()
            assert waiter.done()
            waiter.cancel()  # again: nothing
            bus.emit(Replied())
            with pytest.raises(asyncio.CancelledError):
                await waiter

    run(main())


def test_cancel_after_the_match_keeps_the_event(bus: MessageBus) -> None:
    async def main() -> Replied:
        with unchanged(bus):
            waiter = bus.expect(Replied)
            bus.emit(Replied(text="matched"))
            waiter.cancel()
            return await waiter

    assert run(main()).text == "matched"


def test_cancel_from_another_thread(bus: MessageBus) -> None:
    async def main() -> None:
        with unchanged(bus):
            waiter = bus.expect(Replied, timeout=60)
            await asyncio.to_thread(waiter.cancel)
            assert len(bus.subscriptions) == 1  # at once; the future is cancelled on the loop
            with pytest.raises(asyncio.CancelledError):
                await waiter

    run(main())


def test_leaving_with_waiter_unsubscribes(bus: MessageBus) -> None:
    async def main() -> None:
        with unchanged(bus):
            with bus.expect(Replied) as waiter:
                assert len(bus.subscriptions) == 2
            assert waiter.done()
            with pytest.raises(RuntimeError, match="boom"), bus.expect(Replied):
                raise RuntimeError("boom")
            with bus.expect(Replied) as waiter:
                bus.emit(Replied(text="inside"))
                assert (await waiter).text == "inside"

    run(main())


# where raising ---------------------------------------------------------------------------


def test_where_raising_is_raised_where_awaited_and_the_delivery_goes_on() -> None:
    bus = MessageBus.isolated()  # not strict: a subscriber failure would be reported
    seen: list[str] = []
    reports: list[Event] = []
    bus.subscribe_event(Replied, lambda e: seen.append(e.text))
    bus.subscribe_event("system.bus.error", reports.append)

    def broken(event: Replied) -> bool:
        raise KeyError("no such field")

    async def main() -> None:
        with unchanged(bus):
            waiter = bus.expect(Replied, where=broken, timeout=60)
            bus.emit(Replied(text="one"))
            bus.emit(Replied(text="two"))  # the waiter is done: where is not called again
            with pytest.raises(KeyError, match="no such field"):
                await waiter

    run(main())
    assert seen == ["one", "two"]
    assert reports == []


def test_where_raising_on_a_strict_bus_does_not_fail_the_publisher(bus: MessageBus) -> None:
    async def main() -> None:
        with unchanged(bus):
            waiter = bus.expect(Replied, where=lambda e: 1 / 0)
            await bus.emit_async(Replied())  # strict: a failing subscriber would raise here
            with pytest.raises(ZeroDivisionError):
                await waiter

    run(main())


def test_an_async_where_is_refused(bus: MessageBus) -> None:
    async def accept(event: Event) -> bool:
        return True

    async def main() -> None:
        with unchanged(bus):
            with pytest.raises(TypeError, match=r"is async.*must be a plain function"):
                bus.expect(Replied, where=accept)
            # One that returns a coroutine all the same: the waiter raises it.
            waiter = bus.expect(Replied, where=lambda e: accept(e))
            bus.emit(Replied())
            with pytest.raises(TypeError, match="returned a coroutine"):
                await waiter

    run(main())


@pytest.mark.parametrize("key", [42, Ask, "chat..replied", "chat.rep*"])
def test_a_bad_key_is_refused_and_nothing_stays(bus: MessageBus, key: Any) -> None:
    async def main() -> None:
        refused = r"subscribe|Event|segment|wildcard"
        with unchanged(bus), pytest.raises((TypeError, ValueError), match=refused):
            bus.expect(key)

    run(main())


def test_a_where_that_is_no_function_is_refused(bus: MessageBus) -> None:
    async def main() -> None:
        with unchanged(bus), pytest.raises(TypeError, match="where must be a function"):
            bus.expect(Replied, where="r1")  # type: ignore[arg-type]

    run(main())


# Threads and transports --------------------------------------------------------------------


def test_an_event_published_from_another_thread(bus: MessageBus) -> None:
    threads: list[int] = []

    def where(event: Replied) -> bool:
        threads.append(threading.get_ident())  # it runs in the publisher's thread
        return True

    async def main() -> Replied:
        with unchanged(bus):
            waiter = bus.expect(Replied, where=where, timeout=60)
            publisher = threading.Thread(target=bus.emit, args=(Replied(text="threaded"),))
            publisher.start()
            await asyncio.to_thread(publisher.join)
            return await waiter

    assert run(main()).text == "threaded"
    assert threads
    assert threads[0] != threading.get_ident()


def test_racing_publishers_in_threads_give_exactly_one_event(bus: MessageBus) -> None:
    async def main() -> None:
        for _ in range(30):
            with unchanged(bus):
                waiter = bus.expect(Replied, timeout=60)
                await asyncio.to_thread(
                    race, *(lambda i=i: bus.emit(Replied(text=str(i))) for i in range(4))
                )
                assert (await waiter).text in {"0", "1", "2", "3"}

    run(main())


def test_an_event_delivered_by_a_transport(bus: MessageBus) -> None:
    async def main() -> None:
        with unchanged(bus):
            waiter = bus.expect(Replied, where=lambda e: e.request_id == "remote")
            # As a consumer does on the loop: the event came from another process.
            assert await bus.deliver_async(Replied("remote", "from afar")) == []
            assert (await waiter).text == "from afar"
            # And as a consumer in a thread of its own does.
            waiter = bus.expect("chat.*", timeout=60)
            assert await asyncio.to_thread(bus.deliver, Replied(text="from a thread")) == []
            assert (await waiter).text == "from a thread"  # type: ignore[attr-defined]

    run(main())


def test_the_publisher_after_the_loop_closed_is_not_troubled(bus: MessageBus) -> None:
    async def main() -> Waiter[Replied]:
        return bus.expect(Replied)  # never awaited: still subscribed when the loop ends

    with unchanged(bus):
        waiter = run(main())
        assert len(bus.subscriptions) == 2
        bus.emit(Replied())  # strict bus: no failure, and the subscription is gone
    assert not waiter.done()


def test_a_waiter_whose_loop_ended_goes_with_the_next_event_of_its_key(bus: MessageBus) -> None:
    """Its timeout can no longer fire, and ``where`` would reject the event: the first
    event of its key removes it all the same (nothing can await it any more)."""

    async def main() -> Waiter[Replied]:
        return bus.expect(Replied, where=lambda e: e.text == "never", timeout=60)

    with unchanged(bus):
        waiter = run(main())
        assert len(bus.subscriptions) == 2
        bus.emit(Other())  # (another key: nothing to do with it)
        assert len(bus.subscriptions) == 2
        bus.emit(Replied(text="rejected"))
    assert not waiter.done()


# No running loop -------------------------------------------------------------------------


def test_expect_without_a_running_loop_is_a_clear_error(bus: MessageBus) -> None:
    with unchanged(bus):
        with pytest.raises(RuntimeError, match=r"need a running event loop.*async code"):
            bus.expect(Replied)
        coro = bus.wait_for(Replied)
        with pytest.raises(RuntimeError, match="need a running event loop"):
            coro.send(None)  # stepped by hand, without a loop


class PublishesWhileSubscribing(MessageBus):
    """A bus on which a matching event is published after the waiter's subscription is in
    place but before ``subscribe_event`` returned it (as a publisher in another thread
    may): in this thread, or in another one."""

    in_thread = False

    def subscribe_event(self, *args: Any, **kwargs: Any) -> Any:
        subscription = super().subscribe_event(*args, **kwargs)
        event = Replied(text="while subscribing")
        if self.in_thread:
            publisher = threading.Thread(target=self.emit, args=(event,))
            publisher.start()
            publisher.join()
        else:
            self.emit(event)
        return subscription


@pytest.mark.parametrize("in_thread", [False, True], ids=["same-thread", "other-thread"])
def test_an_event_published_while_subscribing_is_caught(
    in_thread: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    bus = PublishesWhileSubscribing.isolated(strict=True)
    bus.in_thread = in_thread  # type: ignore[attr-defined]
    failures: list[BaseException | None] = []  # (strict: a failing waiter raises in emit)
    monkeypatch.setattr(threading, "excepthook", lambda args: failures.append(args.exc_value))

    async def main() -> Replied:
        with unchanged(bus):
            return await bus.wait_for(Replied, timeout=5)

    event = run(main())
    assert failures == []
    assert event.text == "while subscribing"


@pytest.mark.asyncio
async def test_a_session_waiter_fails_at_once_when_its_session_ends() -> None:
    from llmgine.messages.errors import SessionError

    bus = MessageBus.isolated()
    session = bus.session("conv-1")
    waiter = session.expect("reply.given")
    before = bus.subscriptions
    assert len(before) == 1
    session.close()
    with pytest.raises(
        SessionError, match=r"session 'conv-1' ended while waiting for 'reply\.given'"
    ):
        await waiter
    assert bus.subscriptions == ()


@pytest.mark.asyncio
async def test_a_waiter_fails_at_once_when_the_bus_is_reset() -> None:
    bus = MessageBus.isolated()
    waiter = bus.expect("reply.given", timeout=60)
    bus.reset()
    with pytest.raises(RuntimeError, match=r"reset or restored while waiting for 'reply\.given'"):
        await waiter
