"""What the training package needs from a run's hparams, as small typed values.

The runners (fine-tuning, pre-training) build these from their configs; ``training/`` never
receives a whole config. ``DistributionSettings``: where and how to distribute (the strategy,
the original's TPU hparams, the cluster resolver and its timeout).
"""

from __future__ import annotations

import dataclasses
from typing import Optional


@dataclasses.dataclass(frozen=True)
class DistributionSettings:
    """The hparams that choose the tf.distribute strategy (see ``distribute.py`` and ``cluster.py``)."""

    distribution_strategy: str = "one_device"
    use_tpu: bool = False
    tpu_name: Optional[str] = None
    tpu_zone: Optional[str] = None
    gcp_project: Optional[str] = None
    cluster_resolver: str = "tf_config"
    cluster_timeout_secs: float = 0.0

    @classmethod
    def from_hparams(cls, hparams) -> "DistributionSettings":
        """The settings named like this class's fields, read from a run's hparams (fine-tuning or
        pre-training config); a field the hparams lack keeps its default."""
        return cls(**{f.name: getattr(hparams, f.name) for f in dataclasses.fields(cls) if hasattr(hparams, f.name)})
