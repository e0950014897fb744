"""The seed's quick command: ``python inference.py --image test.jpg --visualize``.

Runs ``personseg predict`` on one image; other flags (``--model``, ``--out``, ``--threshold``)
are passed through. Without ``--model`` the bundled default model is used.
"""

import argparse
import sys

from personseg.cli import main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Other flags go to `personseg predict` (see `personseg predict --help`).",
    )
    parser.add_argument("--image", required=True, action="append", help="image to segment")
    args, rest = parser.parse_known_args()
    sys.exit(main(["predict", *args.image, *rest]))
