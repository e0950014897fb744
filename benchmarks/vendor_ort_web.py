"""Refresh the copy of ONNX Runtime Web that the page runs the fast model on in the browser.

The page (``personseg serve``) loads ONNX Runtime Web from the server's own static files, never
a CDN, so that in-browser mode works on a machine with no internet. This script fetches the
pinned release from the npm registry with ``npm pack`` (needs npm, here only, never at run
time), checks the tarball against the registry's published integrity, and copies the three
files the page needs into ``src/personseg/serve/static/ort/`` with the licence and a
``SHA256SUMS`` file that the tests check the copies against:

- ``ort.wasm.min.mjs``: the WebAssembly-only build's JavaScript API (an ES module);
- ``ort-wasm-simd-threaded.mjs`` / ``.wasm``: its runtime (SIMD, threads where the page is
  cross-origin isolated).

Usage::

    python benchmarks/vendor_ort_web.py            # the pinned VERSION
    python benchmarks/vendor_ort_web.py --version 1.32.0 --integrity sha512-...  # a new pin
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "1.31.1"
INTEGRITY = (  # `npm view onnxruntime-web@1.31.1 dist.integrity`
    "sha512-5GeH+bWQ+HxM10z7erGlsWqryrwMbSvm/1tkIsKTT48g0fI19VXVVC435t4t7VsPdSQeS7NmuZPXrQ73k82URw=="
)
FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
DEST = Path(__file__).resolve().parents[1] / "src/personseg/serve/static/ort"
LICENSE = """MIT License

Copyright (c) Microsoft Corporation.

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def sha256sums(folder: Path) -> str:
    """``SHA256SUMS`` lines (``digest  name``) for the vendored files."""
    return "".join(
        f"{hashlib.sha256((folder / name).read_bytes()).hexdigest()}  {name}\n" for name in FILES
    )


def vendor(version: str, integrity: str, dest: Path = DEST) -> None:
    """Fetch ``onnxruntime-web@version``, check it, copy :data:`FILES` into ``dest``."""
    if shutil.which("npm") is None:
        sys.exit("npm is needed to fetch onnxruntime-web (apt-get install npm)")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            ["npm", "pack", f"onnxruntime-web@{version}", "--silent"],
            cwd=tmp, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        tarball = Path(tmp) / f"onnxruntime-web-{version}.tgz"
        algo, _, expected = integrity.partition("-")
        digest = base64.b64encode(hashlib.new(algo, tarball.read_bytes()).digest()).decode()
        if digest != expected:
            sys.exit(f"{tarball.name}: {algo} {digest} is not the pinned {expected}")
        with tarfile.open(tarball) as tar:
            tar.extractall(tmp, filter="data")
        dest.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            shutil.copyfile(Path(tmp) / "package/dist" / name, dest / name)
    (dest / "LICENSE").write_text(LICENSE)
    (dest / "VERSION").write_text(f"onnxruntime-web {version}\n{integrity}\n")
    (dest / "SHA256SUMS").write_text(sha256sums(dest))
    size = sum((dest / n).stat().st_size for n in FILES) / 1e6
    print(f"onnxruntime-web {version}: {len(FILES)} files, {size:.1f} MB in {dest}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default=VERSION)
    parser.add_argument("--integrity", default=INTEGRITY, help="the registry's dist.integrity")
    args = parser.parse_args()
    if args.version != VERSION and args.integrity == INTEGRITY:
        parser.error(
            "a new --version needs its --integrity: npm view onnxruntime-web@V dist.integrity"
        )
    vendor(args.version, args.integrity)


if __name__ == "__main__":
    main()
