"""Small helpers with no ELECTRA knowledge: atomic files and write failures (``files.py``), the
policy for a command's output paths (``output_targets.py``: never over an input, through symlinks,
devices written in place, ``-`` for stdout), ragged arrays (``ragged.py``) and the tf.train.Example
wire format (``example_wire.py``)."""
