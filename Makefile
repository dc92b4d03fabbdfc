# scorehmr_ros: every target sets up the virtual environment it needs (scripts/setup.sh is
# idempotent and returns in well under a second when nothing changed).
SHELL := /bin/bash
VENV ?= $(CURDIR)/.venv
PY := $(VENV)/bin/python
export SCOREHMR_VENV := $(VENV)
# DDS stays on this machine unless the user says otherwise.
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST

.PHONY: setup demo smoke test test-slow lint format bench clean

setup:
	@bash scripts/setup.sh

demo: setup  ## the main job (README command 1)
	$(PY) -m scorehmr_ros.ros.smoke

smoke: demo

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: setup lint  ## README command 2 (what CI runs): lint + the default test suite
	$(PY) -m pytest -q -rs

test-slow: setup  ## slower checks excluded from the default run
	$(PY) -m pytest -q -rs -m slow

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf build install log .pytest_cache
