"""The tf.data settings every input pipeline of ours shares (fine-tuning, evaluation, pre-training).

Autotuning is off, with fixed parallelism and prefetch instead. With it on, the root of every
pipeline runs an autotuning thread that sleeps between its optimization rounds, and destroying the
iterator waits for that sleep to end (seen in a native stack: ``RootDataset::Iterator::~Iterator`` in
``UnboundedThreadPool::LogicalThreadWrapper``'s destructor). The round grows to tens of seconds, so the
end of a training loop or an evaluation stalled for 0 to 58 s at random (measured on the bench's whole
fine-tuning run, #26). Our pipelines only parse and slice records, which two parallel calls and two
prefetched batches keep well ahead of the model; what they produce, and in which order, is unchanged.
"""

from __future__ import annotations

#: parallel calls of the parsing and trimming maps
PARALLEL_CALLS = 2
#: batches prepared ahead of the training or evaluation step
PREFETCH_BATCHES = 2


def pipeline_options(deterministic: bool = False):
    """``tf.data.Options`` for our pipelines: autotuning off (see the module docstring) and, for
    multi-worker runs, every worker reading the data and keeping its share of each global batch
    (``AutoShardPolicy.DATA``). ``deterministic``: also fix the order of parallel work."""
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    if deterministic:
        options.deterministic = True
    return options
