"""Evaluation of a fine-tuning model: run it over a split, feed each task's scorer, write the
task's prediction files and the test outputs (the original's pickles, or the task's own files).
"""

from __future__ import annotations

import logging
import os
import pickle
from typing import Dict, List, Optional

from electra_tf.errors import DataError
from electra_tf.finetuning.task import TEST_OUTPUTS_PREDICTION_FILES
from electra_tf.utils.files import atomic_write_bytes, atomic_write_text

logger = logging.getLogger("electra_tf")

Results = Dict[str, Dict[str, float]]


def _row(outputs: Dict, row: int) -> Dict:
    return {k: v[row] for k, v in outputs.items()}


def hf_named_weights(model):
    """The fine-tuning model's (canonical HF-style name, variable) pairs: its checkpoint names."""
    return [(ref.name, ref.variable) for ref in model.hf_weights()]


class Evaluator:
    """Evaluates the tasks of one run: ``datasets`` (``data.SplitDatasets``) gives each split's
    pipeline, ``strategy`` runs the model (one evaluation engine per model, traced once), and
    only the chief (``is_chief``) writes files."""

    def __init__(self, config, tasks: List, datasets, strategy, is_chief: bool):
        self.config = config
        self.tasks = tasks
        self.datasets = datasets
        self.strategy = strategy
        self.is_chief = is_chief
        self._engine = None  # (model, engine)

    def engine(self, model):
        """The evaluation engine of ``model`` (built once per model: its tf.function is traced once)."""
        from electra_tf.training.engine import TrainingEngine

        if self._engine is None or self._engine[0] is not model:
            engine = TrainingEngine(self.strategy, model, per_example_loss=model.per_example_loss,
                                    named_weights=lambda: hf_named_weights(model))
            self._engine = (model, engine)
        return self._engine[1]

    def dataset(self, split: str, is_training: bool, tasks=None):
        """(pipeline, metadata) of ``split`` for ``tasks``."""
        return self.datasets.get(split, is_training, tasks=tasks)

    def predict(self, model, task, split: str):
        """Run ``model`` on ``split`` of ``task``; returns ([(outputs, features) per example], scorer)."""
        from electra_tf.training.progress import progress_bar, progress_enabled

        dataset, meta = self.dataset(split, False, [task])
        scorer = task.get_scorer(split, model.head_state(task.name))
        task_index = self.tasks.index(task)  # padding records carry len(self.tasks)
        # length_grouping: the batches come sorted by length; "order" gives each record's position
        # in the file, and the scorer sees the rows in file order, as with unsorted batches
        order = meta.get("order")
        found = []  # (position in the file, outputs, features, loss)
        bar = progress_bar(meta["n_examples"] // self.config.eval_batch_size, f"{task.name} {split}",
                           progress_enabled(self.config.progress), unit="batch")
        seen = 0
        for outputs, losses, features in self.engine(model).predict_batches(dataset):
            bar.update(1)
            task_ids = features["task_id"]
            for i in range(len(task_ids)):
                position = seen + i if order is None else int(order[seen + i])
                if task_ids[i] == task_index:
                    found.append((position, _row(outputs[task.name], i), {k: v[i] for k, v in features.items()},
                                  float(losses[i])))
            seen += len(task_ids)
        bar.close()
        if order is not None:
            found.sort(key=lambda row: row[0])
        rows = []
        for _, row_out, row_feat, loss in found:
            task.update_scorer(scorer, row_out, row_feat, loss)
            rows.append((row_out, row_feat))
        if len(rows) != meta["n_real"]:
            raise DataError(f"Evaluation of {task.name} {split} saw {len(rows)} of {meta['n_real']} examples.")
        return rows, scorer

    def evaluate(self, model, split: str, model_dir: Optional[str] = None, step: int = 0) -> Results:
        """Metrics of every task that has ``split`` (dev is required), prediction files written."""
        from electra_tf.training.progress import write_eval_summaries

        results = {}
        for task in self.tasks:
            if not task.has_split(split):
                if split == "dev":
                    raise DataError(f"Task {task.name}: no dev data in {task.raw_data_dir()}.")
                continue
            _, scorer = self.predict(model, task, split)
            results[task.name] = scorer.get_results()
            stand_in = task.test_file_as(split)
            label = f"{split} (the test file {os.path.basename(stand_in)}: no dev file)" if stand_in else split
            logger.info("%s %s: %s", task.name, label, scorer.results_str())
            self.write_task_predictions(task, split, scorer)
        if model_dir and self.is_chief:
            write_eval_summaries(os.path.join(model_dir, "tensorboard"), split, step, results)
        return results

    def write_task_predictions(self, task, split: str, scorer) -> None:
        """The task's own prediction files of ``split`` (tasks with a prediction folder; the chief only)."""
        if task.prediction_folder_suffix and self.is_chief:
            folder = os.path.join(os.path.dirname(self.config.results_txt),
                                  f"{self.config.run_str}_{task.prediction_folder_suffix}")
            path = os.path.join(folder, f"{task.name}_{split}_predictions.txt")
            task.write_predictions(split, scorer, path)
            logger.info("Wrote %s %s predictions to %s", task.name, split, folder)

    def write_test_outputs(self, model, trial: int) -> None:
        """Predictions of every task's test splits (non-chief workers take part, write nothing)."""
        for task in self.tasks:
            for split in task.test_splits():
                if not task.has_split(split):
                    continue
                rows, scorer = self.predict(model, task, split)
                if not self.is_chief:
                    continue
                if task.test_outputs == TEST_OUTPUTS_PREDICTION_FILES:
                    self.write_task_predictions(task, split, scorer)
                    continue
                rows = task.example_rows(rows)  # text_windows: one row per example, its windows aggregated
                eid_key = f"{task.name}_eid"
                predictions = {int(f[eid_key]): task.prediction_for_output(o) for o, f in rows}
                path = self.config.test_predictions_for(task.name, split, trial)
                atomic_write_bytes(path, pickle.dumps(predictions))
                labels = "".join(f"{int(f[eid_key])}\t{task.label_of(o)}\n" for o, f in rows)
                atomic_write_text(os.path.splitext(path)[0] + ".tsv", "index\tprediction\n" + labels)
                logger.info("Wrote %d %s %s predictions to %s", len(rows), task.name, split, path)
