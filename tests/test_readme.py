"""The README's commands are the real ones: CI runs its test command, its CLI lines parse, and
its parameter counts are the models' own."""

import argparse
import re
import shlex

import pytest
from conftest import REPO

from personseg.cli import build_parser
from personseg.models import create_model

README = (REPO / "README.md").read_text()
BLOCKS = re.findall(r"```bash\n(.*?)```", README, re.S)


def commands() -> list[str]:
    out = []
    for block in BLOCKS:
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if line:
                out.append(line)
    return out


def test_ci_runs_exactly_the_readme_test_command():
    test_cmd = next(c for c in commands() if "pytest" in c)
    ci_lines = (REPO / ".ci" / "run").read_text().splitlines()
    assert test_cmd in ci_lines
    assert "pip install torch==2.13.0" in test_cmd.split("&&")[0]


def test_install_commands_pin_torch_before_the_package():
    for cmd in commands():
        if "pip install -e" in cmd:
            assert cmd.index("pip install torch==2.13.0") < cmd.index("pip install -e")


CLI_LINES = [c for c in commands() if c.startswith(("personseg ", "torchrun "))]


@pytest.mark.parametrize("cmd", CLI_LINES)
def test_readme_cli_lines_parse(cmd):
    words = shlex.split(cmd)
    if words[0] == "torchrun":  # torchrun [its options] -m personseg ARGS
        words = words[words.index("-m") + 1 :]
    parser = build_parser()
    args = parser.parse_args(words[1:])  # an unknown flag or a bad value exits here
    assert args.command == words[1]
    # every flag is the command's own full name (argparse would also take an abbreviation)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    command = sub.choices[words[1]]
    if words[1] == "data":
        command = next(
            a for a in command._actions if isinstance(a, argparse._SubParsersAction)
        ).choices[words[2]]
    flags = {w.split("=")[0] for w in words if w.startswith("--")}
    assert flags <= set(command._option_string_actions), flags - set(command._option_string_actions)


def test_readme_parameter_counts_are_true():
    def count(**kw) -> str:
        return f"{sum(p.numel() for p in create_model(**kw).parameters()):,}"

    assert count(name="unet") in README and "17.26M" in README
    assert count(name="unet", bilinear=False) in README and "31.04M" in README
    assert count(name="unet-small") in README
