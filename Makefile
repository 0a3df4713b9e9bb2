.PHONY: demo test bench bench-throttled lint conformance acceptance acceptance-sweep
demo:
	./scripts/demo
test:
	./scripts/test
bench:
	./scripts/bench

bench-throttled:
	./scripts/bootstrap
	.venv/bin/python -m benchmarks.throttled
lint:
	./scripts/bootstrap && .venv/bin/ruff check .
conformance:
	./scripts/conformance $(FIXTURES)
acceptance:
	./scripts/bootstrap && .venv/bin/python -m pytest -n 0 -rs tests/test_acceptance.py
acceptance-sweep:
	./scripts/acceptance-sweep $(PREFIX)
