"""One module per verb, each with `run(args) -> int`. With `cli.py`, the only code that prints."""
