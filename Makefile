# The two commands a user needs: `make run` (set-up, build, default job) and `make test`.
BUILD_DIR ?= build
JOBS ?= 2
BIGBATCH := $(BUILD_DIR)/bigbatch

.PHONY: all deps configure build run test bench clean format
all: build

deps:
	scripts/install-deps

configure: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release

build: configure
	cmake --build $(BUILD_DIR) -j$(JOBS)

# The default job: ResNet-20 on Fashion-MNIST at kn = 1024 = 32 virtual workers x 32.
run: build
	$(BIGBATCH) train --config experiments/fmnist_resnet20.toml

# Tests that time things carry the RUN_SERIAL property, so -j never overlaps them.
test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j$(JOBS)

bench: build
	bench/compare.sh

clean:
	rm -rf $(BUILD_DIR)

format:
	find src tests bench dev -name '*.h' -o -name '*.cpp' -o -name '*.cu' 2>/dev/null | xargs -r clang-format -i
