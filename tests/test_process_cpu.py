"""The bench's CPU reader counts every thread of the process it names."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.processes import process_cpu_s

BUSY = """
import threading, time
def spin():
    end = time.process_time() + 0.15
    while time.process_time() < end:
        pass
threads = [threading.Thread(target=spin) for _ in range(2)]
for t in threads: t.start()
for t in threads: t.join()
print("done", flush=True)
input()
"""


def test_counts_the_cpu_a_busy_process_used_in_all_its_threads() -> None:
    child = subprocess.Popen([sys.executable, "-c", BUSY], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "done"
        used = process_cpu_s(child.pid)
        # each thread spun until the process as a whole had used 0.15 s, so together at least that much
        assert used >= 0.15
        assert used < 10
    finally:
        child.kill()
        child.wait()


def test_an_idle_wait_costs_no_cpu() -> None:
    before = process_cpu_s(os.getpid())
    time.sleep(0.2)
    assert process_cpu_s(os.getpid()) - before < 0.1
