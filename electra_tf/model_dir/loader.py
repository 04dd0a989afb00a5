"""Open a model directory: the one place predict, export and convert learn which directory,
which model class, which metadata and which tokenizer a path means.

    directory = open_model_directory(path, task=None, model_type=None)
    directory.metadata            # task.json (or a training checkpoint's run tasks.json entry), or None
    directory.model_type          # --model-type, else the metadata's, else the checkpoint's own
    model = directory.load_model()                # from_pretrained of that class
    meta = directory.task_metadata(model)         # the metadata, or one built from the model's config
    tokenizer = directory.tokenizer(meta)         # the vocabulary and tokenizer settings training used

Opening reads only small files; loading the model is a separate step, so a command can check
what the directory holds (and fail fast) before the weights load.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Optional, Tuple

from electra_tf.model_dir.layout import files_dir, resolve_model_dir
from electra_tf.model_dir.metadata import MODEL_TYPE_FAMILY, TaskMetadata, metadata_for, model_type_of

@dataclasses.dataclass
class ModelDirectory:
    """An opened model directory (or checkpoint): its resolved ``path``, the ``task`` chosen in a
    multi-task run, its ``metadata`` (None for checkpoints without any) and the ``model_type``
    that loads it. ``model`` is set by ``load_model``."""

    path: str
    task: Optional[str]
    metadata: Optional[TaskMetadata]
    model_type: str
    model: Any = None

    @property
    def files_dir(self) -> str:
        """The folder of the model's files (the directory, or a checkpoint prefix's folder)."""
        return files_dir(self.path)

    @property
    def family(self) -> Optional[str]:
        """The fine-tuning family of the model type (None for pre-trained and bare models)."""
        return MODEL_TYPE_FAMILY.get(self.model_type)

    @property
    def model_class(self):
        """The electra-tf model class of ``model_type``."""
        from electra_tf.modeling.models import MODEL_CLASSES

        return MODEL_CLASSES[self.model_type]

    def load_model(self, **kwargs):
        """The model, through ``from_pretrained`` of ``model_class`` (``kwargs``: config, strict,
        requested_skips, ...); kept as ``self.model``."""
        self.model = self.model_class.from_pretrained(self.path, task_name=self.task, **kwargs)
        return self.model

    def vocab_txt(self) -> Optional[str]:
        """The folder's vocab.txt, or None."""
        path = os.path.join(self.files_dir, "vocab.txt")
        return path if os.path.isfile(path) else None

    def tokenizer_files(self) -> Tuple[Optional[str], bool]:
        """(vocab.txt path or None, do_lower_case of tokenizer_config.json) of the files folder."""
        from electra_tf.checkpoints.hf import read_tokenizer_files

        return read_tokenizer_files(self.files_dir)

    def task_metadata(self, model) -> TaskMetadata:
        """The metadata; for a directory without any, one built from ``model``'s config and the
        families' defaults (as training would have written it)."""
        if self.metadata is not None:
            return self.metadata
        return fallback_metadata(model, self.tokenizer_files()[1])

    def vocab_file(self, meta: Optional[TaskMetadata] = None) -> Optional[str]:
        """The tokenizer file: the one the metadata names, else the folder's vocab.txt."""
        named = meta.tokenizer_path(self.files_dir) if meta is not None else None
        return named or self.tokenizer_files()[0]

    def tokenizer(self, meta: TaskMetadata):
        """The tokenizer training used: the metadata's file and settings (lowercasing, space
        token, accents, Chinese characters)."""
        from electra_tf.errors import ConfigError
        from electra_tf.text.tokenizer import build_tokenizer

        vocab = self.vocab_file(meta)
        if vocab is None:
            raise ConfigError(f"{self.path} has no vocab.txt; copy the model's vocabulary there.")
        return build_tokenizer(vocab, meta.do_lower_case, space_token=meta.tokenizer.get("space_token"),
                               strip_accents=meta.tokenizer.get("strip_accents"),
                               tokenize_chinese_chars=bool(meta.tokenizer.get("tokenize_chinese_chars", True)))

    def do_lower_case(self, vocab: Optional[str]) -> bool:
        """The lowercasing to record with a converted model: the metadata's, else that of the
        tokenizer_config.json beside ``vocab`` (True without a vocabulary)."""
        from electra_tf.checkpoints.hf import read_tokenizer_files

        if self.metadata is not None:
            return self.metadata.do_lower_case
        return read_tokenizer_files(os.path.dirname(vocab))[1] if vocab else True


def open_model_directory(path: str, task: Optional[str] = None, model_type: Optional[str] = None,
                         resolve: bool = True) -> ModelDirectory:
    """Open ``path``: inside a run's trial folder its ``model/`` or ``model/<task>/`` (unless
    ``resolve`` is False: the converter reads a trial folder as its training checkpoint), the
    metadata travelling with it, and the model type (``model_type``, else the metadata's, else
    the checkpoint's own)."""
    if resolve:
        path = resolve_model_dir(path, task)
    meta = metadata_for(path, task)
    return ModelDirectory(path=path, task=task, metadata=meta, model_type=model_type or model_type_of(path, meta))


def fallback_metadata(model, do_lower_case: bool) -> TaskMetadata:
    """The metadata of a fine-tuned model directory without task.json: the family of the model's
    class, its labels (id2label), the family's section from its config, and the hparam defaults."""
    from electra_tf.finetuning.families import family_module
    from electra_tf.finetuning.options import TaskOptions
    from electra_tf.finetuning.prediction import TASK_NAME

    family = MODEL_TYPE_FAMILY[model.model_type]
    config = model.config
    settings = family_module(family).fallback_settings(config)
    n = config.num_labels
    labels = [config.id2label[i] for i in range(n)] if config.id2label else [str(i) for i in range(n)]
    return TaskMetadata(task_name=TASK_NAME, family=family, model_type=model.model_type,
                        max_seq_length=TaskOptions.max_seq_length,
                        labels=None if settings.get("problem") == "regression" else labels,
                        tokenizer={"file": "vocab.txt", "do_lower_case": do_lower_case}, settings=settings)
