.PHONY: demo test bench bench-throttled lint
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
