"""``python -m electra_tf.export``: the export command (electra_tf/cli/export.py)."""

from electra_tf.cli.export import command

if __name__ == "__main__":
    command()
