"""``python -m examples.data_api``."""

from examples.data_api.cli import app

app()
