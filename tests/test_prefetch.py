import threading

import pytest

from posecli.video.prefetch import prefetch


def test_prefetch_yields_everything_in_order():
    assert list(prefetch(iter(range(100)), depth=3)) == list(range(100))


def test_an_error_in_the_reader_reaches_the_caller_where_it_happened():
    def items():
        yield 1
        yield 2
        raise ValueError("decoding failed at frame 2")

    got = []
    with pytest.raises(ValueError, match="frame 2"):
        for x in prefetch(items()):
            got.append(x)
    assert got == [1, 2]


def test_stopping_early_stops_the_reader_thread():
    produced = []

    def items():
        for i in range(10_000):
            produced.append(i)
            yield i

    gen = prefetch(items(), depth=2)
    assert [next(gen) for _ in range(3)] == [0, 1, 2]
    gen.close()
    assert not any(t.name == "posecli-prefetch" and t.is_alive() for t in threading.enumerate())
    assert len(produced) < 10  # bounded read-ahead, nothing more after closing
