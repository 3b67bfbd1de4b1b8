"""The ``margin`` command's entry point (also ``python -m margin``).

The command belongs to the server: in an SDK-only install (``pip install margin``) it says
which extra to install rather than failing on a missing module.
"""

from __future__ import annotations

import sys
from importlib.util import find_spec

__all__ = ["main"]

#: What the command needs beyond the SDK (all in the ``server`` extra).
_SERVER_MODULES = ("typer", "rich", "fastapi", "uvicorn", "sqlalchemy", "alembic")


def main() -> None:
    missing = [name for name in _SERVER_MODULES if find_spec(name) is None]
    if missing:
        if sys.argv[1:] == ["version"]:
            from margin._version import __version__

            print(__version__)
            return
        sys.stderr.write(
            "margin: the `margin` command runs the Margin server and needs its extra "
            f"(missing: {', '.join(missing)}).\n"
            "Install it with:  pip install 'margin[server]'\n"
            "(The SDK, `import margin`, works without it.)\n"
        )
        sys.exit(1)
    from margin.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
