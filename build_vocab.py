"""Train a vocabulary for ELECTRA pre-training from a corpus folder.

The command lives in electra_tf/cli/build_vocab.py (also installed as a console command by
``pip install .``); this script keeps the original ``python build_vocab.py ...`` form working from a
checkout.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from electra_tf.cli.build_vocab import command, main  # noqa: E402,F401  (main: imported by programs)

if __name__ == "__main__":
    command()
