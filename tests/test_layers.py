"""The package's layers hold: the import-linter contract of pyproject.toml, and using a model
loads no training code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import ENV, REPO


def test_import_contracts_are_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run(
        [str(lint)], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken" in proc.stdout  # the layers; serve uses inference only


PROBE = """
import json, sys
import cv2, numpy, PIL.Image, torch, yaml  # what using a model needs anyway
before = set(sys.modules)
from personseg import Segmenter
seg = Segmenter.load("default")
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_using_a_model_imports_no_training_code():
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], env=ENV, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "personseg.inference.segmenter" in loaded  # the probe did load personseg
    heavy = ("albumentations", "matplotlib", "tqdm")
    bad = [
        m
        for m in loaded
        if m.split(".")[0] in heavy
        or m.startswith(("personseg.engine", "personseg.export", "personseg.cli"))
        or m
        in (
            "personseg.data.synth",
            "personseg.data.transforms",
            "personseg.viz",
            "personseg.inference.video",  # imports tqdm (which torch loads anyway)
            "personseg.inference.run",  # imports matplotlib figures
        )
    ]
    assert not bad, bad
