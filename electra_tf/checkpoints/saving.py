"""Write a model in one of the three layouts: "hf", "tf1" or "keras"."""

from __future__ import annotations

from typing import Optional

from electra_tf.errors import ConfigError

FORMATS = ("hf", "tf1", "keras")


def save_model(model, path: str, format: str = "hf", vocab_file: Optional[str] = None,
               do_lower_case: bool = True, task_name: Optional[str] = None) -> str:
    from electra_tf.checkpoints import hf, keras_format, tf1

    model.build_with_dummy_inputs()
    if format == "hf":
        return hf.write_hf_directory(model, path, vocab_file=vocab_file, do_lower_case=do_lower_case)
    if format == "keras":
        return keras_format.write_keras_directory(model, path)
    if format == "tf1":
        return tf1.write_tf1_checkpoint(model, path, vocab_file=vocab_file, task_name=task_name)
    raise ConfigError(f"Unknown checkpoint format {format!r}; use one of {', '.join(FORMATS)}.")
