.PHONY: demo test bench lint
demo:
	./scripts/demo
test:
	./scripts/test
bench:
	./scripts/bench
lint:
	./scripts/bootstrap && .venv/bin/ruff check .
