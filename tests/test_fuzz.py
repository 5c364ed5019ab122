"""Every reader of files, fuzzed: random bytes, mutated real files and crafted bombs end in a
valid result or a clear error naming the file, in bounded memory and time.

The fuzzing runs in a process of its own (tests/fuzz_readers.py), whose peak memory is
then its own. CI-sized by default (40 mutations per reader, seed 0); set AEGUI_FUZZ_CASES
and AEGUI_FUZZ_SEED for longer runs, e.g. AEGUI_FUZZ_CASES=2000 AEGUI_FUZZ_SEED=7.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CASES = int(os.environ.get("AEGUI_FUZZ_CASES", "40"))
SEED = int(os.environ.get("AEGUI_FUZZ_SEED", "0"))


def test_every_reader_gives_a_valid_result_or_a_clear_error_in_bounded_memory(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(HERE / "fuzz_readers.py"), "--cases", str(CASES), "--seed", str(SEED),
                           "--out", str(tmp_path)], capture_output=True, text=True, env=env,
                          timeout=120 + CASES * 2)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    failures = "\n".join(f"{f['reader']} / {f['input']}: {f['failure']} (input: {f['saved']})"
                         for f in report["failures"])
    assert not report["failures"], failures
    assert report["cases"] == report["readers"] * CASES + report["bombs"] + 1
    # Not degenerate: some mutations still make valid files, and most are refused.
    assert report["valid"] > 0 and report["refused"] > report["cases"] // 2
