"""Pre-training data: build_vocab.py and build_pretraining_dataset.py against the original algorithm.

The original builder is transcribed below (test only, from google-research/electra
``build_pretraining_dataset.py`` at 8a46635, with its tokenizer written out from
``model/tokenization.py`` on the reference helpers); our builder must write the same files
with the same records, byte for byte.
"""

import argparse
import importlib
import io
import os
import random
import subprocess
import sys
import unicodedata

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from electra_tf.pretraining import vocab as vocab_lib
from electra_tf.pretraining.dataset import (BuildOptions, Progress, assemble_examples, build_pretraining_dataset,
                                            output_file_name)
from electra_tf.pretraining.packing import ExampleBuilder
from electra_tf.pretraining.records import ExampleSerializer, packed_varints
from electra_tf.pretraining.tokenization import (LowercasingFullTokenizer, ReferenceLowercasingTokenizer,
                                                 pretraining_tokenizer)
from electra_tf.text import reference_tokenizer as ref
from electra_tf.text.tokenizer import FullTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The project's own excerpt of tinyshakespeare: tests never read anything outside the checkout.
SHAKESPEARE = os.path.join(ROOT, "examples", "pretraining_corpus", "shakespeare.txt")


# ----------------------------------------------------------------------------------------------
# The original, transcribed (test only).

class OriginalFullTokenizer(object):
    """model/tokenization.py FullTokenizer(vocab_file, do_lower_case, strip_accents)."""

    def __init__(self, vocab_file, do_lower_case=True, strip_accents=True):
        self.vocab = ref.load_vocab(vocab_file)
        self.do_lower_case = do_lower_case
        self.strip_accents = strip_accents

    def tokenize(self, text):
        text = ref.pad_cjk(ref.clean_text(text))
        split_tokens = []
        for token in text.strip().split():
            if self.do_lower_case:
                token = token.lower()
                if self.strip_accents:
                    token = ref.remove_accents(token)
            split_tokens.extend(ref.split_punctuation(token))
        output = []
        for token in " ".join(split_tokens).strip().split():
            output.extend(ref.wordpiece(token, self.vocab))
        return output

    def convert_tokens_to_ids(self, tokens):
        return [self.vocab[t] for t in tokens]


def create_int_feature(values):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))


class OriginalExampleBuilder(object):
    """Given a stream of input text, creates pretraining examples."""

    def __init__(self, tokenizer, max_length):
        self._tokenizer = tokenizer
        self._current_sentences = []
        self._current_length = 0
        self._max_length = max_length
        self._target_length = max_length

    def add_line(self, line):
        line = line.strip().replace("\n", " ")
        if (not line) and self._current_length != 0:  # empty lines separate docs
            return self._create_example()
        bert_tokens = self._tokenizer.tokenize(line)
        bert_tokids = self._tokenizer.convert_tokens_to_ids(bert_tokens)
        self._current_sentences.append(bert_tokids)
        self._current_length += len(bert_tokids)
        if self._current_length >= self._target_length:
            return self._create_example()
        return None

    def _create_example(self):
        if random.random() < 0.1:
            first_segment_target_length = 100000
        else:
            first_segment_target_length = (self._target_length - 3) // 2
        first_segment = []
        second_segment = []
        for sentence in self._current_sentences:
            if (len(first_segment) == 0 or
                    len(first_segment) + len(sentence) < first_segment_target_length or
                    (len(second_segment) == 0 and
                     len(first_segment) < first_segment_target_length and
                     random.random() < 0.5)):
                first_segment += sentence
            else:
                second_segment += sentence
        first_segment = first_segment[:self._max_length - 2]
        second_segment = second_segment[:max(0, self._max_length - len(first_segment) - 3)]
        self._current_sentences = []
        self._current_length = 0
        if random.random() < 0.05:
            self._target_length = random.randint(5, self._max_length)
        else:
            self._target_length = self._max_length
        return self._make_tf_example(first_segment, second_segment)

    def _make_tf_example(self, first_segment, second_segment):
        vocab = self._tokenizer.vocab
        input_ids = [vocab["[CLS]"]] + first_segment + [vocab["[SEP]"]]
        segment_ids = [0] * len(input_ids)
        if second_segment:
            input_ids += second_segment + [vocab["[SEP]"]]
            segment_ids += [1] * (len(second_segment) + 1)
        input_mask = [1] * len(input_ids)
        input_ids += [0] * (self._max_length - len(input_ids))
        input_mask += [0] * (self._max_length - len(input_mask))
        segment_ids += [0] * (self._max_length - len(segment_ids))
        return tf.train.Example(features=tf.train.Features(feature={
            "input_ids": create_int_feature(input_ids),
            "input_mask": create_int_feature(input_mask),
            "segment_ids": create_int_feature(segment_ids)
        }))


class OriginalExampleWriter(object):
    """Writes pre-training examples to disk (the tokenizer is passed in, already built)."""

    def __init__(self, job_id, tokenizer, output_dir, max_seq_length, num_jobs, blanks_separate_docs,
                 num_out_files=1000):
        self._blanks_separate_docs = blanks_separate_docs
        self._example_builder = OriginalExampleBuilder(tokenizer, max_seq_length)
        self._writers = []
        for i in range(num_out_files):
            if i % num_jobs == job_id:
                output_fname = os.path.join(output_dir, "pretrain_data.tfrecord-{:}-of-{:}".format(i, num_out_files))
                self._writers.append(tf.io.TFRecordWriter(output_fname))
        self.n_written = 0

    def _write(self, example):
        # deterministic=True: the canonical bytes (map entries in key order); the original's plain
        # SerializeToString() orders them by a per-process hash (see electra_tf/pretraining/records.py).
        self._writers[self.n_written % len(self._writers)].write(example.SerializeToString(deterministic=True))
        self.n_written += 1

    def write_examples(self, input_file):
        with tf.io.gfile.GFile(input_file) as f:
            for line in f:
                line = line.strip()
                if line or self._blanks_separate_docs:
                    example = self._example_builder.add_line(line)
                    if example:
                        self._write(example)
            example = self._example_builder.add_line("")
            if example:
                self._write(example)

    def finish(self):
        for writer in self._writers:
            writer.close()


def original_write_examples(job_id, args, tokenizer):
    random.seed(args.seed + job_id)  # our documented seeding; the original's jobs were unseeded
    example_writer = OriginalExampleWriter(job_id, tokenizer, args.output_dir, args.max_seq_length,
                                           args.num_processes, args.blanks_separate_docs, args.num_out_files)
    fnames = sorted(tf.io.gfile.listdir(args.corpus_dir))
    fnames = [f for (i, f) in enumerate(fnames) if i % args.num_processes == job_id]
    random.shuffle(fnames)
    for fname in fnames:
        example_writer.write_examples(os.path.join(args.corpus_dir, fname))
    example_writer.finish()


# ----------------------------------------------------------------------------------------------
# Corpus and vocabulary.

def corpus_lines(n=640):
    """The first ``n`` lines of the shipped tinyshakespeare excerpt (examples/pretraining_corpus)."""
    with open(SHAKESPEARE, encoding="utf-8") as f:
        lines = [next(f).rstrip("\n") for _ in range(n)]
    assert len(lines) == n
    return lines


NON_ASCII = ["Café déjà vu: naïve façade, Ångström, İstanbul.", "ΟΔΥΣΣΕΥΣ σοφός ΣΟΦΟΣ.", "中文测试：北京是中国的首都。",
             "Straße ﬁne ½ ÉCOLE", "emoji 😀 and ∑ √2", "ไทย tiếng Việt हिन्दी"]


def write_corpus(folder, lines):
    """Files that cover the cases: several documents, CRLF without a final newline, blank and
    whitespace-only runs, lines longer than an example, lines with no tokens, non-ASCII text,
    a one-line file and an empty file."""
    os.makedirs(folder, exist_ok=True)
    a, b, c = lines[:200], lines[200:420], lines[420:]
    with open(os.path.join(folder, "a.txt"), "w", encoding="utf-8", newline="") as f:
        f.write("\n".join(a) + "\n")
    with open(os.path.join(folder, "b.txt"), "w", encoding="utf-8", newline="") as f:
        f.write("\r\n".join(b))
    long_line = " ".join(l for l in lines[:40] if l)
    extra = ["", "", "   ", "\t", long_line, "\x01\x02", long_line + " " + long_line, "", "\x1c", "x\ry", "last words"]
    with open(os.path.join(folder, "c.txt"), "w", encoding="utf-8", newline="") as f:
        f.write("\n".join(c[:100] + extra + c[100:]) + "\n" + "one more line without newline")
    with open(os.path.join(folder, "d.txt"), "w", encoding="utf-8", newline="") as f:
        f.write("\n".join(NON_ASCII + [""] + NON_ASCII[::-1] + ["x" * 250, "", "", ""]) + "\n")
    with open(os.path.join(folder, "e.txt"), "w", encoding="utf-8") as f:
        f.write("A single line.\n")
    open(os.path.join(folder, "f.txt"), "w").close()
    return folder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(str(tmp_path_factory.mktemp("corpus")), corpus_lines())


@pytest.fixture(scope="module")
def vocab_file(corpus, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("vocab") / "vocab.txt")
    vocab_lib.train_wordpiece(corpus, path, vocab_size=700)
    return path


def read_outputs(folder):
    """The record files of an output folder (ours also holds a manifest and a hidden lock file)."""
    return {name: open(os.path.join(folder, name), "rb").read() for name in sorted(os.listdir(folder))
            if name.startswith("pretrain_data.tfrecord")}


def parse_records(data_by_file, max_length):
    spec = {k: tf.io.FixedLenFeature([max_length], tf.int64) for k in ("input_ids", "input_mask", "segment_ids")}
    out = []
    for data in data_by_file.values():
        if not data:
            continue
        path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"records-{os.getpid()}")
        with open(path, "wb") as f:
            f.write(data)
        for record in tf.data.TFRecordDataset(path):
            out.append({k: v.numpy() for k, v in tf.io.parse_single_example(record, spec).items()})
        os.remove(path)
    return out


def run_both(tmp_path, corpus, vocab, max_length=128, num_processes=1, blanks=True, lower=True, strip=True,
             num_out_files=3, seed=7, original_tokenizer=None):
    ours, theirs = str(tmp_path / "ours"), str(tmp_path / "original")
    os.makedirs(theirs)
    options = BuildOptions(max_seq_length=max_length, blanks_separate_docs=blanks, do_lower_case=lower,
                           strip_accents=strip, num_out_files=num_out_files, seed=seed)
    stats = build_pretraining_dataset(corpus, vocab, ours, num_processes, options, Progress(io.StringIO()))
    args = argparse.Namespace(corpus_dir=corpus, output_dir=theirs, max_seq_length=max_length,
                              num_processes=num_processes, blanks_separate_docs=blanks, num_out_files=num_out_files,
                              seed=seed)
    tokenizer = original_tokenizer or OriginalFullTokenizer(vocab, lower, strip)
    for job_id in range(num_processes):
        original_write_examples(job_id, args, tokenizer)
    return read_outputs(ours), read_outputs(theirs), stats


# ----------------------------------------------------------------------------------------------
# The dataset builder equals the original.

@pytest.mark.parametrize("max_length,blanks,lower,strip", [
    (128, True, True, True),
    (32, False, True, True),
    (48, True, True, False),
    (128, True, False, True),
])
def test_builder_writes_the_originals_records(tmp_path, corpus, vocab_file, max_length, blanks, lower, strip):
    ours, theirs, stats = run_both(tmp_path, corpus, vocab_file, max_length, blanks=blanks, lower=lower, strip=strip)
    assert list(ours) == [output_file_name(i, 3) for i in range(3)] == list(theirs)
    for name in ours:
        assert ours[name] == theirs[name], name
    records = parse_records(theirs, max_length)
    assert stats.examples == len(records) > 50
    n_real = np.array([r["input_mask"].sum() for r in records])
    two_segments = np.array([r["segment_ids"].any() for r in records])
    assert two_segments.sum() > 10 and (~two_segments).sum() > 10  # both kinds of examples
    assert (n_real == max_length).any() and (n_real < max_length // 2).any()  # full (truncated) and short partial ones
    for r, n in zip(records, n_real):
        assert (r["input_ids"][n:] == 0).all() and r["input_mask"][:n].all()
    if not lower:
        unk = ref.load_vocab(vocab_file)["[UNK]"]
        assert any((r["input_ids"] == unk).any() for r in records)  # capitals are not in the lower-cased vocab


def test_two_processes_write_the_originals_shards(tmp_path, corpus, vocab_file):
    ours, theirs, stats = run_both(tmp_path, corpus, vocab_file, max_length=64, num_processes=2, num_out_files=5)
    assert list(ours) == list(theirs) == sorted(output_file_name(i, 5) for i in range(5))
    assert ours == theirs
    assert stats.files == stats.files_done == 6 and stats.examples == len(parse_records(theirs, 64))


def test_default_num_out_files_and_empty_shards(tmp_path, corpus, vocab_file):
    out = str(tmp_path / "out")
    os.makedirs(out)
    open(os.path.join(out, "pretrain_data.tfrecord-5-of-7"), "w").close()  # from an earlier run: removed
    open(os.path.join(out, "notes.txt"), "w").close()  # anything else stays
    build_pretraining_dataset(corpus, vocab_file, out, options=BuildOptions(max_seq_length=128),
                              progress=Progress(io.StringIO()))
    names = set(os.listdir(out))
    assert names == {output_file_name(i, 1000) for i in range(1000)} | {"notes.txt", "pretrain_data.manifest.json",
                                                                         ".pretrain_data.lock"}
    assert "pretrain_data.tfrecord-999-of-1000" in names
    assert os.path.getsize(os.path.join(out, output_file_name(999, 1000))) == 0  # fewer examples than files


def test_same_seed_same_output_other_seed_other_output(tmp_path, corpus, vocab_file):
    def build(name, seed):
        out = str(tmp_path / name)
        build_pretraining_dataset(corpus, vocab_file, out, options=BuildOptions(num_out_files=2, seed=seed),
                                  progress=Progress(io.StringIO()))
        return read_outputs(out)
    assert build("a", 1) == build("b", 1) != build("c", 2)


class StubTokenizer:
    """Lines of integers are their own token ids (for the packing rule on chosen lengths)."""
    vocab = {"[CLS]": 101, "[SEP]": 102}

    def tokenize(self, line):
        return line.split()

    def convert_tokens_to_ids(self, tokens):
        return [int(t) for t in tokens]


@pytest.mark.parametrize("max_length", [5, 16, 128])
def test_packing_equals_the_original_on_chosen_lengths(max_length):
    """Our ExampleBuilder + assembly + serializer against the transcription, on lines of chosen
    lengths (including 0-token lines and blank lines) and ids of 1 to 5 varint bytes."""
    rng = np.random.default_rng(max_length)
    lines = []
    for _ in range(3000):
        kind = rng.random()
        if kind < 0.08:
            lines.append("")
        else:
            n = int(rng.choice([0, 1, 3, 30, 40, 5, 60, 200]))
            lines.append(" ".join(str(v) for v in rng.integers(0, 2 ** 31 - 1, n) >> rng.integers(0, 31, n)))
    random.seed(3)
    builder = OriginalExampleBuilder(StubTokenizer(), max_length)
    expected = []
    for line in lines + [""]:
        example = builder.add_line(line)
        if example:
            expected.append(example.SerializeToString(deterministic=True))

    ours = ExampleBuilder(max_length, random.Random(3))
    lengths = [len(line.split()) for line in lines]
    tokens = np.array([int(t) for line in lines for t in line.split()], np.int64)
    starts = (np.cumsum(lengths) - lengths).tolist()
    half = len(lines) // 2  # two blocks: sentences buffered at the end of the first one are carried over
    ours.add_block(starts[:half], lengths[:half], [not line for line in lines[:half]])
    src, dst, length, len_a, len_b = ours.take_examples()
    first = assemble_examples(tokens, src, dst, length, len_a, len_b, max_length, 101, 102)
    carried = ours.carry_over(tokens)
    rest = np.concatenate([carried, tokens[starts[half]:]])
    ours.add_block((np.array(starts[half:]) - starts[half] + len(carried)).tolist(), lengths[half:],
                   [not line for line in lines[half:]])
    ours.end_document()
    second = assemble_examples(rest, *ours.take_examples(), max_length, 101, 102)
    serializer = ExampleSerializer(["input_ids", "input_mask", "segment_ids"])
    records = serializer.serialize(first) + serializer.serialize(second)
    assert len(records) == len(expected) > 100
    assert records == expected


def test_fixed_segment_rule_not_the_pre_fix_bug():
    """Sentences of 30/40/5/60 tokens at L = 128: the fixed rule (upstream 1ed0852) gives two
    segments most of the time and sometimes moves a later short sentence to A; the pre-fix rule
    gave no two-segment example at all."""
    builder = ExampleBuilder(128, random.Random(0))
    lengths = [30, 40, 5, 60] * 2000
    starts = (np.cumsum(lengths) - lengths).tolist()
    builder.add_block(starts, lengths, [False] * len(lengths))
    src, dst, length, len_a, len_b = builder.take_examples()
    assert (len_b > 0).mean() > 0.8
    assert ((len_b == 0) & (len_a < 126)).any()  # the 10% single-segment draw
    row_of_piece = dst // 128
    reordered = 0
    for row in np.unique(row_of_piece)[:500]:
        pieces = np.flatnonzero(row_of_piece == row)
        in_b = dst[pieces] % 128 > len_a[row] + 1
        order = src[pieces]
        reordered += bool(in_b.any() and order[~in_b].max() > order[in_b].min())
    assert reordered > 50


def test_serializer_matches_protobuf_for_large_and_negative_values():
    values = np.array([[0, 1, 127, 128, 16383, 16384, 2 ** 21, 2 ** 31 - 1], [-1, 5, 2 ** 40, 0, 0, 0, 0, 0]])
    records = ExampleSerializer(["b", "a"]).serialize({"a": values, "b": values[:, :3]})
    for row, record in zip(values, records):
        example = tf.train.Example(features=tf.train.Features(feature={
            "a": create_int_feature(row), "b": create_int_feature(row[:3])}))
        assert record == example.SerializeToString(deterministic=True)
    payload, lengths = packed_varints(np.array([[300, 1]]))
    assert payload.tobytes() == b"\xac\x02\x01" and lengths.tolist() == [3]


# ----------------------------------------------------------------------------------------------
# Tokenizer variants and vocabularies.

CHARS = list("abcdefghijklmnopqrstuvwxyzABCÉéèçñåİıΣσςΟΔ中文。，！ß ﬁ½ \t\u00a0\u200b\x00\x85\u0301\u0308")


@pytest.fixture(scope="module")
def char_vocab(tmp_path_factory):
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    for ch in dict.fromkeys(c for ch in CHARS for c in {ch, ch.lower(), unicodedata.normalize("NFD", ch.lower())[0]}):
        if ch.strip():
            tokens += [ch, "##" + ch]
    tokens += ["café", "##é", "cafe", "oδ", "σοφος", "σοφός", "##ος"]
    path = tmp_path_factory.mktemp("charvocab") / "vocab.txt"
    path.write_text("\n".join(dict.fromkeys(tokens)) + "\n", encoding="utf-8")
    return str(path)


def test_lowercasing_without_accent_stripping(char_vocab):
    fast = LowercasingFullTokenizer(char_vocab)
    assert fast.tokenize("Café CAFÉ") == ["café", "café"]
    assert FullTokenizer(char_vocab, do_lower_case=True).tokenize("Café") == ["cafe"]
    assert FullTokenizer(char_vocab, do_lower_case=False).tokenize("Café")[0] == "C"
    assert fast.tokenize("ΣΟΦΟΣ") == OriginalFullTokenizer(char_vocab, True, False).tokenize("ΣΟΦΟΣ") == ["σοφος"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.one_of(st.sampled_from(CHARS), st.characters(min_codepoint=0x20,
                                                                            max_codepoint=0x2FFFF)), max_size=40))
def test_lowercasing_tokenizer_equals_the_original(char_vocab, text):
    fast = _LOWERCASING.setdefault(char_vocab, LowercasingFullTokenizer(char_vocab))
    expected = OriginalFullTokenizer(char_vocab, True, False).tokenize(text)
    assert ReferenceLowercasingTokenizer(fast.vocab).tokenize(text) == expected
    assert fast.tokenize(text) == expected


_LOWERCASING = {}


def test_build_vocab_wordpiece(tmp_path, corpus):
    build_vocab = importlib.import_module("build_vocab")
    path = str(tmp_path / "vocab.txt")
    assert build_vocab.main(["--corpus-dir", corpus, "--vocab-file", path, "--vocab-size", "800"]) == 0
    lines = open(path, encoding="utf-8").read().split("\n")[:-1]
    assert lines[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] and len(lines) == 800
    assert any(t.startswith("##") for t in lines) and not any(t != t.lower() for t in lines[5:])
    assert "é" not in "".join(lines)  # accents stripped as the builder strips them
    sentence = "Before we proceed any further, hear me speak."
    ours = FullTokenizer(path).tokenize(sentence)
    assert "[UNK]" not in ours and len(ours) < 20
    from transformers import BertTokenizerFast
    hf = BertTokenizerFast.from_pretrained(str(tmp_path))  # a folder with vocab.txt, as a model folder has it
    assert [hf.pad_token_id, hf.unk_token_id, hf.cls_token_id, hf.sep_token_id, hf.mask_token_id] == [0, 1, 2, 3, 4]
    assert hf.tokenize(sentence) == ours

    cased = str(tmp_path / "cased.txt")
    assert build_vocab.main(["--corpus-dir", corpus, "--vocab-file", cased, "--vocab-size", "800",
                             "--no-lower-case"]) == 0
    cased_tokens = open(cased, encoding="utf-8").read().split()
    assert "First" in cased_tokens and "é" in cased_tokens
    kept = str(tmp_path / "kept.txt")
    vocab_lib.train_wordpiece(corpus, kept, vocab_size=800, strip_accents=False)
    assert "é" in open(kept, encoding="utf-8").read().split()


def test_sentencepiece_round_trip(tmp_path, corpus):
    build_vocab = importlib.import_module("build_vocab")
    model = str(tmp_path / "spm.model")
    assert build_vocab.main(["--corpus-dir", corpus, "--vocab-file", model, "--type", "sentencepiece",
                             "--vocab-size", "600"]) == 0
    assert os.path.isfile(str(tmp_path / "spm.vocab"))
    tokenizer = pretraining_tokenizer(model)
    assert [tokenizer.vocab[t] for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")] == [0, 1, 2, 3, 4]

    class OriginalWithSentencePiece:  # the original builder fed by the SentencePiece tokenizer
        vocab = {"[CLS]": 2, "[SEP]": 3}
        tokenize = staticmethod(tokenizer.tokenize)
        convert_tokens_to_ids = staticmethod(tokenizer.convert_tokens_to_ids)

    ours, theirs, _ = run_both(tmp_path, corpus, model, max_length=64, original_tokenizer=OriginalWithSentencePiece())
    assert ours == theirs
    texts = []  # each file's text, lower-cased, control characters out, whitespace runs as one space
    for name in os.listdir(corpus):
        text = open(os.path.join(corpus, name), encoding="utf-8").read().lower()
        texts.append(" ".join("".join(ch for ch in text if ch.isprintable() or ch.isspace()).split()))
    checked = 0
    for record in parse_records(ours, 64):  # one-segment, untruncated examples decode to a run of the text
        n = int(record["input_mask"].sum())
        decoded = tokenizer.sp.DecodeIds(record["input_ids"][1:n - 1].tolist())
        if not record["segment_ids"].any() and n < 64 and decoded.isascii():
            assert any(decoded in text for text in texts), decoded
            checked += 1
    assert checked > 20


# ----------------------------------------------------------------------------------------------
# Command line: flags and errors.

def test_boolean_and_casing_flags():
    parse = importlib.import_module("electra_tf.cli.build_pretraining_dataset").make_parser().parse_args
    base = ["--corpus-dir", "c", "--vocab-file", "v", "--output-dir", "o"]
    assert bool("False") is True  # why the original's type=bool flag could not be turned off
    assert parse(base).blanks_separate_docs is True
    for value, expected in [("False", False), ("false", False), ("0", False), ("no", False), ("True", True),
                            ("1", True), ("yes", True)]:
        assert parse(base + ["--blanks-separate-docs", value]).blanks_separate_docs is expected
    assert parse(base + ["--blanks-separate-docs"]).blanks_separate_docs is True
    assert parse(base + ["--no-blanks-separate-docs"]).blanks_separate_docs is False
    with pytest.raises(SystemExit) as e:
        parse(base + ["--blanks-separate-docs", "maybe"])
    assert e.value.code == 2
    args = parse(base)
    assert args.do_lower_case and args.strip_accents and args.num_out_files == 1000 and args.max_seq_length == 128
    args = parse(base + ["--no-lower-case", "--no-strip-accents"])
    assert not args.do_lower_case and not args.strip_accents
    assert parse(base + ["--no-strip-accents", "--strip-accents"]).strip_accents
    assert parse(base + ["--no-strip-accents", "--do-strip-accents"]).strip_accents


def _run_cli(capsys, argv):
    module = importlib.import_module("build_pretraining_dataset")
    code = module.main(argv)
    err = capsys.readouterr().err.strip()
    return code, err


def test_bad_inputs_give_one_clear_message(tmp_path, capsys, corpus, vocab_file):
    out = str(tmp_path / "out")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".hidden").write_text("x")
    cases = {
        "no text files": ["--corpus-dir", str(empty), "--vocab-file", vocab_file],
        "Corpus folder not found": ["--corpus-dir", str(tmp_path / "nope"), "--vocab-file", vocab_file],
        "Vocabulary file not found": ["--corpus-dir", corpus, "--vocab-file", str(tmp_path / "missing.txt")],
    }
    sp_vocab = tmp_path / "spm.vocab"
    sp_vocab.write_text("<unk>\t0\n▁the\t-1.5\n", encoding="utf-8")
    (tmp_path / "spm.model").write_bytes(b"")
    cases[f"Pass {tmp_path / 'spm.model'} instead"] = ["--corpus-dir", corpus, "--vocab-file", str(sp_vocab)]
    no_mask = tmp_path / "nomask.txt"
    no_mask.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\n", encoding="utf-8")
    cases["no [MASK] token"] = ["--corpus-dir", corpus, "--vocab-file", str(no_mask)]
    cases["--max-seq-length must be at least 5"] = ["--corpus-dir", corpus, "--vocab-file", vocab_file,
                                                    "--max-seq-length", "4"]
    import sentencepiece as spm
    spm.SentencePieceTrainer.train(sentence_iterator=iter(corpus_lines()), model_prefix=str(tmp_path / "plain"),
                                   vocab_size=200, user_defined_symbols=["[CLS]", "[SEP]"], minloglevel=2)
    cases["no [MASK] piece"] = ["--corpus-dir", corpus, "--vocab-file", str(tmp_path / "plain.model")]
    for expected, argv in cases.items():
        code, err = _run_cli(capsys, argv + ["--output-dir", out])
        assert code == 2, expected
        assert err.startswith("error: ") and expected in err and "\n" not in err and "Traceback" not in err, err
    assert not os.path.exists(out)  # nothing written before the inputs are checked
    code, err = _run_cli(capsys, ["--corpus-dir", corpus, "--vocab-file", vocab_file, "--output-dir", corpus])
    assert code == 2 and err == "error: --output-dir must not be the corpus folder (every file there is read as text)."


def test_non_utf8_file_is_named(tmp_path, capsys, vocab_file):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "good.txt").write_text("fine text\n", encoding="utf-8")
    (corpus / "latin1.txt").write_bytes("line one\nna\u00efve caf\u00e9\n".encode("latin-1"))
    code, err = _run_cli(capsys, ["--corpus-dir", str(corpus), "--vocab-file", vocab_file, "--output-dir",
                                  str(tmp_path / "out"), "--num-out-files", "2"])
    assert code == 2
    assert err == f"error: {corpus / 'latin1.txt'}, line 2: not UTF-8 text (byte 0xef); the corpus must be UTF-8."
    code, err = _run_cli(capsys, ["--corpus-dir", str(corpus), "--vocab-file", vocab_file, "--output-dir",
                                  str(tmp_path / "out2"), "--num-out-files", "2", "--num-processes", "2"])
    assert code == 2  # reported by the worker process that read the file
    assert err == f"error: {corpus / 'latin1.txt'}, line 2: not UTF-8 text (byte 0xef); the corpus must be UTF-8."


def test_progress_line(corpus, vocab_file, tmp_path):
    stream = io.StringIO()
    stats = build_pretraining_dataset(corpus, vocab_file, str(tmp_path / "out"), options=BuildOptions(num_out_files=2),
                                      progress=Progress(stream, every=0.0))
    lines = stream.getvalue().splitlines()
    assert len(lines) > 3
    assert lines[-1].startswith(f"6/6 files, {stats.docs:,} documents, {stats.examples:,} examples, "
                                f"{stats.tokens:,} tokens in ")
    assert all(word in lines[-1] for word in ("documents/s", "examples/s", "tokens/s"))
    docs = 0  # a document ends at a blank line after text, and at the end of a file that ends in text
    for name in os.listdir(corpus):
        previous = ""
        for line in tf.io.gfile.GFile(os.path.join(corpus, name)):
            docs += bool(previous and not line.strip())
            previous = line.strip()
        docs += bool(previous)
    assert stats.docs == docs > 100


def test_build_vocab_errors(tmp_path, capsys):
    build_vocab = importlib.import_module("build_vocab")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert build_vocab.main(["--corpus-dir", str(empty), "--vocab-file", str(tmp_path / "v.txt")]) == 2
    assert "no text files" in capsys.readouterr().err
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.txt").write_bytes(b"ok\n\xff\xfe\n")
    assert build_vocab.main(["--corpus-dir", str(bad), "--vocab-file", str(tmp_path / "v.txt")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {bad / 'x.txt'}, line 2: not UTF-8 text (byte 0xff); the corpus must be UTF-8."
    assert not os.path.exists(tmp_path / "v.txt")


def test_exit_code_and_message_of_the_script(tmp_path):
    """The real process: exit status 2 and one line, no traceback."""
    result = subprocess.run([sys.executable, os.path.join(ROOT, "build_pretraining_dataset.py"), "--corpus-dir",
                             str(tmp_path), "--vocab-file", str(tmp_path / "v.txt"), "--output-dir",
                             str(tmp_path / "o")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == f"error: {tmp_path}: no text files in the corpus folder (one " \
        "sentence per line, a blank line between documents)."
    assert "Traceback" not in result.stderr
