"""Every shipped pack loads, and its own tests pass through the CLI's runner."""
from __future__ import annotations

import pytest

from engine.backends import BACKENDS, backend_from_name
from engine.language.compiler import load_pack
from engine.testing import pack_files, run_pack_test
from tests.conftest import PACKS, ROOT

PACK_FILES = pack_files([ROOT / "rules", PACKS])


def _cases():
    for path in PACK_FILES:
        plan = load_pack(path)
        for test in plan.tests:
            yield pytest.param(plan, test, str(path.relative_to(ROOT)),
                               id=f"{path.stem}: {test.name}")


CASES = list(_cases())


def test_the_default_pack_and_a_second_sector_pack_are_shipped_with_tests():
    names = {load_pack(p).name: len(load_pack(p).tests) for p in PACK_FILES}
    assert names.get("retail", 0) >= 10, names
    assert names.get("bank", 0) >= 5, names


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request):
    """Every pack test runs on every backend: they must give the same answers."""
    return backend_from_name(request.param)


@pytest.mark.parametrize("plan, test, file", CASES)
def test_pack_test(plan, test, file, backend):
    result = run_pack_test(plan, test, file, backend)
    assert result.passed, str(result)
