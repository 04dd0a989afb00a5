"""Extractive QA (``finetune/qa/qa_tasks.py`` and ``qa_metrics.py``): SQuAD 1.1/2.0, MRQA,
CMRC 2018, DRCD and KorQuAD 1.0.

``reader`` (SQuAD JSON / MRQA jsonl -> examples), ``preprocessor`` (examples -> windowed
features), ``decoding`` (model outputs -> answer texts), ``metrics`` (the official scripts),
``scorer``, ``task`` (QATask) and ``tasks`` (registrations).
"""
