"""``llmgine schema``: the catalogue of the installed application, as text and JSON, with the
plugins that handle or subscribe to each class; what cannot be described is said, not a crash.

Plugins are "installed" as fake distributions (tests/fake_dists.py); each test gets a
plugin host of its own that loads only the plugins it names.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from llmgine import cli

from .asyncapi_spec import problems
from .fake_dists import install_fake_plugin

#: The keys of each message of --json, as docs/cli.md documents them.
MESSAGE_KEYS = {
    "kind",
    "name",
    "wire_name",
    "registered_by",
    "event_type",
    "description",
    "handled_by",
    "subscribed_by",
    "schema",
    "error",
}

SHOP = '''
import dataclasses

import llmgine
from llmgine.messages.commands import Command
from llmgine.messages.events import Event


@dataclasses.dataclass
class PlaceOrder(Command[str]):
    """Place an order for ``qty`` of ``sku``."""

    sku: str
    qty: int = 1


@dataclasses.dataclass
class RushOrder(PlaceOrder):
    """A PlaceOrder shipped today."""


@dataclasses.dataclass
class OrderPlaced(Event):
    """An order was placed."""

    event_type = "shop.order.placed"
    order_id: str


@dataclasses.dataclass
class OrderShipped(Event):
    event_type = "shop.order.shipped"
    order_id: str


@llmgine.hookimpl
def register_commands(register, bus):
    register(PlaceOrder, lambda command: "order-1")


@llmgine.hookimpl
def register_subscribers(subscribe, bus):
    subscribe(OrderPlaced, lambda event: None)


@llmgine.hookimpl
def register_messages(register):
    register(PlaceOrder, "shop.PlaceOrder")
    register(OrderPlaced)
'''

MAILER = """
import llmgine


@llmgine.hookimpl
def register_subscribers(subscribe, bus):
    subscribe("shop.order.*", lambda event: None)
    subscribe("shop.order.shipped", lambda event: None)
"""

SPY = """
import llmgine


@llmgine.hookimpl
def register_subscribers(subscribe, bus):
    subscribe("*", lambda event: None)
"""

ODD = '''
import dataclasses

import llmgine
from llmgine.messages.commands import Command


class Connection:
    """No JSON form."""


@dataclasses.dataclass
class Reconnect(Command[None]):
    connection: Connection


@llmgine.hookimpl
def register_commands(register, bus):
    register(Reconnect, lambda command: None)


@llmgine.hookimpl
def register_messages(register):
    register("llmgine_odd_gone:Vanished", "odd.Vanished")
'''


@pytest.fixture(autouse=True)
def _fresh_host(no_installed_plugins: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh host that loads no installed plugin unless told; no transport selected."""
    monkeypatch.delenv("LLMGINE_TRANSPORT", raising=False)


def install(monkeypatch: pytest.MonkeyPatch, root: Path, **plugins: str | None) -> None:
    """Install each fake plugin ``name=source`` and select them (and only them) to load."""
    for name, source in plugins.items():
        # (a module an earlier test imported would be found in sys.modules)
        monkeypatch.delitem(sys.modules, f"llmgine_{name}", raising=False)
        install_fake_plugin(monkeypatch, root / name, name, source and textwrap.dedent(source))
    monkeypatch.setenv("LLMGINE_LOAD_PLUGINS", ",".join(plugins))


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = cli.main(["schema", *args])
    out, err = capsys.readouterr()
    return status, out, err


def catalogue(capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The --json catalogue, and its messages by class name (the last part)."""
    status, out, _ = run(capsys, "--json")
    assert status == 0
    found = json.loads(out)
    return found, {m["name"].rpartition(".")[2]: m for m in found["messages"]}


def test_json_shape_and_plugin_attribution(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    install(monkeypatch, tmp_path, shop=SHOP, mailer=MAILER, spy=SPY)
    found, messages = catalogue(capsys)
    assert set(found) == {"llmgine", "messages", "plugins", "transports"}
    assert found["transports"] == []
    for message in found["messages"]:
        assert set(message) == MESSAGE_KEYS
    place = messages["PlaceOrder"]
    assert place["kind"] == "command"
    assert place["name"] == "llmgine_shop.PlaceOrder"
    assert place["wire_name"] == "shop.PlaceOrder"
    assert place["registered_by"] == "plugin 'shop' from llmgine-shop 0.0.1"
    assert place["description"] == "Place an order for ``qty`` of ``sku``."
    assert place["handled_by"] == ["shop"]
    assert place["schema"]["properties"] == {
        "sku": {"type": "string"},
        "qty": {"type": "integer", "default": 1},
    }
    assert place["schema"]["required"] == ["sku"]
    assert place["error"] is None
    # not registered anywhere: unlisted; registered: its handler is its base's
    assert "RushOrder" not in messages
    # by class (shop), by pattern (mailer), every event (spy)
    placed = messages["OrderPlaced"]
    assert placed["event_type"] == "shop.order.placed"
    assert placed["wire_name"] == "llmgine_shop.OrderPlaced"
    assert placed["subscribed_by"] == ["mailer", "shop", "spy"]  # in load order
    # core events: only "*" reaches them
    assert messages["SessionStarted"]["subscribed_by"] == ["spy"]
    assert messages["SystemEvent"]["subscribed_by"] == ["spy"]
    assert messages["CreateResourceCommand"]["handled_by"] == []
    plugins = {p["name"]: p for p in found["plugins"]}
    assert plugins["shop"] == {
        "name": "shop",
        "distribution": "llmgine-shop",
        "version": "0.0.1",
        "state": "active",
        "error": None,
        "messages": ["shop.PlaceOrder", "llmgine_shop.OrderPlaced"],
        "commands": ["llmgine_shop.PlaceOrder"],
        "subscriptions": ["llmgine_shop.OrderPlaced"],
    }
    assert plugins["mailer"]["subscriptions"] == ["shop.order.*", "shop.order.shipped"]


def test_a_subclass_is_attributed_to_the_handler_of_its_base(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    source = SHOP.replace("register(OrderPlaced)", "register(OrderPlaced)\n    register(RushOrder)")
    install(monkeypatch, tmp_path, shop=source)
    _, messages = catalogue(capsys)
    assert messages["RushOrder"]["handled_by"] == ["shop"]
    assert messages["RushOrder"]["description"] == "A PlaceOrder shipped today."


def test_text_summary(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    install(monkeypatch, tmp_path, shop=SHOP, mailer=MAILER)
    status, out, err = run(capsys)
    assert status == 0
    assert err == ""
    assert out.startswith("6 commands, 13 events from 2 plugins and the core\n")
    assert (
        "command llmgine_shop.PlaceOrder  (wire name shop.PlaceOrder)\n"
        "  Place an order for ``qty`` of ``sku``.\n"
        "  handled by: shop\n"
        "  - sku: string\n"
        "  - qty: integer (optional)\n"
    ) in out
    assert (
        "event llmgine_shop.OrderShipped\n"
        "  event type: shop.order.shipped\n"
        "  subscribed by: (no plugin)\n"
    ) not in out  # not registered, nor subscribed to by class: not listed
    assert "event llmgine_shop.OrderPlaced  (wire name llmgine_shop.OrderPlaced)\n" in out
    assert "  subscribed by: mailer, shop\n" in out


def test_a_class_without_schema_and_a_reference_that_does_not_import_are_listed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    install(monkeypatch, tmp_path, odd=ODD)
    _, messages = catalogue(capsys)
    reconnect = messages["Reconnect"]
    assert reconnect["schema"] is None
    assert reconnect["handled_by"] == ["odd"]
    assert reconnect["error"].startswith("no JSON Schema: TypeError: Reconnect.connection: ")
    assert "has no JSON form" in reconnect["error"]
    vanished = messages["llmgine_odd_gone:Vanished"]  # (no class: named by its reference)
    assert vanished["kind"] == "unknown"
    assert vanished["name"] == "llmgine_odd_gone:Vanished"
    assert vanished["wire_name"] == "odd.Vanished"
    assert "cannot be imported" in vanished["error"]
    status, out, err = run(capsys)
    assert status == 0
    assert "  fields: unknown: no JSON Schema: TypeError: Reconnect.connection: " in out
    assert "llmgine schema: warning: llmgine_odd.Reconnect: no JSON Schema: TypeError" in err
    assert "llmgine schema: warning: llmgine_odd_gone:Vanished: " in err
    status, out, _ = run(capsys, "--asyncapi")
    document = json.loads(out)
    assert problems(document) == []
    message = document["components"]["messages"]["llmgine_odd.Reconnect"]
    assert "payload" not in message
    assert message["x-llmgine-schema-error"] == reconnect["error"]
    assert "llmgine_odd.Reconnect" not in document["components"]["schemas"]
    assert "odd.Vanished" in document["components"]["messages"]


def test_no_plugins_installed(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys)
    assert status == 0
    assert out.startswith(
        "no llmgine plugins installed: only the core's messages are listed\n"
        "5 commands, 12 events from 0 plugins and the core\n"
    )
    found, messages = catalogue(capsys)
    assert found["plugins"] == []
    assert messages["CreateResourceCommand"]["handled_by"] == []
    assert messages["CreateResourceCommand"]["registered_by"] == "the llmgine core"
    assert all(m["schema"] is not None for m in found["messages"])
    status, out, _ = run(capsys, "--asyncapi")
    assert problems(json.loads(out)) == []


def test_a_plugin_in_error_is_listed_and_left_out(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    install(monkeypatch, tmp_path, shop=SHOP, broken=None)
    status, out, _ = run(capsys)
    assert status == 0
    assert "plugin 'broken' is in error (left out): plugin 'broken' (llmgine_broken) from " in out
    found, messages = catalogue(capsys)
    assert messages["PlaceOrder"]["handled_by"] == ["shop"]
    broken = next(p for p in found["plugins"] if p["name"] == "broken")
    assert broken["state"] == "error"
    assert "failed to import" in broken["error"]


def test_a_describe_channels_hook_returning_something_else_is_an_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    source = """
    import llmgine

    @llmgine.hookimpl
    def describe_channels(messages, bus):
        return {"channels": []}
    """
    install(monkeypatch, tmp_path, wrong=source)
    status, out, err = run(capsys, "--json")
    assert status == 1
    assert out == ""
    assert err == (
        "llmgine schema: plugin 'wrong' from llmgine-wrong 0.0.1 failed in its "
        "describe_channels hook: TypeError: it returned {'channels': []}, not a "
        "llmgine.plugins.TransportInfo\n"
    )


FAILS_TO_REGISTER = """
import llmgine


@llmgine.hookimpl
def register_commands(register, bus):
    raise RuntimeError("no database")
"""


def test_a_plugin_in_error_is_warned_about_on_stderr(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    install(monkeypatch, tmp_path, shop=SHOP, failing=FAILS_TO_REGISTER)
    for args in ((), ("--json",), ("--asyncapi",)):
        status, out, err = run(capsys, *args)
        assert status == 0, args
        assert "PlaceOrder" in out  # the other plugins are still described
        assert err.startswith("llmgine schema: warning: plugin 'failing' is in error (left out): ")
        assert "RuntimeError: no database" in err
        assert len(err.splitlines()) == 1


@pytest.mark.parametrize("args", [("--json",), ("--asyncapi",)])
def test_a_selected_transport_that_no_plugin_describes_prints_no_document(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    args: tuple[str, ...],
) -> None:
    install(monkeypatch, tmp_path, shop=SHOP)
    monkeypatch.setenv("LLMGINE_TRANSPORT", "kafka")
    status, out, err = run(capsys, *args)
    assert (status, out) == (1, "")
    assert err == (
        "llmgine schema: LLMGINE_TRANSPORT=kafka selects a transport, but no installed "
        "plugin describes it; no document printed\n"
    )
    # the text summary still prints, with the warning
    status, out, err = run(capsys)
    assert status == 0
    assert "from 1 plugin and the core" in out
    assert err == (
        "llmgine schema: warning: LLMGINE_TRANSPORT=kafka selects a transport, but no "
        "installed plugin describes it\n"
    )


def test_a_selected_transport_whose_plugin_is_in_error_prints_no_document(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # the shipped Redis plugin, with a URL redis-py refuses (a port out of range)
    monkeypatch.setenv("LLMGINE_LOAD_PLUGINS", "redis")
    monkeypatch.setenv("LLMGINE_TRANSPORT", "redis")
    monkeypatch.setenv("LLMGINE_REDIS_URL", "redis://:pw@redis.internal:99999/0")
    status, out, err = run(capsys, "--asyncapi")
    assert (status, out) == (1, "")
    warning, error = err.splitlines()
    assert warning.startswith("llmgine schema: warning: plugin 'redis' is in error (left out): ")
    assert "is not a Redis URL" in warning
    assert "pw" not in err
    assert error == (
        "llmgine schema: LLMGINE_TRANSPORT=redis selects a transport, but no plugin "
        "describes it (in error: 'redis'); no document printed"
    )
