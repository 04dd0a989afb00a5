"""Write failures injected at the operating-system level (RLIMIT_FSIZE in a child process).

A full disk or a file-size limit must end in a clear error: no crash (the Keras/h5py writer used
to segfault), no temporary files left, and files written earlier byte-identical.
"""

import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_PRELUDE = """
import os, resource, sys
sys.path.insert(0, {root!r}); sys.path.insert(0, os.path.join({root!r}, "tests"))
from conftest import tiny_config
from electra_tf.modeling.models import TFElectraForSequenceClassification
model = TFElectraForSequenceClassification(tiny_config(head="electra")).build_with_dummy_inputs()
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, resource.RLIM_INFINITY))
"""


def run_limited(body: str, limit: int):
    code = _PRELUDE.format(root=ROOT, limit=limit) + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)


def snapshot(folder):
    return {name: open(os.path.join(folder, name), "rb").read() for name in sorted(os.listdir(folder))}


def test_keras_directory_write_over_the_size_limit_is_a_clean_error(tmp_path):
    target = tmp_path / "model"
    first = run_limited(f"model.save_pretrained({str(target)!r}, format='keras')", limit=1 << 30)
    assert first.returncode == 0, first.stderr
    before = snapshot(target)
    done = run_limited(f"""
        import numpy as np
        for w in model.weights:
            w.assign(w + 1.0)  # different weights: a successful write would change the files
        try:
            model.save_pretrained({str(target)!r}, format='keras')
        except OSError as e:
            print("OSError", e.errno)
    """, limit=50_000)
    assert done.returncode == 0, done.stderr[-2000:]  # no segmentation fault (139)
    assert done.stdout.split() == ["OSError", "27"]  # EFBIG: the limit, reported as an error
    assert snapshot(target) == before  # nothing replaced, no .tmp files beside
