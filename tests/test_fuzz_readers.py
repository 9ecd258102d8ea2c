"""A short fuzz pass over every file reader (issue 21): a few hundred mutated inputs per reader, fixed seed.

Each input must give a valid result or posecli's own one-line error (``fuzz_inputs.check``); the long run with
10,000 inputs per reader is ``bench/fuzz_readers.py``.
"""
import pytest
from hypothesis import HealthCheck, given, settings

import fuzz_inputs

EXAMPLES = 300


@pytest.fixture(autouse=True)
def quiet():
    from posecli.console import set_quiet

    set_quiet(True)
    yield
    set_quiet(False)


def _fuzz_test(reader: str):
    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=fuzz_inputs.inputs(reader))
    def test(case):
        fuzz_inputs.run_case(reader, case)

    test.__name__ = f"test_fuzz_{reader}"
    return test


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("reader", fuzz_inputs.READERS)
def test_fuzz_reader(reader):
    _fuzz_test(reader)()


@pytest.mark.parametrize("reader", fuzz_inputs.READERS)
def test_seeds_are_read_back(reader):
    """The unmutated seeds are valid files: the fuzzing starts from inputs the readers accept."""
    for seed in fuzz_inputs.seeds()[reader]:
        assert fuzz_inputs.run_case(reader, seed).kind == "ok"
