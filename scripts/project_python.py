"""Scripts run with the project's virtualenv: their shebang is `python3`, which may lack the
dependencies (pykka, tenacity, …) that `.venv` has after the README's install command."""

from __future__ import annotations

import os
import sys
from pathlib import Path

VENV_PYTHON = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "python"


def reexec_in_project_venv() -> None:
    """Re-run this script with .venv's Python when it exists and is not the one running."""
    if VENV_PYTHON.exists() and Path(sys.prefix).resolve() != VENV_PYTHON.parents[1].resolve():
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), *sys.argv])
