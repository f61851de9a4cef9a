# evy: build, test, bench. `make test` is what CI and the README run.
NPM ?= npm
NATIVE := build/Release/evy.node
TS_OUT := dist/index.js
C_SRC := $(wildcard src/*.c src/*.h) binding.gyp
TS_SRC := $(shell find runtime -name '*.ts') tsconfig.json

.PHONY: all build test bench demo leakcheck clean distclean

all: build

# npm install also builds the native hub (install script) and the TypeScript (prepare).
node_modules/.package-lock.json: package.json
	$(NPM) install --no-audit --no-fund
	@touch $@

$(NATIVE): $(C_SRC) node_modules/.package-lock.json
	$(NPM) run --silent build:native

$(TS_OUT): $(TS_SRC) node_modules/.package-lock.json
	$(NPM) run --silent build:ts

build: $(NATIVE) $(TS_OUT)

# Test prerequisites from Debian, installed once (the browser test needs chromium).
test: build
	tests/setup/chromium.sh
	node tests/run.mjs

# Every benchmark, each printing its figures side by side with its peers (several minutes).
bench: build
	bench/run.sh
	bench/echo.sh
	node bench/idle.mjs
	bench/tls.sh
	bench/http_patch.sh
	node bench/startup.mjs
	./bin/evy run bench/file_read.ts
	./bin/evy run --no-patch bench/promises.ts
	bench/wsgi.sh
	bench/https_storm.sh
	bench/websocket.sh

demo: build
	./bin/evy run examples/hello.ts

# The native hub under valgrind: no definite leaks, no errors in evy.node.
leakcheck: build
	valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=1 \
	  --suppressions=tests/native/v8.supp node --expose-gc tests/native/leakcheck.js
	valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=1 \
	  --suppressions=tests/native/v8.supp node --expose-gc tests/tools/watchdog_leakcheck.js

clean:
	rm -rf build dist

distclean: clean
	rm -rf node_modules
