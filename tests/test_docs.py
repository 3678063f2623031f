"""The pages cannot rot: README.md and docs/*.md show only what works.

Every Python block runs (long training runs shortened), every sweep file shown loads, every
``coordrl ...`` (and ``python train.py ...``) command shown parses against the real command
line, README.md's relative links lead to files, and each figure of the results tables on
README.md and the home page is on the page its row links to. ``mkdocs build --strict`` (in
.ci/run) checks the site's own links, anchors, snippets and API reference.
"""

from __future__ import annotations

import math
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from coordrl.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]
SHELL = ("bash", "sh", "console", "shell")


def _name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def _blocks(*languages: str) -> list[tuple[str, str]]:
    """``(page, code)`` of each fenced block in one of ``languages``, in page order."""
    found = []
    for page in PAGES:
        for language, code in re.findall(r"^```(\w*)\n(.*?)^```", page.read_text(), re.M | re.S):
            if language in languages:
                found.append((_name(page), code))
    return found


PYTHON = _blocks("python")


def test_pages_have_python_examples():
    pages = {page for page, _ in PYTHON}
    assert "README.md" in pages and len(PYTHON) >= 4, pages


@pytest.mark.parametrize(
    "page, code", PYTHON, ids=[f"{page}-{i}" for i, (page, _) in enumerate(PYTHON)]
)
def test_python_example_runs(page, code, tmp_path):
    # One short rollout instead of 10k steps: the code path is the same.
    code = re.sub(r"total_timesteps=[\d_]+", "total_timesteps=1", code)
    code = re.sub(r"n_steps=\d+", "n_steps=16", code)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{page}:\n{code}\n{result.stderr[-2000:]}"
    if "model.save(" in code:
        assert any(tmp_path.glob("*.zip"))


SWEEPS = [(page, code) for page, code in _blocks("yaml") if re.search(r"^grid:", code, re.M)]


def test_pages_show_a_sweep_file():
    assert SWEEPS


@pytest.mark.parametrize("page, example", SWEEPS, ids=[page for page, _ in SWEEPS])
def test_sweep_file_example_is_valid(page, example, tmp_path):
    from coordrl.sweeps import load_sweep

    path = tmp_path / "example.yaml"
    path.write_text(example.replace("configs/", f"{ROOT}/configs/"))
    sweep = load_sweep(path)
    raw = yaml.safe_load(example)
    assert len(sweep.trials) == math.prod(len(values) for values in raw["grid"].values())
    if "gpus" in raw.get("resources", {}):
        assert sweep.gpus == raw["resources"]["gpus"]


# -- commands -------------------------------------------------------------------------------


def _argv(line: str) -> list[str] | None:
    """The arguments after ``coordrl`` (``python train.py`` is ``coordrl train``) of a
    shell line, up to a pipe, redirection or ``&&``; None for other programs."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    words = []
    for word in lexer:
        if word and set(word) <= set("|&;<>()"):
            break
        words.append(word)
    if words[:1] == ["coordrl"]:
        return words[1:]
    if words[:2] == ["python", "train.py"]:
        return ["train", *words[2:]]
    return None


def _shown_commands() -> list[tuple[str, list[str]]]:
    commands = []
    for page, code in _blocks(*SHELL):
        for line in code.replace("\\\n", " ").splitlines():
            argv = _argv(line)
            if argv is not None:
                commands.append((page, argv))
    return commands


COMMANDS = _shown_commands()


def test_pages_show_commands():
    assert {"train", "evaluate", "sweep", "compare", "toy"} <= {argv[0] for _, argv in COMMANDS}
    assert any(page == "README.md" for page, _ in COMMANDS)


@pytest.mark.parametrize(
    "page, argv", COMMANDS, ids=[f"{page}: coordrl {shlex.join(argv)}" for page, argv in COMMANDS]
)
def test_shown_command_parses(page, argv, capsys):
    try:
        args = build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"{page}: coordrl {shlex.join(argv)}: {capsys.readouterr().err.strip()}")
    assert callable(args.func)


def _inline_commands() -> list[tuple[str, str]]:
    """Commands named in the text (``coordrl train --resume``), code blocks left out."""
    found = []
    for page in PAGES:
        text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.M | re.S)
        for span in re.findall(r"`((?:coordrl|python train\.py)\s[^`]+)`", text):
            found.append((_name(page), " ".join(span.split())))
    return found


INLINE = _inline_commands()


def _subparser(parser, words: list[str]):
    """The (sub)parser ``words`` lead to, and the words after its name."""
    while words:
        actions = getattr(parser, "_subparsers", None)
        choices = actions._group_actions[0].choices if actions else {}
        if words[0] not in choices:
            break
        parser, words = choices[words[0]], words[1:]
    return parser, words


@pytest.mark.parametrize("page, span", INLINE, ids=[f"{p}: {s}" for p, s in INLINE])
def test_named_command_exists(page, span):
    """A command named in the text may be a synopsis (``RUNS... --out DIR``, ``[--seed 0]``):
    its subcommands and every option it names must exist."""
    words = span.replace("[", " ").replace("]", " ").split()
    words = ["coordrl", "train", *words[2:]] if words[:2] == ["python", "train.py"] else words
    parser, rest = _subparser(build_parser(), words[1:])
    assert parser.prog != "coordrl" or rest in ([], ["..."]), f"{page}: {span}: no such command"
    for word in rest:
        if word.startswith("--"):
            flag = word.split("=")[0]
            assert flag in parser._option_string_actions, f"{page}: {span}: no option {flag}"


# -- links and results ----------------------------------------------------------------------


def test_readme_links_lead_to_files():
    text = README.read_text()
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    local = [t for t in targets if not re.match(r"[a-z]+:", t) and not t.startswith("#")]
    assert local
    missing = [t for t in local if not (ROOT / t.split("#")[0]).exists()]
    assert not missing, missing


def _results(page: Path) -> list[tuple[list[str], Path]]:
    """Rows of ``page``'s results table: their figures and the page each row links to."""
    section = page.read_text().split("\n## Results", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        link = re.search(r"\[[^\]]*\]\(([^)#]+\.md)[^)]*\)\s*\|\s*$", line)
        if line.startswith("|") and link:
            cells = line.split("|")[2:-2]  # the figures: between the label and the link
            rows.append(([c.strip() for c in cells], (page.parent / link[1]).resolve()))
    return rows


@pytest.mark.parametrize("page", [README, ROOT / "docs" / "index.md"], ids=_name)
def test_results_are_on_their_pages(page):
    rows = _results(page)
    assert len(rows) >= 4
    for figures, target in rows:
        text = target.read_text()
        for figure in figures:
            assert figure in text, f"{_name(page)}: {figure} is not on {_name(target)}"


def test_home_page_shows_the_readme_results():
    def table(page: Path) -> list[str]:
        section = page.read_text().split("\n## Results", 1)[1].split("\n## ", 1)[0]
        return [re.sub(r"\]\([^)]*\)", "]", line) for line in section.splitlines() if "|" in line]

    assert table(README) == table(ROOT / "docs" / "index.md")


def test_layout_names_every_module():
    layout = (ROOT / "docs" / "layout.md").read_text()
    for folder in ("coordrl", "agents", "envs"):
        for path in sorted((ROOT / folder).iterdir()):
            is_package = path.is_dir() and (path / "__init__.py").exists()
            if not (is_package or path.suffix == ".py") or path.name == "__init__.py":
                continue
            name = f"{path.name}/" if is_package else path.name
            assert re.search(rf"(?<![\w/]){re.escape(name)}", layout), (
                f"docs/layout.md does not name {folder}/{name}"
            )
