# The two commands a user needs: `make run` (set-up, build, default job) and `make test`.
BUILD_DIR ?= build
JOBS ?= 2
BIGBATCH := $(BUILD_DIR)/bigbatch

.PHONY: all deps configure build run test asan-test asan-unit fuzz bench clean format
all: build

deps:
	scripts/install-deps

configure: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release

build: configure
	cmake --build $(BUILD_DIR) -j$(JOBS)

# The default job: ResNet-20 on Fashion-MNIST at kn = 1024 = 32 virtual workers x 32.
run: build
	$(BIGBATCH) train --config experiments/fmnist_resnet20.toml --overwrite on

# Tests that time things carry the RUN_SERIAL property, so -j never overlaps them.
test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j$(JOBS)

# The unit tests under AddressSanitizer + UndefinedBehaviorSanitizer (g++, build-asan/). ASAN_TESTS
# chooses what runs (ctest arguments): by default not the mpirun tests (Open MPI's own allocations
# show as leaks), the PyTorch ones (slow) or cli.bench (it times steps).
ASAN_DIR ?= build-asan
ASAN_TESTS ?= -LE 'mpi|pytorch' -E '^cli\.bench$$'
asan-test: deps
	cmake --preset asan
	cmake --build $(ASAN_DIR) -j$(JOBS)
	ctest --test-dir $(ASAN_DIR) --output-on-failure -j$(JOBS) $(ASAN_TESTS)

# The part of the unit tests CI runs under ASan+UBSan: core, io and data (every parser of an
# untrusted file) and the fuzz replays of their formats; these libraries build in minutes, the
# rest (oneDNN kernels, the CLI) would take most of CI's half hour under the sanitizers.
ASAN_UNIT_TARGETS := core_test io_test data_test image_input_test fuzz_seeds \
  $(foreach t,safetensors idx cifar shards jpeg,fuzz_$(t)_replay)
asan-unit: deps
	cmake --preset asan
	cmake --build $(ASAN_DIR) -j$(JOBS) --target $(ASAN_UNIT_TARGETS)
	ctest --test-dir $(ASAN_DIR) --output-on-failure -j$(JOBS) -L sanitize

# libFuzzer targets (fuzz/README.md): clang, every library instrumented, in build-fuzz/.
# Needs clang-14 libclang-rt-14-dev libomp-14-dev. Then fuzz/run.sh -t SECONDS TARGET...
FUZZ_CXX ?= clang++-14
fuzz: deps
	cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=$(FUZZ_CXX) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBIGBATCH_FUZZ=ON \
	  -DBIGBATCH_TESTS=OFF -DBIGBATCH_CUDA=OFF -DBIGBATCH_NCCL=OFF -DBIGBATCH_MPI=OFF -DBIGBATCH_WERROR=OFF
	cmake --build build-fuzz -j$(JOBS) --target fuzz

bench: build
	bench/compare.sh

clean:
	rm -rf $(BUILD_DIR)

format:
	find src tests bench dev -name '*.h' -o -name '*.cpp' -o -name '*.cu' 2>/dev/null | xargs -r clang-format -i
