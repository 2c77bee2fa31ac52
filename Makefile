# Two commands for a newcomer: `make run` and `make test`.
#
# Where ../shared exists (this project's CI and test machines), models and the sample image are
# read from it through EDGEPOSE_MODEL_DIRS instead of being downloaded.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SHARED ?= $(abspath ../shared)
CONFIG ?= config/edgepose.yaml
ifneq ($(wildcard $(SHARED)/models),)
export EDGEPOSE_MODEL_DIRS ?= $(SHARED)/models:$(SHARED)/images
export EDGEPOSE_SHARED ?= $(SHARED)
endif

.PHONY: run test test-pi test-service test-ha lint venv models clean preflight

# What a fresh Pi lacks (python3-venv, python3-picamera2, a 64-bit OS), said as the apt line to run.
preflight:
	@bash scripts/preflight.sh $(PYTHON)

# --system-site-packages: Raspberry Pi OS ships picamera2/libcamera as system packages.
$(BIN)/activate:
	@bash scripts/preflight.sh $(PYTHON)
	$(PYTHON) -m venv --system-site-packages $(VENV)

# Where apt's NumPy-bound modules (picamera2, simplejpeg) are visible, the venv keeps apt's NumPy:
# the constraint pins it (docs/raspberry-pi.md says why); elsewhere the constraint file is empty.
$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/python -m pip install --quiet --upgrade pip
	PYTHONPATH=. $(BIN)/python -m edgepose.syspackages constraints > $(VENV)/constraints.txt
	$(BIN)/python -m pip install --quiet -c $(VENV)/constraints.txt -e '.[video,plot,eval,dev]'
	PYTHONPATH=. $(BIN)/python -m edgepose.syspackages check
	touch $@

venv: $(VENV)/.installed

models: venv
	$(BIN)/python -m edgepose models fetch --if-missing movenet_lightning_int8 squat

run: preflight models
	MALLOC_ARENA_MAX=2 $(BIN)/python -m edgepose run -c $(CONFIG)  # as systemd/edgepose.service

# The system packages the suite needs (a broker, shellcheck, ffmpeg, chromium) are installed as
# root, or named with the apt line to run; the same list as CI's (scripts/test-packages.sh).
# About 15 minutes on 2 cores; the slowest tests are listed at the end.
test: venv
	@bash scripts/test-packages.sh test
	$(BIN)/python -m pytest -q --durations=10

# The emulated Raspberry Pi OS (Bookworm arm64 under qemu): builds and caches the root, installs the
# project there as on a Pi (scripts/install.sh and this Makefile's venv), runs the tests marked `pi`.
test-pi:
	@bash scripts/test-packages.sh pi
	bash scripts/test-pi.sh

# The service under a real systemd: boots a cached Debian Bookworm amd64 root with systemd-nspawn,
# installs with scripts/install.sh there, runs tests/service_systemd (marked service_systemd) from
# here against it, powers it off (docs/service.md).
test-service: venv
	@bash scripts/test-packages.sh service
	PYTHON=$(abspath $(BIN))/python bash scripts/test-service.sh

# A real Home Assistant (the newest, on Debian testing's Python 3.14) in a cached chroot on this
# machine's loopback, onboarded through its own APIs, with a real Mosquitto and the daemon on the
# shared video; runs tests/homeassistant (marked `ha`). docs/homeassistant.md gives the times.
test-ha: venv
	@bash scripts/test-packages.sh ha
	PYTHON=$(abspath $(BIN))/python bash scripts/test-ha.sh

lint: venv
	$(BIN)/python -m ruff check edgepose tests
	$(BIN)/python -m ruff format --check edgepose tests

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
