.PHONY: demo test bench lint conformance
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
