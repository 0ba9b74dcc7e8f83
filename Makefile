# Thin wrapper over CMake. `make` builds, `make test` installs missing packages, builds and runs
# every test through ctest; `make demo` writes synthetic slides and runs the whole pipeline on them
# with `deepslide run --config configs/demo.toml --workdir demo` (scripts/demo.sh); `make bench`
# builds and runs the benchmark suite; `make fuzz` runs every fuzz target (tests/fuzz) FUZZ_TIME
# seconds each, `make fuzz-ci` each for 20 s (the fuzz step of .ci/run); `make format` applies
# .clang-format to every C++ file, `make format-check` lists the files it would change; `make
# accuracy-winograd` trains on Fashion-MNIST with and without Winograd (Winograd's numerics); `make
# accuracy-precision` checks the demo model's agreement across algorithms and precisions.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps configure build test bench fuzz fuzz-ci clean demo format format-check accuracy-winograd accuracy-precision

all: build

deps:
	bash scripts/install-deps.sh

configure:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: configure
	cmake --build $(BUILD) -j $(JOBS)

test: deps
	$(MAKE) build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 900

bench: build
	@for b in $(BUILD)/bench_*; do [ -x "$$b" ] && "$$b" || true; done

# Winograd's training numerics: 2 epochs on Fashion-MNIST (fetched once with npm) with --conv-algo
# direct, winograd and auto, validation accuracies within 0.5 points of direct
# (tests/winograd_train_accuracy.py; ~17 minutes, so not in `make test`).
accuracy-winograd:
	bash scripts/install-deps.sh --bench
	$(MAKE) build
	DEEPSLIDE=$(BUILD)/deepslide /usr/bin/python3 tests/winograd_train_accuracy.py

# Reduced precision and Winograd on a trained model: make demo's bundle diagnoses the demo's test slides with fp32
# direct (the reference), Winograd, auto, bf16 and int8; argmax, probability and diagnosis
# agreement against their bars (tests/precision_demo_agreement.py; minutes, so not in `make test`).
accuracy-precision: deps
	$(MAKE) build
	DEEPSLIDE=$(BUILD)/deepslide /usr/bin/python3 tests/precision_demo_agreement.py

# libFuzzer targets (clang, ASan + UBSan), FUZZ_TIME seconds each: tests/fuzz/run_fuzz.sh.
FUZZ_TIME ?= 60
fuzz:
	bash scripts/install-deps.sh --fuzz
	bash tests/fuzz/run_fuzz.sh $(FUZZ_TIME)

fuzz-ci:
	bash scripts/install-deps.sh --fuzz
	bash tests/fuzz/run_fuzz.sh --ci

demo: deps
	$(MAKE) build
	DEEPSLIDE=$(BUILD)/deepslide bash scripts/demo.sh

clean:
	rm -rf $(BUILD)

format:
	git ls-files '*.cpp' '*.h' | grep -v fixtures | xargs clang-format -i --style=file

format-check:
	git ls-files '*.cpp' '*.h' | grep -v fixtures | xargs clang-format --dry-run -Werror --style=file
