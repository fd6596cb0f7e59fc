"""docs/receiving.md is true: every `safehub ...` command in it parses with the real command
line (options and arguments that exist), each command's --help runs, every repository path
and link it names exists, and the README and the integrators' guide link to it. (The
follow commands also run for real against the broker: tests/feedclient/integration.)"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from services.cli.main import parser_for

REPO = Path(__file__).resolve().parents[3]
GUIDE = REPO / "docs" / "receiving.md"


def guide_commands() -> list[list[str]]:
    """Every `safehub ...` command in the guide: code block lines and inline code."""
    text = GUIDE.read_text()
    found = re.findall(r"^safehub [^\n`]+$", text, flags=re.MULTILINE)
    found += re.findall(r"`(safehub [^`]+)`", text)
    return [shlex.split(command)[1:] for command in dict.fromkeys(found)]


COMMANDS = guide_commands()


def test_the_guide_names_the_client_commands() -> None:
    named = {tuple(argv[:2]) for argv in COMMANDS}
    assert {("feed", "follow"), ("feed", "verify")} <= named
    follows = [argv for argv in COMMANDS if argv[:2] == ["feed", "follow"]]
    assert any("--webhook" in argv for argv in follows)
    assert any("--from-beginning" in argv for argv in follows)


# A bare `safehub feed follow` in the prose names the command (its --help runs below).
@pytest.mark.parametrize(
    "argv", [a for a in COMMANDS if len(a) > 2 and "--help" not in a], ids=" ".join
)
def test_each_command_parses(argv: list[str]) -> None:
    args = parser_for(argv).parse_args(argv)
    assert callable(args.handler)


@pytest.mark.parametrize(
    "path", sorted({tuple(a[:2]) for a in COMMANDS}), ids=lambda p: " ".join(p)
)
def test_each_commands_help_runs(path: tuple[str, ...]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "services.cli.main", *path, "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"safehub {' '.join(path)}" in result.stdout


def test_every_path_and_link_in_the_guide_exists() -> None:
    text = GUIDE.read_text()
    paths = re.findall(r"`((?:docs|services|schemas|policies|tests)/[\w./*<>-]+)`", text)
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    assert paths
    assert links
    for path in paths:
        assert list(REPO.glob(path.replace("<subscriber>", "*"))), path
    for link in links:
        assert (GUIDE.parent / link).resolve().exists(), link


def test_the_readme_and_the_integrators_guide_link_to_it() -> None:
    assert "(docs/receiving.md)" in (REPO / "README.md").read_text()
    assert "(receiving.md)" in (REPO / "docs" / "integrators.md").read_text()
