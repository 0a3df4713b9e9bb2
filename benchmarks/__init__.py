"""idpctl's benchmark: idpctl against a per-resource baseline on the local Graph emulator.

Run it with `./scripts/bench` (or `.venv/bin/python -m benchmarks [--quick]`); see README.md.
"""
