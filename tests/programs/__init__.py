"""Real programs the process layer is tested against (run them with sys.executable)."""

from pathlib import Path

HERE = Path(__file__).parent


def program(name: str) -> str:
    return str(HERE / name)
