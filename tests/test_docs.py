"""The documentation and the CLI agree: every `polychrome ...` command the docs show names a
command and options that exist, and every option of every command is in the README."""

import re
import shlex
from pathlib import Path

import pytest
import typer

from polychrome.apps.cli import app

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CLI = typer.main.get_command(app)


def _is_group(command) -> bool:
    # Typer has its own copy of click: no isinstance checks against click's classes.
    return hasattr(command, "commands")


def _commands(group, path: tuple[str, ...] = ()) -> dict:
    """Every command of the CLI by its words: ``{("pool", "build"): command, ...}``."""
    found = {path: group}
    if _is_group(group):
        for name, sub in group.commands.items():
            found.update(_commands(sub, (*path, name)))
    return found


COMMANDS = _commands(CLI)


def _names(param) -> list[str]:
    return [n for n in (*param.opts, *param.secondary_opts) if n.startswith("-")]


def _shown_command_lines(text: str) -> list[str]:
    """`polychrome ...` lines of the shell blocks (continuations joined) and inline code spans."""
    lines = []
    for block in re.findall(r"```(?:sh|bash|console)\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if line.lstrip().startswith("polychrome "):
                lines.append(line.strip())
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    lines += [" ".join(span.split()) for span in re.findall(r"`(polychrome [^`]+)`", prose)]
    return lines


SHOWN = [
    pytest.param(line, id=f"{doc.name}: {line[:70]}")
    for doc in DOCS
    for line in _shown_command_lines(doc.read_text())
]


def test_the_docs_show_commands():
    assert len(SHOWN) > 40  # the extraction finds the README's examples


@pytest.mark.parametrize("line", SHOWN)
def test_shown_commands_and_options_exist(line):
    words = shlex.split(line, comments=True)[1:]
    path: tuple[str, ...] = ()
    while _is_group(COMMANDS[path]) and words and words[0] in COMMANDS[path].commands:
        path, words = (*path, words[0]), words[1:]
    command = COMMANDS[path]
    if _is_group(command):  # `polychrome --help`, `polychrome pool`
        assert not words or words[0] in {"--help", "--version"}, f"no such command: {line}"
        return
    options = {n for p in command.params for n in _names(p)} | {"--help"}
    unknown = [w.split("=")[0] for w in words if w.startswith("-")]
    unknown = [w for w in unknown if w not in options]
    assert not unknown, f"`polychrome {' '.join(path)}` has no option {unknown}: {line}"


@pytest.mark.parametrize("path", sorted(p for p in COMMANDS if p), ids=" ".join)
def test_every_command_and_option_is_in_the_readme(path):
    readme = (ROOT / "README.md").read_text()
    assert f"polychrome {' '.join(path)}" in readme, f"the README never shows `{' '.join(path)}`"
    command = COMMANDS[path]
    missing = [
        p.opts[0]
        for p in getattr(command, "params", [])
        if p.param_type_name == "option"
        and not any(re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", readme) for n in _names(p))
    ]
    assert not missing, f"`polychrome {' '.join(path)}` options missing from the README: {missing}"
