"""Faults to put Redis through: a throwaway ``redis-server`` and a TCP proxy that can partition.

Shared by the tests (``conftest.py``'s fixtures) and the fault script
(``bench/redis_faults.py``). Everything runs on loopback; the shared Redis on port
6379 is never stopped, paused, filled or flushed: each fault gets its own server.
"""

from __future__ import annotations

import contextlib
import os
import select
import selectors
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import redis

__all__ = ["Proxy", "Server", "free_port"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A throwaway ``redis-server`` on a loopback port, stopped by its pid.

    By default it persists every write (AOF, ``appendfsync always``), so a kill and
    :meth:`start` bring its data back; ``persist=False`` keeps nothing on disk, so a
    restart comes back empty. ``maxmemory`` (e.g. ``"2mb"``) makes writes fail with
    OOM once it is reached (``noeviction``). ``extra`` are more ``redis-server`` flags.
    """

    def __init__(
        self,
        directory: Path,
        password: str | None = None,
        tls: bool = False,
        *,
        persist: bool = True,
        maxmemory: str | None = None,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.port = free_port()
        self.dir = directory
        self.extra = ["--requirepass", password] if password else []
        if persist:
            self.extra += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            self.extra += ["--appendonly", "no"]
        if maxmemory is not None:
            self.extra += ["--maxmemory", maxmemory, "--maxmemory-policy", "noeviction"]
        self.extra += list(extra)
        self.proc: subprocess.Popen[bytes] | None = None
        auth = f":{password}@" if password else ""
        self.url = f"redis://{auth}127.0.0.1:{self.port}/0"
        if tls:  # TLS only, with a self-signed certificate the client is told to trust
            cert, key = directory / "cert.pem", directory / "key.pem"
            subprocess.run(
                [
                    *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
                    *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
                    *("-addext", "subjectAltName=IP:127.0.0.1"),
                ],
                check=True,
                capture_output=True,
            )
            self.extra += [
                *("--port", "0", "--tls-port", str(self.port)),
                *("--tls-cert-file", str(cert), "--tls-key-file", str(key)),
                *("--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no"),
            ]
            self.url = f"rediss://{auth}127.0.0.1:{self.port}/0?ssl_ca_certs={cert}"

    def start(self) -> None:
        """Start it (again) and wait until it answers."""
        self.proc = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--dir", str(self.dir), "--save", ""),
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url, socket_connect_timeout=0.2).ping()
                return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def client(self) -> redis.Redis:
        """A plain client of this server (close it)."""
        return redis.Redis.from_url(self.url)

    def pause(self) -> None:
        """SIGSTOP: connections stay open, nothing is answered until :meth:`resume`."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL it (no goodbye) and wait for it to go."""
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGCONT)  # a paused one must be able to die
            self.proc.kill()
            self.proc.wait()
            self.proc = None


class Proxy:
    """A TCP proxy on a loopback port to ``target_port`` that can stop forwarding.

    :meth:`partition` makes every open connection a black hole, as a network
    partition without RST does: bytes sent either way are swallowed, no FIN and no
    RST arrive, so a client learns of it only from its own timeouts or keepalive.
    New connections during the partition are accepted and swallowed too; after
    :meth:`heal`, new connections work again while the old ones stay dead, like
    connections whose state a NAT or firewall dropped.
    """

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.port = free_port()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self._peers: dict[socket.socket, socket.socket] = {}
        self._dead: set[socket.socket] = set()
        self._partitioned = False
        self._lock = threading.Lock()
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, name="faultkit-proxy", daemon=True)
        self._thread.start()

    def url(self, db: int = 0) -> str:
        """A Redis URL through this proxy."""
        return f"redis://127.0.0.1:{self.port}/{db}"

    def partition(self) -> None:
        """Black-hole every connection open now, and every new one until :meth:`heal`."""
        with self._lock:
            self._partitioned = True
            self._dead.update(self._peers)

    def heal(self) -> None:
        """Forward new connections again (the ones the partition took stay dead)."""
        with self._lock:
            self._partitioned = False

    def close(self) -> None:
        """Stop the proxy and close every connection."""
        self._stopping = True
        self._thread.join(5)
        for sock in [self._listener, *self._peers]:
            sock.close()

    def _serve(self) -> None:
        while not self._stopping:
            for key, _ in self._selector.select(timeout=0.05):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self._listener:
                    self._accept()
                else:
                    self._forward(sock)

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        upstream = socket.create_connection(self.target)
        for sock in (client, upstream):
            sock.setblocking(False)
            self._selector.register(sock, selectors.EVENT_READ, None)
        with self._lock:
            self._peers[client], self._peers[upstream] = upstream, client
            if self._partitioned:
                self._dead.update((client, upstream))

    def _forward(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        with self._lock:
            peer = self._peers.get(sock)
            dead = sock in self._dead
        if peer is None:
            return
        if dead:  # swallowed: neither the bytes nor a close reach the other side
            if not data:  # closed by its owner: stop watching it, its peer hears nothing
                self._selector.unregister(sock)
                sock.close()
            return
        if not data:
            self._drop(sock, peer)
            return
        try:
            _send_all(peer, data)
        except OSError:
            self._drop(sock, peer)

    def _drop(self, *socks: socket.socket) -> None:
        with self._lock:
            for sock in socks:
                self._peers.pop(sock, None)
                self._dead.discard(sock)
        for sock in socks:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(sock)
            sock.close()


def _send_all(sock: socket.socket, data: bytes) -> None:
    """``sendall`` on a non-blocking socket: wait (up to 10 s) while its buffer is full."""
    view = memoryview(data)
    while view:
        try:
            view = view[sock.send(view) :]
        except BlockingIOError:
            if not select.select([], [sock], [], 10)[1]:
                raise TimeoutError("proxy: the receiver took nothing for 10 s") from None
