"""The test suite; ROOT is the repository's root."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
