from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.sse.helpers import public_pem, rsa_key


@pytest.fixture(scope="session")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa_key()


@pytest.fixture(scope="session")
def other_key() -> rsa.RSAPrivateKey:
    return rsa_key()


@pytest.fixture()
def pem_file(tmp_path: Path, signing_key: rsa.RSAPrivateKey) -> Path:
    p = tmp_path / "issuer.pem"
    p.write_bytes(public_pem(signing_key))
    return p
