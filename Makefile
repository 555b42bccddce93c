# taet — the two commands a newcomer needs:
#   make quickstart   set up this machine and run the main job on a small embedded default
#   make test         run the test suite
SHELL := /bin/bash
GO ?= go
# Debian packages the main job needs: the Fashion-MNIST data set and oneDNN's
# library (the CPU kernels, loaded at run time: taet builds and runs without it);
# npm and openssl only where the commands are missing (a machine may have Node.js
# from elsewhere).
DEB_PACKAGES := dataset-fashion-mnist libdnnl2
# What the tests add: the ONNX checker, PyTorch (the tests compare training with
# it, docs/fidelity.md), chromium (the test that opens taetctl report's HTML
# page), Slurm and munge (the sweep's one-node cluster test).
TEST_DEB_PACKAGES := python3-onnx python3-torch chromium slurm-wlm munge

.PHONY: setup deb test-deps ort build quickstart test bench bench-deps bench-compare bench-fit-rss clean

## setup: Debian packages (Fashion-MNIST, npm), ONNX Runtime, the taetctl binary
setup: deb ort build

deb:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done; \
	  command -v npm >/dev/null || echo npm; command -v openssl >/dev/null || echo openssl); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

ort:
	scripts/install-ort.sh

build:
	$(GO) build -o bin/taetctl ./cmd/taetctl

## quickstart: set up, then run the main job on long-tailed Fashion-MNIST
quickstart: setup
	scripts/quickstart.sh

## test-deps: the Debian packages of the main job and of the tests
test-deps:
	@$(MAKE) --no-print-directory deb DEB_PACKAGES="$(DEB_PACKAGES) $(TEST_DEB_PACKAGES)"

## test: the whole suite (what CI runs). It first installs what the tests need
## (make test-deps ort), and runs with CI=1, so a test that lacks the runtime,
## the ONNX checker, PyTorch, chromium, Slurm or Fashion-MNIST fails instead of
## skipping. The tests run under a one-node Slurm (scripts/slurm-local.sh),
## stopped afterwards.
test: test-deps ort
	$(GO) vet ./...
	scripts/slurm-local.sh run env CI=1 $(GO) test -timeout 20m ./...

## bench: the benchmarks (not run by CI)
bench:
	$(GO) test -run '^$$' -bench . -benchtime 2x -timeout 60m ./...

## bench-deps: what bench-compare needs besides Go (Debian's PyTorch, GNU time,
## and OpenBLAS, which becomes the libblas.so.3 that torch's nn.Linear calls
## instead of the reference BLAS)
bench-deps:
	@$(MAKE) --no-print-directory deb DEB_PACKAGES="python3-torch time libopenblas0-pthread"

## bench-compare: taet against PyTorch side by side (bench/compare.sh; ARGS=--quick for a smoke run)
bench-compare: deb ort bench-deps
	bench/compare.sh $(ARGS)

## bench-fit-rss: peak memory of a CIFAR-size taetctl fit against PyTorch's (bench/fit-rss.sh)
bench-fit-rss: deb ort bench-deps
	bench/fit-rss.sh $(ARGS)

clean:
	rm -rf bin
