"""The seed's quick command: ``python train.py --epochs 50 --batch-size 8``.

Same flags and behaviour as ``personseg train`` (see ``personseg train --help``).
"""

import sys

from personseg.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
