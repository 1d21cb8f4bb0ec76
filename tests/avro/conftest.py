"""The implementation fixture every Avro test module shares."""
from __future__ import annotations

from types import ModuleType

import pytest

from .impls import IMPL_NAMES, impl


@pytest.fixture(params=IMPL_NAMES)
def avro(request: pytest.FixtureRequest) -> ModuleType:
    """Each writer in turn; the native one is skipped only under FASTEV_NO_EXTENSIONS=1."""
    module = impl(request.param)
    if module is None:
        pytest.skip("native extension disabled by FASTEV_NO_EXTENSIONS")
    return module
