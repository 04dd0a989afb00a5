"""The model card (``README.md``) and plots of a fine-tuning run's model directories.

Everything on the card comes from files the run wrote: ``results/<run>_config.json`` (the
resolved hparams), ``results/<run>_results.json`` (metrics per trial), the trial folder's
``run_identity.json`` (seed, digests of the training data, vocabulary and initial checkpoint),
``data_files.json`` (the data files and their digests, written with the card) and
``tensorboard/`` (the curves), plus each model directory's ``task.json``. What is missing is
named on the card instead of being guessed. No TensorFlow is imported: ``electra-report``
regenerates the same text from the same files.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from typing import Any, Dict, List

from electra_tf.errors import ElectraError
from electra_tf.model_dir.layout import METADATA_FILE, task_model_dir
from electra_tf.utils.files import atomic_write_bytes, atomic_write_json, read_json_or_none

CARD_FILE = "README.md"
PLOTS_DIR = "plots"
DATA_FILES = "data_files.json"
#: the card's first line: a README.md without it is the user's and is never replaced
MARKER = "<!-- model card written by electra-tf (electra-report regenerates it) -->"
_TRIAL_DIR = re.compile(r"^(?P<run>.+)_model_(?P<trial>\d+)$")


# ------------------------------------------------------------------------ the run's files
class UserReadme(ElectraError):
    """A model directory holds a README.md that is not an electra-tf card (the user's own)."""


class RunFiles:
    """Where a trial folder's run keeps what the card reads."""

    def __init__(self, trial_dir: str):
        self.trial_dir = os.path.abspath(trial_dir)
        match = _TRIAL_DIR.match(os.path.basename(self.trial_dir))
        if not match:
            from electra_tf.errors import ConfigError

            raise ConfigError(f"{trial_dir} is not a fine-tuning run's trial folder "
                              f"(finetuning_models/<tasks>_model_<trial>); give the trial folder or a model directory in it.")
        self.run, self.trial = match.group("run"), int(match.group("trial"))
        pretrained = os.path.dirname(os.path.dirname(self.trial_dir))
        self.results_json = os.path.join(pretrained, "results", self.run + "_results.json")
        self.config_json = os.path.join(pretrained, "results", self.run + "_config.json")
        self.identity_json = os.path.join(self.trial_dir, "run_identity.json")
        self.data_files_json = os.path.join(self.trial_dir, DATA_FILES)
        self.tensorboard = os.path.join(self.trial_dir, "tensorboard")


def find_trial_dir(path: str) -> str:
    """The trial folder of ``path``: the trial folder itself, its ``model/`` or a ``model/<task>/``."""
    path = os.path.abspath(path)
    for candidate in (path, os.path.dirname(path), os.path.dirname(os.path.dirname(path))):
        if _TRIAL_DIR.match(os.path.basename(candidate)) and os.path.isdir(candidate):
            return candidate
    from electra_tf.errors import ConfigError

    raise ConfigError(f"{path} is neither a fine-tuning run's trial folder (finetuning_models/<tasks>_model_<trial>) "
                      f"nor a model directory inside one; give one of those, or --data-dir, --model-name and --tasks.")


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def non_default_hparams(resolved: Dict[str, Any]) -> Dict[str, Any]:
    """The hparams of ``resolved`` (a run's config file) that a command must give to get them:
    those differing from what FinetuningConfig derives for the same model, data and tasks, without
    the ones that follow from the others (e.g. embedding_size from model_size)."""
    from electra_tf.errors import ElectraError
    from electra_tf.finetuning.hparams import FinetuningConfig

    base = {"task_names": resolved["task_names"]}
    if resolved.get("run_name"):
        base["run_name"] = resolved["run_name"]
    names = [n for n in FinetuningConfig.hparam_names() if n in resolved and n not in ("data_dir", "model_name")]

    def derived(given):
        try:
            return FinetuningConfig(resolved["model_name"], resolved["data_dir"], **base, **given).to_dict()
        except ElectraError:
            return None

    default = derived({}) or {}
    given = {n: resolved[n] for n in names if n not in base and _canon(resolved[n]) != _canon(default.get(n))}
    for name in sorted(given):
        rest = {k: v for k, v in given.items() if k != name}
        values = derived(rest)
        if values is not None and _canon(values.get(name)) == _canon(resolved[name]):
            given = rest
    return {**base, **given}


def reproduce_command(resolved: Dict[str, Any], hparams: Dict[str, Any]) -> str:
    """The original-style command line that runs this configuration."""
    return (f"python run_finetuning.py --data-dir {shlex.quote(str(resolved['data_dir']))} "
            f"--model-name {shlex.quote(str(resolved['model_name']))} "
            f"--hparams {shlex.quote(json.dumps(hparams, sort_keys=True))}")


# ------------------------------------------------------------------------ the card
def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def _metrics_table(rows: List[tuple]) -> List[str]:
    """A Markdown table of (label, {metric: value}) rows plus mean and sd (population, as results.json)."""
    import numpy as np

    names = sorted({m for _, metrics in rows for m in metrics})
    lines = ["| trial | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for label, metrics in rows:
        lines.append(f"| {label} | " + " | ".join(_number(metrics.get(m, "")) for m in names) + " |")
    if len(rows) > 1:
        for what, fn in (("mean", np.mean), ("sd", np.std)):
            cells = []
            for m in names:
                values = [float(metrics[m]) for _, metrics in rows if isinstance(metrics.get(m), (int, float))]
                cells.append(_number(float(fn(values))) if values else "")
            lines.append(f"| **{what}** | " + " | ".join(cells) + " |")
    return lines


def card_text(files: RunFiles, task: str, plots: Dict[str, str], notes: List[str]) -> str:
    """The Markdown card of ``task``'s model directory in the trial folder of ``files``.
    ``plots``: {caption: path relative to the model directory}; ``notes``: why a plot is missing."""
    from electra_tf.model_dir.metadata import TaskMetadata

    resolved = read_json_or_none(files.config_json)
    results = read_json_or_none(files.results_json)
    identity = read_json_or_none(files.identity_json)
    data_files = read_json_or_none(files.data_files_json)
    tasks = resolved.get("task_names") if isinstance(resolved, dict) else None
    target = task_model_dir(files.trial_dir, task, len(tasks) if tasks else 1)
    try:
        meta = TaskMetadata.read(target)
    except Exception as e:  # noqa: BLE001  (a damaged task.json is named on the card, not a crash)
        meta, meta_error = None, str(e)
    else:
        meta_error = None if meta else f"{os.path.join(target, METADATA_FILE)} is missing"

    out = [MARKER, f"# {task}: ELECTRA fine-tuned with electra-tf", "",
           f"Trial {files.trial} of the fine-tuning run `{files.run}` (`{files.trial_dir}`). This card is written from "
           f"the run's own files; `electra-report {shlex.quote(files.trial_dir)}` writes it again from them.", ""]

    out += ["## Task", ""]
    if meta is not None:
        out += [f"- task `{meta.task_name}`, family `{meta.family}`, model type `{meta.model_type}`, "
                f"max_seq_length {meta.max_seq_length}"]
        if meta.labels:
            shown = ", ".join(f"`{label}`" for label in meta.labels[:50])
            out.append(f"- labels by id ({len(meta.labels)}): {shown}" + (" ..." if len(meta.labels) > 50 else ""))
        for name, value in sorted(meta.settings.items()):
            out.append(f"- {meta.family} setting `{name}`: `{_canon(value)}`")
        if meta.trained:
            out.append("- trained: " + ", ".join(f"{k} `{v}`" for k, v in sorted(meta.trained.items())))
    else:
        out.append(f"- no task metadata: {meta_error}.")
    if tasks and len(tasks) > 1:
        out.append(f"- multi-task run: one encoder trained on {', '.join(f'`{t}`' for t in tasks)}; this directory "
                   f"holds the encoder with the head of `{task}`.")
    out.append("")

    out += ["## Data", ""]
    task_files = (data_files or {}).get("tasks", {}).get(task) if isinstance(data_files, dict) else None
    if task_files:
        out += ["| split | file | content digest |", "|---|---|---|"]
        for split, entries in task_files.items():
            for entry in entries:
                out.append(f"| {split} | `{entry['file']}` | `{entry['digest']}` |")
        out += ["", "Digests: sha256 of the file (of its size and first and last MiB above 4 MiB), first 24 hex "
                "digits, as in run_identity.json."]
    else:
        out.append(f"- the data files were not recorded ({files.data_files_json} is missing).")
    if isinstance(identity, dict):
        key = identity.get("settings", {}).get("train_data_and_vocabulary")
        if key:
            out.append(f"- training data and vocabulary as featurized (the feature cache key in run_identity.json): `{key}`")
    out.append("")

    out += ["## Tokenizer and initial checkpoint", ""]
    if isinstance(resolved, dict):
        out.append(f"- vocabulary file read by the run: `{resolved.get('vocab_file')}`")
    if meta is not None:
        out.append("- tokenizer in this directory: " + ", ".join(f"{k} `{_canon(v)}`" for k, v in sorted(meta.tokenizer.items())))
    if isinstance(resolved, dict):
        init = resolved.get("init_checkpoint")
        digest = identity.get("settings", {}).get("init_checkpoint_contents") if isinstance(identity, dict) else None
        out.append(f"- initial checkpoint: `{init}`" + (f" (contents digest `{digest}`)" if digest else "")
                   if init and not resolved.get("debug") else "- initial checkpoint: none (random initialisation)")
    if isinstance(identity, dict) and "seed" in identity:
        out.append(f"- seed of this trial: {identity['seed']}")
    out.append("")

    hparams = None
    out += ["## Hyperparameters that differ from the defaults", ""]
    if isinstance(resolved, dict):
        hparams = non_default_hparams(resolved)
        out += ["| hparam | value |", "|---|---|"]
        out += [f"| `{name}` | `{_canon(value)}` |" for name, value in hparams.items()]
        model_config = resolved.get("model_config")
        if isinstance(model_config, dict):
            sizes = ", ".join(f"{k} {model_config[k]}" for k in ("hidden_size", "num_hidden_layers",
                                                                 "num_attention_heads", "vocab_size") if k in model_config)
            out += ["", f"Encoder: {sizes}."]
    else:
        out.append(f"- not known: {files.config_json} is missing or unreadable.")
    out.append("")

    out += ["## Results", ""]
    trials = results.get("trials") if isinstance(results, dict) else None
    if isinstance(trials, list) and trials:
        for key, split in (("results", "dev"), ("eval_results", "test (eval split)")):
            rows = [(str(t.get("trial")) + (" (this model)" if t.get("trial") == files.trial else ""),
                     t[key][task]) for t in trials if isinstance(t.get(key), dict) and task in t[key]]
            if rows:
                out += [f"{split.capitalize()} metrics per trial (from `{files.results_json}`):", ""]
                out += _metrics_table(rows) + [""]
                test_set = [t for t in trials if t.get("evaluated", {}).get("dev", {}).get(task, {}).get("test_set")]
                if key == "results" and test_set:
                    out += ["The \"dev\" figures were scored on the data set's test file (it has no dev file).", ""]
    else:
        out += [f"- no results: {files.results_json} is missing, unreadable or holds no trial.", ""]

    out += ["## Training curves", ""]
    for caption, rel in plots.items():
        out += [f"![{caption}]({rel})", ""]
    for note in notes:
        out += [f"- {note}"]
    if notes:
        out.append("")

    out += ["## Reproduce", ""]
    if isinstance(resolved, dict) and hparams is not None:
        out += ["```bash", reproduce_command(resolved, hparams), "```", "",
                "Run where the run ran (same data directory): with the same files it finds this run finished and "
                "writes nothing; other data or settings train a new model (or stop, naming the differences).", ""]
    else:
        out += ["- not known without the run's config file.", ""]

    out += ["## Use", "", "```bash",
            f"electra-predict --model {shlex.quote(target)} --input input.txt --output predictions.jsonl", "```", "",
            "```python", "import electra_tf as et", "",
            f"model = et.ElectraPreTrainedModel.from_pretrained({target!r})  # model.task_metadata: task.json",
            "```", ""]
    return "\n".join(out)


# ------------------------------------------------------------------------ writing
def _write_if_changed(path: str, data: bytes) -> bool:
    """Write ``data`` atomically unless ``path`` already holds exactly it; True when written."""
    try:
        with open(path, "rb") as f:
            if f.read() == data:
                return False
    except OSError:
        pass
    atomic_write_bytes(path, data)
    return True


def record_data_files(trial_dir: str, files: Dict[str, Dict[str, List[str]]]) -> None:
    """``<trial>/data_files.json``: {task: {split: [file, digest]}} of the files the run read."""
    from electra_tf.training.run_identity import path_digest

    record = {"tasks": {task: {split: [{"file": os.path.abspath(p), "digest": path_digest(p)} for p in paths]
                               for split, paths in splits.items()} for task, splits in files.items()}}
    path = os.path.join(trial_dir, DATA_FILES)
    if read_json_or_none(path) != record:
        atomic_write_json(path, record)


def write_report(trial_dir: str, draw: bool = True) -> List[str]:
    """Write the card and plots of every model directory in ``trial_dir`` (unchanged files are not
    touched); returns the paths written. Without matplotlib the card says the plots are missing."""
    from electra_tf.finetuning import plots as plotting

    files = RunFiles(trial_dir)
    resolved = read_json_or_none(files.config_json)
    tasks = resolved.get("task_names") if isinstance(resolved, dict) else None
    if not tasks:
        tasks = _tasks_from_folder(files.trial_dir)
    written: List[str] = []
    train = plotting.read_scalars(os.path.join(files.tensorboard, "train"))
    dev = plotting.read_scalars(os.path.join(files.tensorboard, "dev"))
    for task in tasks:
        target = task_model_dir(files.trial_dir, task, len(tasks))
        if not os.path.isdir(target):
            continue
        plots: Dict[str, str] = {}
        notes: List[str] = []
        wanted = [("training loss and learning rate", "training.png", train, "train"),
                  (f"{task} dev metrics over evaluations", f"dev_{task}.png",
                   {tag.split("/", 1)[1]: v for tag, v in dev.items()
                    if tag.startswith(task + "/") and tag.split("/", 1)[1] != "loss"}, "dev")]
        for caption, name, scalars, folder in wanted:
            source = os.path.join(files.tensorboard, folder)
            if not scalars:
                notes.append(f"no {caption} plot: {source} holds no such TensorBoard events"
                             + ("" if os.path.isdir(source) else " (the folder is missing)") + ".")
                continue
            if not draw:
                notes.append(f"no {caption} plot: plots were not drawn.")
                continue
            path = os.path.join(target, PLOTS_DIR, name)
            try:
                import tempfile

                with tempfile.TemporaryDirectory() as tmp:
                    draw_to = os.path.join(tmp, name)
                    drawn = (plotting.plot_training(scalars, draw_to, title=files.run) if folder == "train" else
                             plotting.plot_dev_metrics(scalars, draw_to, title=f"{task} (dev)"))
                    if drawn:
                        with open(draw_to, "rb") as f:
                            if _write_if_changed(path, f.read()):
                                written.append(path)
            except plotting.PlottingUnavailable as e:
                notes.append(f"no {caption} plot: {e}; then run electra-report {shlex.quote(files.trial_dir)}.")
                continue
            plots[caption] = f"{PLOTS_DIR}/{name}"
        card = os.path.join(target, CARD_FILE)
        if _is_user_file(card):
            raise UserReadme(f"{card} is not a model card written by electra-tf (its first line is not {MARKER}); "
                             f"it was left as it is. Move or rename it, then run electra-report "
                             f"{shlex.quote(files.trial_dir)} to write the card.")
        if _write_if_changed(card, card_text(files, task, plots, notes).encode("utf-8")):
            written.append(card)
    return written


def _is_user_file(path: str) -> bool:
    """Whether ``path`` exists and is not a card of ours (a link, or a file without MARKER)."""
    if os.path.islink(path):
        return True
    try:
        with open(path, "rb") as f:
            return f.readline().rstrip(b"\r\n") != MARKER.encode()
    except FileNotFoundError:
        return False
    except OSError:
        return True


def _tasks_from_folder(trial_dir: str) -> List[str]:
    """The tasks whose model directories a trial folder holds (when the run's config file is gone)."""
    from electra_tf.model_dir.layout import MODEL_SUBDIR, has_metadata

    model = os.path.join(trial_dir, MODEL_SUBDIR)
    if has_metadata(model):
        from electra_tf.model_dir.metadata import TaskMetadata

        try:
            return [TaskMetadata.read(model).task_name]
        except Exception:  # noqa: BLE001  (a damaged task.json: no card to write)
            return []
    return sorted(d for d in os.listdir(model) if has_metadata(os.path.join(model, d))) if os.path.isdir(model) else []
