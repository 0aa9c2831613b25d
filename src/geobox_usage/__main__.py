"""``python -m geobox_usage``: the same command line as ``geobox-usage``."""

from geobox_usage.cli import main

raise SystemExit(main())
