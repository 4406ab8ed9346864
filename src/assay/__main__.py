"""``python -m assay``: the ``assay`` console script (:func:`assay.cli.main`)."""

from __future__ import annotations

from assay.cli import main

if __name__ == "__main__":
    main()
