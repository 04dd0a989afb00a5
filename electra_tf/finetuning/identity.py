"""Which fine-tuning settings determine the trained model (see training/run_identity.py).

Everything in the hparams counts, except the settings listed in NOT_TRAINING, which change what
is evaluated, written or shown but not the weights; changing those reuses a trained run. The
evaluation schedule counts only when it selects the kept model (best_metric, early stopping).
"""

from __future__ import annotations

from typing import Any, Dict

NOT_TRAINING = frozenset({
    # what is evaluated and written
    "do_train", "do_eval", "do_test", "num_trials", "keep_all_models", "log_examples", "write_test_outputs",
    "n_writes_test", "eval_batch_size", "predict_batch_size", "n_best_size", "max_answer_length", "qa_na_threshold",
    "export_saved_model",
    # how the run is executed (the same updates either way)
    "use_tfrecords_if_existing", "iterations_per_loop", "keep_checkpoint_max", "save_checkpoints_steps",
    "save_checkpoints_secs", "resume", "overwrite_model_dir", "progress", "log_every_steps", "distribution_strategy",
    "cluster_resolver", "cluster_timeout_secs",
    "jit_compile", "use_tpu", "num_tpu_cores", "tpu_job_name", "tpu_name", "tpu_zone", "gcp_project",
    # locations (the inputs themselves are recorded by content)
    "model_name", "data_dir", "raw_data_dir", "vocab_file", "init_checkpoint", "model_dir", "results_txt",
    "results_pkl", "qa_eval_file", "qa_preds_file", "qa_na_file", "preprocessed_data_dir", "test_predictions",
    "tfds_data_dir", "run_name",
})
_SELECTION = ("eval_every_steps", "eval_each_epoch", "best_metric", "early_stopping_patience")


def training_settings(config, model_config, train_data_key: str, init_digest, trial: int) -> Dict[str, Any]:
    """The settings recorded in (and compared with) a trial folder's run identity."""
    settings = {name: value for name, value in config.to_dict().items() if name not in NOT_TRAINING}
    if not config.best_metric:
        for name in _SELECTION:
            settings.pop(name, None)
    settings["model_config"] = model_config.to_dict()
    settings["train_data_and_vocabulary"] = train_data_key
    settings["init_checkpoint_contents"] = init_digest
    settings["trial"] = trial
    return settings
