"""Redis URLs in messages: every secret redis-py would take from one masked, and URLs checked.

A URL is printed in errors, logs, ``llmgine plugins`` and ``repr(RedisConfig)``;
each goes through :func:`safe_url` first.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus, urlsplit

from redis.connection import parse_url as _untyped_parse_url

__all__ = ["check_url", "safe_url"]


def safe_url(url: str) -> str:
    """``url`` with every secret redis-py would take from it masked as ``***``, for messages.

    Masked: the password of the user info (``redis://user:***@host``), the value of
    every query parameter whose name mentions a password, secret, token, credential or
    auth (redis-py passes ``?password=`` and ``?ssl_password=`` on; a percent-encoded
    name counts too) and a ``#fragment``. A URL that does not split cleanly, where a
    secret may sit anywhere (a password with an unescaped ``/``, ``?``, ``#`` or ``@``
    puts the user info into the path, query or fragment: ``redis://:pa/ss@host``, and
    so does a port that is no number, ``redis://user:secret``), is masked whole
    after its scheme: ``redis://***``. Never raises.
    """
    whole = _scheme_of(url) + "***"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a port that is no number)
    except ValueError:
        return whole
    if not parts.scheme:
        return whole  # not a URL: what it holds is unknown
    query = "".join(
        f"{piece.partition('=')[0]}=***" if _SECRET_NAME.search(unquote_plus(piece)) else piece
        for piece in re.split(r"([&;])", parts.query)  # (separators kept)
    )
    if "@" in parts.path + query + parts.fragment:  # the user info may be out of place
        return whole
    netloc = parts.netloc
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}:***@{host}"
    # Rebuilt by hand: urlunsplit would turn unix:///path into unix:/path.
    head = url[: len(parts.scheme) + 1]
    head += "//" if url[len(head) :].startswith("//") else ""
    return (
        f"{head}{netloc}{parts.path}"
        + (f"?{query}" if query else "")
        + ("#***" if parts.fragment else "")
    )


#: a query parameter that may hold a secret, by the words in its (decoded) name
_SECRET_NAME = re.compile(r"^[^=]*(pass|secret|token|cred|auth)", re.IGNORECASE)


def _scheme_of(url: str) -> str:
    """``scheme://`` of ``url`` if it starts with a plain one, else nothing."""
    match = re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", url)
    return match.group(0) if match else ""


#: redis-py's own URL parser (it is untyped)
_parse_url: Callable[[str], dict[str, Any]] = _untyped_parse_url


def check_url(url: Any, what: str = "RedisConfig.url") -> None:
    """Raise unless redis-py can parse the Redis URL ``url``; the message shows it masked.

    ``what`` names the URL in the message. redis-py's own message may quote a piece
    of a password it misread, so it is shown only for a URL that has nothing to mask.
    """
    if not isinstance(url, str):
        raise TypeError(f"{what} must be a string, not {type(url).__name__}")
    try:
        _parse_url(url)
    except ValueError as exc:
        shown = safe_url(url)
        reason = str(exc) if shown == url else "redis-py cannot parse it"
        raise ValueError(
            f"{what} {shown} is not a Redis URL redis-py accepts ({reason}); write "
            "redis://[[user]:password@]host[:port][/db], rediss:// for TLS or "
            "unix:///path/to.sock, and percent-encode '/', '?', '#', '@' and '%' in a "
            "password (e.g. %2F for '/')"
        ) from None
