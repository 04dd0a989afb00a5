"""The documentation's commands run, so they cannot rot.

Walkthroughs (``docs/walkthrough_*.md``): every fenced block whose info string is ``bash`` is run,
in page order, by one ``bash -eu -o pipefail`` script per page (```` ```sh ```` blocks, such as the
downloads, are shown only). The pages name two placeholders, ``$DATA_DIR`` and ``$MODEL``; here
``$DATA_DIR`` is a folder in tmp_path holding a tiny random checkpoint at ``models/$MODEL`` (the
original TF1 layout, a vocabulary made of the tiny data's words) and a few examples of every data
set the page uses, in the data set's real file names and format. The pages pass the shipped
hyperparameter files by name (``--hparams params_cmrc2018.json``); the working directory wins over
the shipped copy, so the script runs in a folder holding, under the same names, the shipped file
with a tiny model's sizes and one epoch of a 4-example batch on top (the shipped file must exist).

The console commands are not installed in CI, so ``electra-*`` is a small shim on ``PATH`` that
runs the entry point pyproject.toml's ``[project.scripts]`` names for it (the mapping is read
here, so it cannot drift). By default the shim hands its arguments and working directory to this
test process, which calls the command's ``main(argv)`` (TensorFlow starts once for all pages: the three
pages cost well under two minutes); with ``ELECTRA_DOCS_SUBPROCESS=1`` each shim instead runs
``python -c "import sys; from MODULE import command; sys.exit(command())" ARGS`` in its own process,
exactly as the installed console command would (slower).

README: the quick start and the test command are what they must be (the latter verbatim in
``.ci/run``), and every relative link of README.md and docs/ points at a file (and heading) that
exists.
"""

import errno
import importlib
import json
import os
import random
import re
import select
import shutil
import subprocess
import sys
import time
import traceback

import pytest

from tests.conftest import ROOT, make_random_tf1_model

DOCS = os.path.join(ROOT, "docs")
MODEL = "tiny-electra"  # the folder name under $DATA_DIR/models the test gives $MODEL
SUBPROCESS = os.environ.get("ELECTRA_DOCS_SUBPROCESS") == "1"
TIMEOUT = 900


# ---------------------------------------------------------------------------- reading the pages
def runnable_blocks(text: str):
    """The ```bash blocks of a page, in order (the page's runnable commands)."""
    return re.findall(r"^```bash[ \t]*\n(.*?)^```[ \t]*$", text, flags=re.S | re.M)


def console_commands():
    """``{console command: "module:function"}`` from pyproject.toml's [project.scripts]."""
    import tomllib

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["project"]["scripts"]


# ---------------------------------------------------------------------------- the console-command shims
SHIM_IN_PROCESS = """#!/usr/bin/env bash
# {name} -> {target} (pyproject.toml [project.scripts]): run by the test process
req=$(mktemp "$ELECTRA_DOCS_SHIMS/req.XXXXXX")
printf '%s\\0' {name} "$PWD" "$@" > "$req"
mkfifo "$req.rc"
printf '%s\\n' "$req" > "$ELECTRA_DOCS_SHIMS/requests"
read -r code < "$req.rc"
rm -f "$req" "$req.rc"
exit "$code"
"""

SHIM_SUBPROCESS = """#!/usr/bin/env bash
# {name} -> {target} (pyproject.toml [project.scripts]), as the installed console command runs it
exec "$ELECTRA_DOCS_PYTHON" -c "import sys; from {module} import {function}; sys.exit({function}())" "$@"
"""


class Commands:
    """Runs a bash script whose ``electra-*`` commands are the package's entry points."""

    def __init__(self, folder):
        self.folder = str(folder)
        os.makedirs(self.folder)
        self.scripts = console_commands()
        for name, target in self.scripts.items():
            module, function = target.split(":")
            template = SHIM_SUBPROCESS if SUBPROCESS else SHIM_IN_PROCESS
            path = os.path.join(self.folder, name)
            with open(path, "w") as f:
                f.write(template.format(name=name, target=target, module=module, function=function))
            os.chmod(path, 0o755)
        self.requests = os.path.join(self.folder, "requests")
        os.mkfifo(self.requests)
        self.calls = []  # (command, argv, exit code, seconds, traceback or None)

    def run(self, script: str, cwd, env) -> subprocess.CompletedProcess:
        """Run ``script`` with bash in ``cwd``; returns its exit code and output (``set -x`` trace included)."""
        env = dict(env, PATH=self.folder + os.pathsep + os.environ["PATH"], ELECTRA_DOCS_SHIMS=self.folder,
                   ELECTRA_DOCS_PYTHON=sys.executable, PYTHONPATH=ROOT)
        log_path = os.path.join(self.folder, "bash.log")
        fd = os.open(self.requests, os.O_RDWR | os.O_NONBLOCK)  # read-write: no end-of-file between shims
        deadline = time.monotonic() + TIMEOUT
        with open(log_path, "w") as log:
            proc = subprocess.Popen(["bash", "-eux", "-o", "pipefail", "-c", script], cwd=str(cwd), env=env,
                                    stdout=log, stderr=subprocess.STDOUT)
            pending = b""
            try:
                while True:
                    ready, _, _ = select.select([fd], [], [], 0.1)
                    if ready:
                        pending += os.read(fd, 65536)
                        while b"\n" in pending:
                            line, pending = pending.split(b"\n", 1)
                            self._serve(line.decode())
                    elif proc.poll() is not None:
                        break
                    if time.monotonic() > deadline:
                        proc.kill()
                        pytest.fail(f"the walkthrough's commands ran for more than {TIMEOUT} s")
            finally:
                os.close(fd)
                if proc.poll() is None:
                    proc.kill()
                proc.wait()
        with open(log_path, encoding="utf-8", errors="replace") as f:
            return subprocess.CompletedProcess(proc.args, proc.returncode, f.read())

    def _serve(self, request: str):
        """Call the entry point a shim asked for, in its working directory, and answer its exit code."""
        with open(request, "rb") as f:
            name, cwd, *argv = [part.decode() for part in f.read().split(b"\0")[:-1]]
        module, function = self.scripts[name].split(":")
        here, saved_argv = os.getcwd(), sys.argv
        started, error = time.monotonic(), None
        try:
            os.chdir(cwd)
            sys.argv = [name, *argv]
            # the console command is main() ended by exit_process (cli/process_exit.py), which would
            # end this process too: here its main(argv) runs and returns the code
            entry = getattr(importlib.import_module(module), function)
            code = getattr(entry, "__wrapped__", entry)(argv)
        except SystemExit as e:  # argparse's usage errors
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:  # noqa: BLE001 (reported with the page's output)
            code, error = 1, traceback.format_exc()
        finally:
            os.chdir(here)
            sys.argv = saved_argv
        code = 0 if code is None else int(code)
        self.calls.append((name, argv, code, round(time.monotonic() - started, 1), error))
        self._answer(request + ".rc", code)

    @staticmethod
    def _answer(fifo, code):
        deadline = time.monotonic() + 60
        while True:  # the shim opens its end right after announcing the request
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError as e:
                if e.errno not in (errno.ENXIO, errno.ENOENT) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        try:
            os.write(fd, f"{code}\n".encode())
        finally:
            os.close(fd)


# ---------------------------------------------------------------------------- tiny stand-ins
QA_TASKS = {"squad", "squadv1", "cmrc2018", "drcd", "korquad"}


def tiny_hparams_files(workdir, blocks, vocab_size):
    """For each shipped ``params_*.json`` the page passes by name: the same name in ``workdir`` with
    the shipped values and a tiny run's sizes on top."""
    names = sorted(set(re.findall(r"--hparams\s+[\"']?(params_[\w.-]+\.json)", "\n".join(blocks))))
    assert names, "the page passes no shipped hyperparameter file"
    for name in names:
        shipped_path = os.path.join(ROOT, "configs", name)
        assert os.path.isfile(shipped_path), f"the page names {name}, which configs/ does not ship"
        with open(shipped_path, encoding="utf-8") as f:
            hparams = json.load(f)
        hparams.update(num_train_epochs=1, train_batch_size=4, eval_batch_size=8, seed=1, log_every_steps=1000,
                       max_seq_length=48, progress=False)
        if "vocab_size" in hparams:
            hparams["vocab_size"] = vocab_size
        if QA_TASKS & set(hparams["task_names"]):
            hparams.update(max_query_length=12, doc_stride=16, n_best_size=5, beam_size=5)
        with open(os.path.join(str(workdir), name), "w", encoding="utf-8") as f:
            json.dump(hparams, f)
    return names


def write(path, text):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(str(path), "w", encoding="utf-8") as f:
        f.write(text)


def squad_json(paragraphs, version):
    return json.dumps({"version": version, "data": [{"title": "t", "paragraphs": paragraphs}]}, ensure_ascii=False)


def qa_paragraphs(contexts, question, v2=False, prefix="q"):
    """One answerable question per context (the answer: its third whitespace word, or characters 2-3
    of a context without spaces) and, for SQuAD 2.0, an unanswerable one."""
    out = []
    for i, context in enumerate(contexts):
        words = context.split()
        answer = words[2] if len(words) > 2 else context[2:4]
        start = context.index(answer)
        qas = [{"id": f"{prefix}{i}", "question": question, "answers": [{"text": answer, "answer_start": start}]}]
        if v2:
            qas[0]["is_impossible"] = False
            qas.append({"id": f"{prefix}{i}n", "question": question, "answers": [], "is_impossible": True})
        out.append({"context": context, "qas": qas})
    return out


def english_data(data_dir):
    """SST-2 (GLUE), SQuAD 2.0 and CoNLL-2003 files, a few examples each."""
    rng = random.Random(0)
    words = "the movie was good bad great awful and acting story plot film is not very".split()
    sentence = lambda n=6: " ".join(rng.choice(words) for _ in range(n))
    sst = data_dir / "finetuning_data" / "sst"
    for split in ("train", "dev"):
        write(sst / f"{split}.tsv", "sentence\tlabel\n" + "".join(f"{sentence()}\t{i % 2}\n" for i in range(8)))
    write(sst / "test.tsv", "index\tsentence\n" + "".join(f"{i}\t{sentence()}\n" for i in range(4)))
    contexts = [sentence(20) for _ in range(4)]
    for name in ("train-v2.0.json", "dev-v2.0.json"):
        write(data_dir / "finetuning_data" / "squad" / name,
              squad_json(qa_paragraphs(contexts, "what was good", v2=True), "v2.0"))
    tags = ["B-PER", "I-PER", "O", "O", "B-LOC", "B-ORG"]
    for name in ("eng.train", "eng.testa", "eng.testb"):
        lines = ["-DOCSTART- -X- -X- O", ""]
        for _ in range(6):
            lines += [f"{rng.choice(words)} NN B-NP {rng.choice(tags)}" for _ in range(rng.randint(3, 7))] + [""]
        write(data_dir / "finetuning_data" / "conll2003" / name, "\n".join(lines) + "\n")
    return words + ["what"]


def chinese_data(data_dir):
    """CMRC 2018 (a cut of the trial set in tests/data) and ChnSentiCorp files."""
    with open(os.path.join(ROOT, "tests", "data", "cmrc2018_trial_sample.json"), encoding="utf-8") as f:
        sample = json.load(f)
    cmrc = data_dir / "finetuning_data" / "cmrc2018"
    write(cmrc / "cmrc2018_train.json", json.dumps(dict(sample, data=sample["data"][:3]), ensure_ascii=False))
    write(cmrc / "cmrc2018_dev.json", json.dumps(dict(sample, data=sample["data"][3:5]), ensure_ascii=False))
    reviews = ["这家酒店的服务很好，下次还来。", "房间又小又吵，不推荐。", "早餐不错，位置方便。", "设施太旧了，很失望。"]
    for split in ("train", "dev", "test"):
        write(data_dir / "finetuning_data" / "chnsenticorp" / f"{split}.tsv",
              "label\ttext_a\n" + "".join(f"{(i + 1) % 2}\t{reviews[i % 4]}\n" for i in range(8)))
    text = json.dumps(sample["data"][:5], ensure_ascii=False) + "".join(reviews)
    return sorted({c for c in text if "\u4e00" <= c <= "\u9fff" or c in "，。？！"})


def korean_data(data_dir):
    """NSMC, Naver NER (as KoELECTRA distributes it) and KorQuAD 1.0 files."""
    reviews = ["아 더빙.. 진짜 짜증나네요 목소리", "흠...포스터보고 초딩영화줄....오버연기조차 가볍지 않구나",
               "너무재밓었다그래서보는것을추천한다", "교도소 이야기구먼 ..솔직히 재미는 없다..평점 조정"]
    for name in ("ratings_train.txt", "ratings_test.txt"):
        write(data_dir / "finetuning_data" / "nsmc" / name,
              "id\tdocument\tlabel\n" + "".join(f"{9976970 + i}\t{reviews[i % 4]}\t{i % 2}\n" for i in range(8)))
    ner = ["비토리오 양일 만에 영사관 감호 용퇴\tPER-B DAT-B DAT-I ORG-B CVL-B O",
           "이 음경동맥의 직경이 8 19mm입니다 .\tO O O NUM-B NUM-I O"]
    for name in ("train.tsv", "test.tsv"):
        write(data_dir / "finetuning_data" / "naver-ner" / name, "".join(f"{ner[i % 2]}\n" for i in range(6)))
    contexts = ["1989년 2월 15일 여의도 농민 폭력 시위를 주도한 혐의로 지명수배되었다",
                "임종석은 1989년 전국대학생대표자협의회 의장을 맡았다 그는 한양대학교 출신이다",
                "서울특별시는 대한민국의 수도이며 가장 큰 도시이다 인구는 약 천만 명이다"]
    for name in ("KorQuAD_v1.0_train.json", "KorQuAD_v1.0_dev.json"):
        write(data_dir / "finetuning_data" / "korquad" / name,
              squad_json(qa_paragraphs(contexts, "무엇을 했는가?"), "KorQuAD_v1.0_train"))
    text = " ".join(reviews + [n.split("\t")[0] for n in ner] + contexts + ["무엇을 했는가?"])
    words = set(text.split())
    pieces = {c for c in text if not c.isspace()}
    return sorted(words | pieces | {"##" + c for c in pieces})


PAGES = {"walkthrough_english.md": english_data, "walkthrough_chinese.md": chinese_data,
         "walkthrough_korean.md": korean_data}


# ---------------------------------------------------------------------------- the walkthroughs
@pytest.mark.parametrize("page", sorted(PAGES))
def test_walkthrough_commands_run(tmp_path, page):
    with open(os.path.join(DOCS, page), encoding="utf-8") as f:
        text = f.read()
    blocks = runnable_blocks(text)
    assert len(blocks) >= 4, f"{page}: expected its fine-tune, predict, export and convert commands in ```bash blocks"
    script = "\n".join(blocks)
    for command in re.findall(r"^\s*(electra-[\w-]+)", script, flags=re.M):
        assert command in console_commands(), f"{page}: {command} is not a console command of pyproject.toml"
    for family in ("electra-finetune", "electra-predict", "electra-export", "electra-convert"):
        assert family in script, f"{page}: no runnable {family} command"
    assert not re.search(r"^\s*python3? ", script, flags=re.M), f"{page}: use the console commands, not the scripts"

    data_dir = tmp_path / "data"
    words = PAGES[page](data_dir)
    make_random_tf1_model(data_dir / "models" / MODEL, words)
    workdir = tmp_path / "work"
    workdir.mkdir()
    tiny_hparams_files(workdir, blocks, vocab_size=5 + len(words))

    commands = Commands(tmp_path / "shims")
    done = commands.run(script, workdir, dict(os.environ, DATA_DIR=str(data_dir), MODEL=MODEL))
    report = "\n".join(f"{name} {' '.join(argv)} -> exit {code} ({seconds} s)\n{error or ''}"
                       for name, argv, code, seconds, error in commands.calls)
    print(report)
    assert done.returncode == 0, f"{page}: a command failed.\n--- commands\n{report}\n--- bash\n{done.stdout[-6000:]}"
    if not SUBPROCESS:
        ran = {name for name, *_ in commands.calls}
        assert {"electra-finetune", "electra-predict", "electra-export", "electra-convert"} <= ran, report


# ---------------------------------------------------------------------------- the README and the links
def section_blocks(text: str, heading: str):
    """The ```bash blocks under the README heading ``## heading`` (up to the next ``## ``)."""
    body = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return runnable_blocks(body)


def readme():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        return f.read()


TEST_COMMAND = ".venv/bin/python -m pytest -q -n 2 --dist loadfile tests"


def test_readme_test_command_is_the_one_ci_runs():
    assert section_blocks(readme(), "Run the tests") == [TEST_COMMAND + "\n"]
    with open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8") as f:
        ci = f.read().splitlines()
    assert TEST_COMMAND in ci  # verbatim
    assert any("-r requirements.txt -r requirements-test.txt" in line for line in ci)


def test_readme_quick_start_installs_everything_and_trains_the_embedded_default():
    import shlex

    (command,) = section_blocks(readme(), "Quick start")
    venv, install, run = command.strip().split(" && ")
    assert venv == "python3 -m venv .venv"
    assert install == ".venv/bin/pip install -r requirements.txt -r requirements-test.txt"
    argv = shlex.split(run)
    assert argv[:2] == [".venv/bin/python", "run_finetuning.py"]
    flags = dict(zip(argv[2::2], argv[3::2]))
    assert flags == {"--data-dir": "examples/data", "--model-name": "electra-tiny",
                     "--hparams": "configs/params_quickstart.json"}
    assert os.path.isdir(os.path.join(ROOT, "examples", "data", "models", "electra-tiny"))
    assert os.path.isfile(os.path.join(ROOT, "configs", "params_quickstart.json"))


def test_readme_is_short_and_maps_every_guide():
    text = readme()
    assert len(text.splitlines()) <= 200
    for name in sorted(os.listdir(DOCS)):
        if name.endswith(".md"):
            assert f"docs/{name}" in text, f"README.md does not point at docs/{name}"


def github_anchors(text: str):
    """The anchors GitHub gives a page's headings (lower case, punctuation dropped, spaces to '-')."""
    anchors = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", re.sub(r"^```.*?^```", "", text, flags=re.S | re.M), flags=re.M):
        anchors.add(re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-"))
    return anchors


def test_documentation_links_point_at_existing_files_and_headings():
    pages = [os.path.join(ROOT, "README.md"), os.path.join(ROOT, "configs", "README.md")]
    pages += [os.path.join(DOCS, n) for n in sorted(os.listdir(DOCS)) if n.endswith(".md")]
    broken = []
    for page in pages:
        with open(page, encoding="utf-8") as f:
            text = f.read()
        prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)  # links in code are code
        for target in re.findall(r"\]\(([^)\s]+)\)", prose):
            if re.match(r"[a-z]+:", target):
                continue  # a web address
            path, _, anchor = target.partition("#")
            full = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
            if not os.path.exists(full):
                broken.append(f"{os.path.relpath(page, ROOT)}: {target} (no such file)")
            elif anchor and full.endswith(".md"):
                with open(full, encoding="utf-8") as f:
                    if anchor not in github_anchors(f.read()):
                        broken.append(f"{os.path.relpath(page, ROOT)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def test_a_failing_command_stops_the_page_with_its_exit_code(tmp_path):
    """The harness passes arguments through unchanged and a failing command fails the page (else every
    walkthrough would pass whatever its commands did)."""
    commands = Commands(tmp_path / "shims")
    script = 'electra-evaluate squad "no such file.json" "préds.json"\necho never > after.txt\n'
    done = commands.run(script, tmp_path, dict(os.environ))
    assert done.returncode == 2, done.stdout
    assert not (tmp_path / "after.txt").exists()
    if not SUBPROCESS:
        ((name, argv, code, _, error),) = commands.calls
        assert (name, argv, code, error) == ("electra-evaluate", ["squad", "no such file.json", "préds.json"], 2, None)
