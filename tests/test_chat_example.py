"""examples/chat_server.py: concurrent sessions, tools, approvals, a background audit log and
metrics; ``python3 dev.py example chat`` installs what it needs and runs it."""

from __future__ import annotations

import subprocess
import sys

from tools.devenv import LEVELS, ROOT, install_args

CHAT = ROOT / "examples" / "chat_server.py"


def test_the_chat_server_runs_each_conversation_in_its_own_session() -> None:
    done = subprocess.run(
        [sys.executable, str(CHAT)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "three conversations at once, each on its own session:" in out
    # each websocket saw its own tokens only (the example asserts it too)
    assert "alice saw 15 tokens, only its own: You said: hello Let me check the weather" in out
    assert "It is sunny in Paris." in out
    # bob never answers the approval: the wait timed out and nothing was sent
    assert "bob saw 13 tokens, only its own: I can send that email. (no answer" in out
    # carol's session has its own weather handler, and she approved the email
    assert "Premium forecast: Oslo 21C. I can send that email. Sent to carol@example.com." in out
    assert "audit log (background): 55 events written" in out
    for line in [
        "llmgine.commands.dispatched UserSaid: 5",
        "llmgine.commands.dispatched LookUpWeather: 2",
        "llmgine.commands.dispatched SendEmail: 1",
        "llmgine.events.published chat.token: 47",
        "llmgine.events.delivered chat.token: 94",  # the websocket and the audit log
        "llmgine.events.published session.started: 3",
        "llmgine.events.published session.ended: 3",
        "llmgine.sessions.open: 0",
    ]:
        assert f"  {line}\n" in out, line


def test_dev_py_example_chat_installs_the_example_s_plugins_and_an_otel_sdk() -> None:
    plugins = ROOT / "plugins"
    assert install_args("chat") == [
        "-e",
        str(ROOT),
        "-e",
        str(plugins / "llmgine-otel") + "[sdk]",
        "-e",
        str(plugins / "llmgine-resources"),
    ]
    # the test environment has all it needs: `dev.py test` never installs the chat level
    assert LEVELS.index("example") < LEVELS.index("chat") < LEVELS.index("full")
