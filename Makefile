.PHONY: run test test-fast lint bench frontend install lock system e2e clean

run:            ## install, migrate, seed the demo consortium and serve on :8000
	bash scripts/run.sh

test:           ## install everything and run the whole suite (SQLite, then PostgreSQL)
	bash scripts/test.sh

test-fast:      ## unit and API tests only, SQLite, no browser or R
	bash scripts/install.sh
	.venv/bin/python -m pytest -q -m "not e2e and not slow and not rref"

e2e:            ## browser tests only
	bash scripts/install.sh && bash scripts/install-system.sh
	.venv/bin/python -m pytest -q -m e2e

lint:           ## ruff, formatting, mypy --strict, import contracts
	bash scripts/install.sh
	bash scripts/lint.sh

bench:          ## benchmarks (results in benchmarks/results)
	bash scripts/install.sh && bash scripts/install-system.sh
	.venv/bin/python benchmarks/bench_surveillance.py
	.venv/bin/yiyun bench media
	.venv/bin/yiyun bench api

frontend:       ## rebuild the browser islands and styles
	bash scripts/build-frontend.sh

install:        ## create .venv with the locked Python packages (uv.lock) and npm packages
	bash scripts/install.sh

lock:           ## upgrade uv.lock on purpose (ARGS="--upgrade-package NAME" for one)
	bash scripts/lock.sh

system:         ## install the Debian packages (Chromium, Janus, coturn, R, ...)
	bash scripts/install-system.sh

clean:
	rm -rf var test-results src/yiyun/web/static/build
