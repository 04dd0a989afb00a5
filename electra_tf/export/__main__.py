"""``python -m electra_tf.export``: the export command (electra_tf/cli/export.py)."""

import sys

from electra_tf.cli.export import main

if __name__ == "__main__":
    sys.exit(main())
