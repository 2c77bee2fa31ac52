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

.PHONY: run test lint venv models clean

# --system-site-packages: Raspberry Pi OS ships picamera2/libcamera as system packages.
$(BIN)/activate:
	$(PYTHON) -m venv --system-site-packages $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[video,plot,eval,dev]'
	touch $@

venv: $(VENV)/.installed

models: venv
	$(BIN)/python -m edgepose models fetch --if-missing movenet_lightning_int8 squat

run: models
	$(BIN)/python -m edgepose run -c $(CONFIG)

test: venv
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/python -m ruff check edgepose tests
	$(BIN)/python -m ruff format --check edgepose tests

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
