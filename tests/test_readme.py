"""The README's commands are the real ones: CI runs its test command, its CLI lines parse, and
its parameter counts are the models' own."""

import argparse
import json
import re
import shlex

import pytest
from conftest import REPO, run

from personseg.cli import build_parser
from personseg.cli.evaluate import DEPRECATED_KEYS, JSON_SCHEMA
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


def readme_evaluate_keys() -> dict[str, str]:
    """The README's list of ``evaluate --json`` keys: each key → its list item."""
    section = README.split("The `--json` file is one object with these keys", 1)[1]
    items = section.split("\n\n")[1].removeprefix("- ").split("\n- ")
    return {key: item for item in items for key in re.findall(r"`(\w+)`", item.split(": ")[0])}


def test_readme_lists_the_keys_of_evaluate_json(tmp_path, tiny_root):
    """Every key the README documents is in the real file and no other; the deprecated ones
    carry the values of the keys that replace them."""
    from personseg.checkpoint import Checkpoint, ModelSpec

    spec = ModelSpec("unet-small", {"base_channels": 4}, input_size=32)
    Checkpoint(spec, create_model("unet-small", base_channels=4).state_dict()).save(
        tmp_path / "m.pt"
    )
    out = tmp_path / "eval.json"
    run("evaluate", "--model", str(tmp_path / "m.pt"), "--data", str(tiny_root), "--json", str(out))
    res = json.loads(out.read_text())
    documented = readme_evaluate_keys()
    assert set(res) == set(documented)
    assert res["schema"] == JSON_SCHEMA and f"`{JSON_SCHEMA}`" in documented["schema"]
    deprecated = {key for key, item in documented.items() if "(deprecated)" in item.split(": ")[0]}
    assert deprecated == set(DEPRECATED_KEYS)
    for old, new in DEPRECATED_KEYS.items():
        assert res[old] == res[new], old
        assert f"`{new}`" in documented[old]  # the README names what replaces it
