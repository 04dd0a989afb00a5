"""Build the embedded default: a tiny ELECTRA checkpoint in the original TF1 layout and a small
SST-format sentiment task, under examples/data/ (committed; rerun only to regenerate).

    python examples/make_embedded_default.py

The model is randomly initialised (there is no pre-training here), so the quick start shows the
whole pipeline on a fresh machine in minutes; the data set is learnable from scratch.
"""

from __future__ import annotations

import os
import random
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

DATA = os.path.join(ROOT, "examples", "data")
MODEL = os.path.join(DATA, "models", "electra-tiny")
TASK = os.path.join(DATA, "finetuning_data", "sst")

POSITIVE = "good great excellent wonderful superb brilliant moving charming delightful enjoyable fun beautiful".split()
NEGATIVE = "bad awful terrible boring dull poor weak tedious clumsy bland messy painful".split()
NEUTRAL = ("the a this that movie film story plot acting cast script ending music scenes director was is "
           "and but with very quite rather its really overall felt seemed").split()
NEGATORS = ["not", "never"]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def sentence(rng: random.Random):
    """A review with sentiment words; 'not'/'never' before a sentiment word flips it."""
    words, score = [], 0
    for _ in range(rng.randint(2, 4)):
        words += rng.sample(NEUTRAL, rng.randint(1, 3))
        polarity = rng.choice([1, -1])
        word = rng.choice(POSITIVE if polarity > 0 else NEGATIVE)
        if rng.random() < 0.2:
            words.append(rng.choice(NEGATORS))
            polarity = -polarity
        words.append(word)
        score += polarity
    if score == 0:
        word = rng.choice(POSITIVE + NEGATIVE)
        words.append(word)
        score = 1 if word in POSITIVE else -1
    return " ".join(words) + rng.choice([" .", " !", ""]), int(score > 0)


def write_task(rng: random.Random) -> None:
    os.makedirs(TASK, exist_ok=True)
    for split, n in (("train", 1000), ("dev", 300), ("test", 200)):
        with open(os.path.join(TASK, f"{split}.tsv"), "w", encoding="utf-8") as f:
            if split == "test":  # GLUE SST-2 test layout: index, sentence
                f.write("index\tsentence\n")
                for i in range(n):
                    f.write(f"{i}\t{sentence(rng)[0]}\n")
            else:
                f.write("sentence\tlabel\n")
                for _ in range(n):
                    text, label = sentence(rng)
                    f.write(f"{text}\t{label}\n")


def write_model() -> None:
    import keras

    from electra_tf import ElectraConfig, TFElectraForPreTraining

    vocab = SPECIALS + sorted(set(POSITIVE + NEGATIVE + NEUTRAL + NEGATORS + [".", "!"])) + [f"[unused{i}]" for i in range(20)]
    os.makedirs(MODEL, exist_ok=True)
    with open(os.path.join(MODEL, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    keras.utils.set_random_seed(0)
    config = ElectraConfig(vocab_size=len(vocab), embedding_size=32, hidden_size=64, num_hidden_layers=2,
                           num_attention_heads=2, intermediate_size=128, max_position_embeddings=128)
    model = TFElectraForPreTraining(config)
    model.save_pretrained(MODEL, format="tf1", vocab_file=os.path.join(MODEL, "vocab.txt"))


if __name__ == "__main__":
    write_task(random.Random(20201))
    write_model()
    print(f"Wrote {MODEL} and {TASK}")
