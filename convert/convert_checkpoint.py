"""Convert ELECTRA checkpoints between the original TF1, HuggingFace and electra-tf Keras layouts.

The command lives in electra_tf/cli/convert.py (also installed as a console command by
``pip install .``); this script keeps the original ``python convert/convert_checkpoint.py ...`` form working from a
checkout.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from electra_tf.cli.convert import command, main  # noqa: E402,F401  (main: imported by programs)

if __name__ == "__main__":
    command()
