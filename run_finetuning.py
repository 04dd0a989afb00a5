"""Fine-tune ELECTRA the way the original run_finetuning.py does, on TensorFlow 2 / Keras 3.

The command lives in electra_tf/cli/finetune.py (also installed as a console command by
``pip install .``); this script keeps the original ``python run_finetuning.py ...`` form working from a
checkout.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from electra_tf.cli.finetune import command, main  # noqa: E402,F401  (main: imported by programs)

if __name__ == "__main__":
    command()
