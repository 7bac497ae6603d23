"""Commands as LLM tools: a model asks for two tools, gets one wrong, reads the error, retries.

No network: ``FakeModel`` stands in for a chat-completions API. It is given the tool
definitions that ``Toolbox.definitions("openai")`` makes from two commands, asks for
both tools at once (sending a price as text, ``"ten"``, where a number is expected),
reads the ``invalid_arguments`` answer, corrects the field it names, and then answers
the user. Every tool call goes through ``Toolbox.call``, so it is validated and
dispatched on the bus like any command. Run it with ``python3 dev.py example tools``
(or ``python3 examples/tools_example.py`` where llmgine is installed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from llmgine.messages import Command, Event, MessageBus
from llmgine.tools import Toolbox

# The commands a model may use ---------------------------------------------------------


@dataclass
class LookUpWeather(Command[str]):
    """Look up today's weather in a city.

    Attributes:
        city: the city's name, e.g. "Paris"
    """

    city: str


@dataclass
class ConvertCurrency(Command[float]):
    """Convert an amount of money between currencies at today's rate.

    Attributes:
        amount: how much, a number
        source: the currency of the amount
        target: the currency wanted
    """

    amount: float
    source: Literal["EUR", "USD", "GBP"]
    target: Literal["EUR", "USD", "GBP"]


@dataclass
class CurrencyConverted(Event):
    amount: float
    source: str
    target: str


RATES = {("EUR", "USD"): 1.25, ("USD", "EUR"): 0.8, ("EUR", "GBP"): 0.85}


def build_bus(log: list[str]) -> MessageBus:
    bus = MessageBus.isolated()
    bus.register_command(LookUpWeather, lambda command: "sunny, 21C")

    def convert(command: ConvertCurrency) -> float:
        rate = RATES[command.source, command.target]  # a KeyError becomes a handler_error
        bus.add_pending_event(CurrencyConverted(command.amount, command.source, command.target))
        return round(command.amount * rate, 2)

    bus.register_command(ConvertCurrency, convert)
    bus.subscribe_event(
        CurrencyConverted,
        lambda event: log.append(f"  [event] converted {event.amount} {event.source}"),
    )
    return bus


# A scripted stand-in for a chat-completions API ------------------------------------------


class FakeModel:
    """Answers like a chat model with tools: OpenAI's message and tool-call shapes."""

    def __init__(self) -> None:
        self.calls = 0

    def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> dict[str, Any]:
        self.calls += 1
        offered = {tool["function"]["name"] for tool in tools}
        assert offered == {"look_up_weather", "convert_currency"}, offered
        last = messages[-1]
        if last["role"] == "user":  # asks for both tools at once; the amount is wrong
            return _asks(
                ("call_1", "look_up_weather", {"city": "Paris"}),
                ("call_2", "convert_currency", {"amount": "ten", "source": "EUR", "target": "USD"}),
            )
        replies = {
            m["tool_call_id"]: json.loads(m["content"]) for m in messages if m["role"] == "tool"
        }
        failed = replies.get("call_2", {})
        if not failed.get("ok") and "call_3" not in replies:
            # read the error: fix the fields it names, keep the rest
            assert failed["error"]["type"] == "invalid_arguments", failed
            fixed = {"amount": 10, "source": "EUR", "target": "USD"}
            paths = [field["path"] for field in failed["error"]["fields"]]
            assert paths == ["amount"], paths
            return _asks(("call_3", "convert_currency", fixed))
        weather, dollars = replies["call_1"]["result"], replies["call_3"]["result"]
        return {
            "role": "assistant",
            "content": f"In Paris it is {weather}; 10 EUR is {dollars} USD.",
        }


def _asks(*calls: tuple[str, str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": id,
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)},
            }
            for id, name, args in calls
        ],
    }


# The host's loop -------------------------------------------------------------------------


def converse(question: str, model: FakeModel, toolbox: Toolbox, out: list[str]) -> str:
    """Run the tool loop until the model answers in text."""
    tools = toolbox.definitions("openai")
    messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    while True:
        reply = model.complete(messages, tools)
        messages.append(reply)
        if not reply.get("tool_calls"):
            return str(reply["content"])
        for call in reply["tool_calls"]:
            function = call["function"]
            out.append(f"model called {function['name']}({function['arguments']})")
            # validated, dispatched on the bus; never raises for the model's mistakes
            content = json.dumps(toolbox.call(function["name"], function["arguments"]))
            out.append(f"  -> {content}")
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": content})


def main() -> list[str]:
    out: list[str] = []
    bus = build_bus(out)
    toolbox = Toolbox([LookUpWeather, ConvertCurrency], bus=bus)
    out.append(f"tools: {', '.join(toolbox.names)}")
    out.append(
        "openai parameters of convert_currency: "
        + json.dumps(toolbox.definitions("openai")[1]["function"]["parameters"]["required"])
    )
    model = FakeModel()
    with bus.session() as session:  # one conversation: its commands carry the session id
        answer = converse("Weather in Paris, and 10 EUR in USD?", model, toolbox, out)
    out.append(f"answer: {answer}")
    out.append(f"model turns: {model.calls}; session: {session.id}")
    return out


if __name__ == "__main__":
    lines = main()
    print("\n".join(lines))
    # what the run must show (tests/test_tools_example.py runs this script)
    expected = [
        "tools: look_up_weather, convert_currency",
        'openai parameters of convert_currency: ["amount", "source", "target"]',
        'model called look_up_weather({"city": "Paris"})',
        '  -> {"ok": true, "result": "sunny, 21C"}',
        'model called convert_currency({"amount": "ten", "source": "EUR", "target": "USD"})',
        '  -> {"ok": false, "error": {"type": "invalid_arguments", "message": "the arguments of '
        "tool 'convert_currency' are not valid (amount: expected number, got \\\"ten\\\"); fix "
        'them and call it again", "fields": [{"path": "amount", "message": "expected number, '
        'got \\"ten\\""}]}}',
        'model called convert_currency({"amount": 10, "source": "EUR", "target": "USD"})',
        "  [event] converted 10.0 EUR",
        '  -> {"ok": true, "result": 12.5}',
        "answer: In Paris it is sunny, 21C; 10 EUR is 12.5 USD.",
    ]
    missing = [line for line in expected if line not in lines]
    assert not missing, f"missing lines: {missing}"
    assert lines[-1].startswith("model turns: 3; session: ")
