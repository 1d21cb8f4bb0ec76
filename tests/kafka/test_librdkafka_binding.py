"""The native producer binds exactly the librdkafka confluent-kafka already mapped, of the same
version, or steps aside: each branch in a fresh interpreter, with FASTEV_LIBRDKAFKA naming the
candidate library (the module's injection point; it can only select an already mapped library)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

NO_EXTENSIONS = os.environ.get("FASTEV_NO_EXTENSIONS", "") not in ("", "0")
pytestmark = pytest.mark.skipif(NO_EXTENSIONS, reason="native extension disabled by FASTEV_NO_EXTENSIONS")

CHILD = """
import ctypes, sys
for lib in sys.argv[1:]:
    ctypes.CDLL(lib)  # mapped before fastev looks (as confluent-kafka maps its own)
import confluent_kafka
from fastev.kafka import native_publisher as np
from fastev.kafka import KafkaPublisher
p = KafkaPublisher({"bootstrap.servers": "127.0.0.1:1", "log_level": 0})
print(np.IMPLEMENTATION, type(p).__name__, confluent_kafka.libversion()[0],
      getattr(np.kproducer, "LIBRDKAFKA_VERSION", "-"))
"""


def run(candidate: str | None, *preload: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "FASTEV_LIBRDKAFKA"}
    if candidate is not None:
        env["FASTEV_LIBRDKAFKA"] = candidate
    return subprocess.run([sys.executable, "-c", CHILD, *preload], capture_output=True, text=True, timeout=60,
                          env=env)


def fallback_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr
    impl, cls, _, _ = proc.stdout.split()
    assert (impl, cls) == ("reference", "KafkaPublisher")
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr  # ONE clear line, no traceback
    assert "native Kafka producer disabled" in lines[0] and "confluent-kafka's producer" in lines[0]
    return lines[0]


def test_binds_the_library_confluent_kafka_mapped() -> None:
    proc = run(None)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    impl, cls, want, have = proc.stdout.split()
    assert (impl, cls) == ("native", "NativeKafkaPublisher") and have == want


def test_a_library_that_is_not_mapped_is_never_loaded(tmp_path: Path) -> None:
    from fastev._core import kproducer

    copy = tmp_path / "librdkafka-copy.so.1"  # a second copy on disk, same bytes: still refused
    shutil.copy(kproducer.LIBRDKAFKA, copy)
    assert "not loaded by confluent_kafka" in fallback_line(run(str(copy)))
    assert "not loaded by confluent_kafka" in fallback_line(run(str(tmp_path / "missing.so")))


def test_another_librdkafka_version_is_refused(tmp_path: Path) -> None:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler for the stand-in library")
    src = tmp_path / "fake.c"
    src.write_text('const char *rd_kafka_version_str(void) { return "2.0.1"; }\n'
                   "int rd_kafka_version(void) { return 0x020001ff; }\n")
    lib = tmp_path / "librdkafka-fake.so.1"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(lib), str(src)], check=True)
    line = fallback_line(run(str(lib), str(lib)))
    assert "is librdkafka 2.0.1, confluent_kafka uses" in line


def test_a_mapped_library_that_is_not_librdkafka_is_refused() -> None:
    import ctypes.util

    libc = ctypes.util.find_library("c")
    assert libc is not None
    line = fallback_line(run(libc, libc))
    assert "is not librdkafka" in line


@pytest.mark.parametrize(("have", "want", "error"), [
    ("2.16.0", "2.16.0", None),
    ("2.0.0", "2.0.0", None),
    ("2.16.0", "2.15.0", "is librdkafka 2.16.0, confluent_kafka uses 2.15.0"),
    ("1.9.2", "1.9.2", "outside the tested range 2.0.0 to before 3.0.0"),
    ("3.0.0", "3.0.0", "outside the tested range"),
    ("garbage", "garbage", "outside the tested range"),
])
def test_the_version_rule(have: str, want: str, error: str | None) -> None:
    from fastev._core import kproducer

    if error is None:
        kproducer.check_version(have, want, "/x/librdkafka.so.1")
    else:
        with pytest.raises(ImportError, match=error):
            kproducer.check_version(have, want, "/x/librdkafka.so.1")
