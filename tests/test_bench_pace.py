"""``aegui bench app``'s pace probes (aegui/gui/bench_pace.py): the same work timed back to
back and after a pause of one move's interval, in the thread's CPU time."""

from __future__ import annotations

import time

import numpy as np

from aegui.gui import bench_pace


def test_paced_times_the_work_back_to_back_and_after_the_pause_in_alternating_blocks():
    calls: list[float] = []
    back_to_back, paced = bench_pace.paced(lambda: calls.append(time.perf_counter()), repeats=6, pause=0.003,
                                           blocks=4)
    # One untimed run, then four blocks of three: back to back, paused, back to back, paused.
    assert len(calls) == 1 + 4 * 3
    gaps = np.diff(calls)
    paused = np.array([block % 2 == 1 for block in range(4) for _ in range(3)])
    assert (gaps[paused] >= 0.003).all()
    assert back_to_back >= 0 and paced >= 0


def test_paced_runs_the_work_as_often_as_asked_each_way():
    calls = []
    bench_pace.paced(lambda: calls.append(1), repeats=7, pause=0.0, blocks=8)
    assert len(calls) == 1 + 2 * 7


def test_paced_counts_the_threads_cpu_time_not_the_pause():
    def spin(seconds=0.002):
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass

    back_to_back, paced = bench_pace.paced(spin, repeats=4, pause=0.01)
    assert 0.001 < back_to_back < 0.008 and 0.001 < paced < 0.008       # 2 ms of work each, not the 10 ms pause

    def sleep():
        time.sleep(0.002)

    assert max(bench_pace.paced(sleep, repeats=4, pause=0.001)) < 0.001      # asleep is not CPU time


def test_the_sample_page_holds_a_drawn_digit():
    page = bench_pace.sample_page(32.0)
    assert page.dtype == np.uint8 and page.ndim == 2
    assert page.max() == 255 and 0.05 < (page > 0).mean() < 0.9      # cropped to its ink


def test_the_memory_probe_reads_one_dense_layers_weights():
    assert bench_pace.READ_BYTES == 1568 * 256 * 4
    back_to_back, paced = bench_pace.memory_probe(repeats=4)
    assert back_to_back > 0 and paced > 0
