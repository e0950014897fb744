"""The seed's quick command ``python test_setup.py``: checks the installation.

Same as ``personseg doctor``.
"""

import argparse
import sys

from personseg.doctor import doctor

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", metavar="ROOT", help="also check this data root")
    sys.exit(doctor(parser.parse_args().data))
