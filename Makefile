.PHONY: demo test bench lint conformance acceptance acceptance-sweep
demo:
	./scripts/demo
test:
	./scripts/test
bench:
	./scripts/bench
lint:
	./scripts/bootstrap && .venv/bin/ruff check .
conformance:
	./scripts/conformance $(FIXTURES)
acceptance:
	./scripts/bootstrap && .venv/bin/python -m pytest -n 0 -rs tests/test_acceptance.py
acceptance-sweep:
	./scripts/acceptance-sweep $(PREFIX)
