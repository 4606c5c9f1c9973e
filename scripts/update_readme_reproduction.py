"""Regenerate README.md's "Reproducing the paper" table from a reproduction's results.json.

    python scripts/update_readme_reproduction.py outputs/reproduce_cpu/results.json
"""

import sys

from hf_geommem.reproduce import update_readme

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(f"updated {update_readme(sys.argv[1], 'README.md')}")
