"""An LLM chat server in one process: sessions, streaming, tools, approvals, a background
audit log and metrics, with no network and a fake model.

    python3 dev.py example chat      # or: python examples/chat_server.py

Each conversation is a session of the bus. Its turn is a command (``UserSaid``) whose handler
asks the model, streams the tokens as events, calls tools as commands and, for a tool that
needs it, asks the human and waits for the reply event, with a timeout. Each session has its
own subscribers, as a websocket would: they see that conversation's events and no other's.
An audit log runs in the background, so no turn waits for it. At the end, the metrics that
llmgine-otel recorded for an operator.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import attrs
import llmgine_otel
from llmgine.messages import Command, Event, MessageBus
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

APPROVAL_TIMEOUT = 0.5  # seconds the fake human gets to answer


# The messages ------------------------------------------------------------------------


@attrs.frozen
class UserSaid(Command[str]):
    """A user's turn; the handler returns the assistant's whole reply."""

    text: str


@attrs.frozen
class LookUpWeather(Command[str]):
    """A tool the model may call."""

    city: str


@attrs.frozen
class SendEmail(Command[str]):
    """A tool that needs the human's approval first."""

    to: str


@attrs.frozen
class TokenStreamed(Event):
    event_type = "chat.token"
    token: str


@attrs.frozen
class ApprovalRequested(Event):
    event_type = "chat.approval.requested"
    action: str


@attrs.frozen
class ApprovalGiven(Event):
    event_type = "chat.approval.given"
    approved: bool


@attrs.frozen
class TurnFinished(Event):
    event_type = "chat.turn.finished"
    reply: str


# The fake model and the turn's handler ----------------------------------------------


def fake_model(text: str) -> tuple[str, Command[str] | None]:
    """What the model answers, and the tool call it makes (if any)."""
    if "weather" in text:
        return "Let me check the weather for you.", LookUpWeather(city=text.split()[-1])
    if "email" in text:
        return "I can send that email.", SendEmail(to=text.split()[-1])
    return f"You said: {text}", None


def make_turn_handler(bus: MessageBus) -> Any:
    async def handle_turn(turn: UserSaid) -> str:
        answer, tool_call = fake_model(turn.text)
        if isinstance(tool_call, SendEmail):
            session = bus.sessions[str(turn.session_id)]
            reply = session.expect(ApprovalGiven, timeout=APPROVAL_TIMEOUT)  # before asking
            await bus.emit_async(ApprovalRequested(action=f"send an email to {tool_call.to}"))
            try:
                approved = (await reply).approved
            except TimeoutError:
                approved = False
                answer += " (no answer from you in time: not sent)"
            if approved:
                answer += " " + await bus.dispatch_async(tool_call)
        elif tool_call is not None:
            answer += " " + await bus.dispatch_async(tool_call)
        for token in answer.split():
            await bus.emit_async(TokenStreamed(token=token))  # as the model streams them
        bus.add_pending_event(TurnFinished(reply=answer))  # published once the turn succeeds
        return answer

    return handle_turn


def weather(command: LookUpWeather) -> str:
    return f"It is sunny in {command.city}."


async def send_email(command: SendEmail) -> str:
    await asyncio.sleep(0.01)  # the mail server
    return f"Sent to {command.to}."


# A conversation: its session, its websocket, its human -------------------------------


class Websocket:
    """What a browser would receive: the session's events only."""

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.sessions_seen: set[str | None] = set()

    async def send_token(self, event: TokenStreamed) -> None:
        self.tokens.append(event.token)
        self.sessions_seen.add(event.session_id)


async def conversation(bus: MessageBus, user: str, lines: list[str], answers: bool) -> str:
    websocket = Websocket()
    async with bus.session(f"chat-{user}") as session:
        session.subscribe_event(TokenStreamed, websocket.send_token)

        async def human(event: ApprovalRequested) -> None:
            if answers:  # this user clicks "approve"; the other never answers
                await asyncio.sleep(0.01)
                await session.emit_async(ApprovalGiven(approved=True))

        session.subscribe_event(ApprovalRequested, human, background=True)
        if user == "carol":  # a premium user: her weather tool is another one
            session.register_command(LookUpWeather, lambda c: f"Premium forecast: {c.city} 21C.")
        for line in lines:
            await session.dispatch_async(UserSaid(text=line))
    assert websocket.sessions_seen == {session.id}, websocket.sessions_seen
    said = " ".join(websocket.tokens)
    return f"{user:>5} saw {len(websocket.tokens):2} tokens, only its own: {said}"


# The server --------------------------------------------------------------------------


class AuditLog:
    """A slow log: a background subscriber, so no turn waits for its writes."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def record(self, event: Event) -> None:
        time.sleep(0.001)  # a slow disk
        self.lines.append(f"{event.session_id} {event.event_type}")


async def main() -> None:
    bus = MessageBus.isolated()
    reader = InMemoryMetricReader()
    llmgine_otel.install(bus, meter_provider=MeterProvider(metric_readers=[reader]))
    bus.register_command(UserSaid, make_turn_handler(bus))
    bus.register_command(LookUpWeather, weather)
    bus.register_command(SendEmail, send_email)
    audit = AuditLog()
    bus.subscribe_event("chat.**", audit.record, background=True)

    results = await asyncio.gather(
        conversation(bus, "alice", ["hello", "what is the weather in Paris"], answers=True),
        conversation(bus, "bob", ["please email bob@example.com"], answers=False),
        conversation(bus, "carol", ["weather in Oslo", "email carol@example.com"], answers=True),
    )
    print("three conversations at once, each on its own session:")
    for line in results:
        print(" ", line)
    await bus.aclose()  # the audit log's queue is drained first
    print(f"audit log (background): {len(audit.lines)} events written, e.g. {audit.lines[0]!r}")
    print_metrics(reader)


def print_metrics(reader: InMemoryMetricReader) -> None:
    """Each metric's total per command type (its class name) or event type."""
    totals: Counter[str] = Counter()
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    attributes = point.attributes or {}
                    command = str(attributes.get("llmgine.message.type", "")).rsplit(".", 1)[-1]
                    what = command or attributes.get("llmgine.event_type", "")
                    # (the duration histogram: how many calls it measured)
                    value: int = getattr(point, "value", None) or getattr(point, "count", 0) or 0
                    totals[f"{metric.name} {what}".strip()] += value
    print("metrics (llmgine-otel, as an operator's dashboard would read them):")
    for name in sorted(totals):
        print(f"  {name}: {totals[name]}")


if __name__ == "__main__":
    asyncio.run(main())
