"""Standalone QA evaluator printing the official scripts' JSON.

    python -m electra_tf.cli.evaluate {squad,squad2,mrqa,korquad,cmrc2018,drcd} DATA PREDICTIONS.json [--na-prob-file F]

DATA is the SQuAD-format JSON (or the MRQA .jsonl for ``mrqa``); PREDICTIONS maps question ids
to answer texts. Runs offline on Python 3.
"""

from __future__ import annotations

import argparse
import json

from electra_tf.cli.process_exit import as_command
from electra_tf.errors import DataError
from electra_tf.utils.files import invalid_utf8_message
from electra_tf.finetuning.qa import metrics as qa_metrics

METRICS = ("squad", "squad2", "mrqa", "korquad", "cmrc2018", "drcd")


def _load_json(path: str, what: str):
    try:
        with open(path, encoding="utf-8-sig") as f:  # a byte-order mark is ignored
            return json.load(f)
    except FileNotFoundError:
        raise DataError(f"{what} file not found: {path}") from None
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}).") from None
    except UnicodeDecodeError as e:
        raise DataError(invalid_utf8_message(path, e)) from None
    except IsADirectoryError:
        raise DataError(f"{what} file {path} is a folder; pass the JSON file in it.") from None
    except OSError as e:  # permissions, I/O errors
        raise DataError(f"Cannot read the {what.lower()} file {path}: {e.strerror or e}.") from None


def load_mrqa_answers(path: str):
    """{qid: [answer texts]} of an MRQA .jsonl file (its header line skipped)."""
    from electra_tf.utils.files import read_jsonl

    return {qa["qid"]: qa["answers"] for _, record in read_jsonl(path) if "header" not in record
            for qa in record.get("qas", [])}


def evaluate(metric: str, data_path: str, predictions_path: str, na_prob_file: str = None, na_prob_thresh: float = 1.0):
    predictions = _load_json(predictions_path, "Predictions")
    if not isinstance(predictions, dict):
        raise DataError(f"{predictions_path}: expected a JSON object mapping question ids to answers.")
    if metric == "mrqa":
        return qa_metrics.mrqa(load_mrqa_answers(data_path), predictions)
    data = _load_json(data_path, "Data")
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise DataError(f"{data_path}: expected SQuAD-format JSON with a top-level 'data' list.")
    dataset = data["data"]
    if metric == "squad":
        return qa_metrics.squad_v1(dataset, predictions)
    if metric == "squad2":
        na_probs = _load_json(na_prob_file, "No-answer probability") if na_prob_file else None
        return qa_metrics.squad_v2(dataset, predictions, na_probs, na_prob_thresh)
    if metric == "korquad":
        return qa_metrics.korquad_v1(dataset, predictions)
    result = qa_metrics.cmrc2018(dataset, predictions)
    # The official script prints its numbers as '%.3f' strings and names the prediction file.
    return {"AVERAGE": "%.3f" % result["AVERAGE"], "F1": "%.3f" % result["F1"], "EM": "%.3f" % result["EM"],
            "TOTAL": result["TOTAL"], "SKIP": result["SKIP"], "FILE": predictions_path}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("metric", choices=METRICS)
    parser.add_argument("data")
    parser.add_argument("predictions")
    parser.add_argument("--na-prob-file", default=None, help="squad2: JSON of no-answer probabilities (null odds)")
    parser.add_argument("--na-prob-thresh", type=float, default=1.0, help="squad2: predict no answer above this")
    args = parser.parse_args(argv)
    from electra_tf.cli.support import run_command

    return run_command(lambda: print(json.dumps(evaluate(args.metric, args.data, args.predictions, args.na_prob_file,
                                                         args.na_prob_thresh), ensure_ascii=False)))


#: The console command (pyproject.toml) and ``python -m``: main(), then exit_process.
command = as_command(main)

if __name__ == "__main__":
    command()
