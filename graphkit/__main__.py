"""``python -m graphkit``: the command line, as the ``graphkit`` command."""

from graphkit.cli import main

if __name__ == "__main__":
    main()
