"""Write text data as TFRecords that ELECTRA can be pre-trained on (the original's builder).

The command lives in electra_tf/cli/build_pretraining_dataset.py (also installed as a console command by
``pip install .``); this script keeps the original ``python build_pretraining_dataset.py ...`` form working from a
checkout.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from electra_tf.cli.build_pretraining_dataset import command, main  # noqa: E402,F401  (main: imported by programs)

if __name__ == "__main__":
    command()
