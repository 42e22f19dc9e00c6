"""The ``ptm`` command line: serve, set up, demo data, workers, audit and royalties."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _royalties(argv: Sequence[str]) -> int:
    from royalties.cli import main as royalties_main  # noqa: PLC0415

    return royalties_main(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ptm`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "royalties":
        return _royalties(args[1:])
    parser = argparse.ArgumentParser(prog="ptm", description="PTM Ledger")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("royalties", help="nickel royalty base price (PBLRN): ptm royalties --help")
    parser.parse_args(args)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
