"""Allow `python -m onpyrunner`."""

from onpyrunner.cli import main

raise SystemExit(main())
