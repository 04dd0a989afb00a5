"""Sentence-level tasks: single-label classification, regression and multi-label classification.

``spec`` (what distinguishes one task from another), ``reader`` (TSV/CSV and tensorflow-datasets
readers), ``preprocessor`` (examples -> features), ``scorers``, ``task`` (SentenceTask) and
``tasks`` (the registered GLUE / HFL / KoELECTRA tasks and the generic task_config types).
"""
