"""Run a fine-tuned model on new raw text and write predictions with scores.

The command lives in electra_tf/cli/predict.py (also installed as a console command by
``pip install .``); this script keeps the original ``python predict.py ...`` form working from a
checkout.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from electra_tf.cli.predict import command, main  # noqa: E402,F401  (main: imported by programs)

if __name__ == "__main__":
    command()
