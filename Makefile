# govcloud — `make demo` and `make test` are all a newcomer needs (see README.md).

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.stamp-install
# Debian packages the tests or the demo need (e.g. tmux openssh-server prometheus; postgresql
# for the high-availability tests' own primary and standby, tests/integration/ha); checked
# with dpkg first, so nothing is installed or updated when they are already there.
APT_PACKAGES := tmux openssh-server rsync prometheus fonts-wqy-microhei poppler-utils postgresql

.PHONY: install apt test lint demo conformance bench clean test-realcloud mutation-gate test-dr-crash test-ha

install: apt $(STAMP)

apt:
	@scripts/ensure-apt.sh $(APT_PACKAGES)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when pyproject.toml changed since the last install.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# three worker processes on the two cores, a test file's tests in the same one (its
# module-scoped servers start once): most tests wait on a server, an sshd or a playbook rather
# than on the CPU (a quiet run with two workers kept 1.27 cores busy on average, 34 min). The
# files are handed out longest first (tests/schedule.py), not by their number of tests. The
# kill -9 and high-availability stages restart servers under a deadline: two workers there.
PYTEST_WORKERS ?= 3
STAGE_WORKERS ?= 2

# The tree's bytecode is written first: where the environment sets PYTHONDONTWRITEBYTECODE (as
# some CI images do), every `govcloud serve`, worker child, CLI and simulator process a test
# starts would otherwise compile the sources again (~0.7 s CPU a server process).
test: lint
	$(BIN)/python -m compileall -q -j 0 govcloud monitors tui
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder \
	    -m "not dr_crash_steps and not ha"

# high availability with real PostgreSQL primary and standby clusters and serve replicas
# (tests/integration/ha, docs/high-availability.md): a CI stage of its own, as the above
test-ha: install
	$(BIN)/pytest -n $(STAGE_WORKERS) --dist loadfile -m ha tests/integration/ha

# kill -9 at every step of drills and failovers (docs/dr.md, "Crashes"): a minute or more per
# step, so a CI stage of its own; GOVCLOUD_TEST_EVERY_STEP=0 for a representative few
test-dr-crash: install
	GOVCLOUD_TEST_EVERY_STEP=$${GOVCLOUD_TEST_EVERY_STEP:-1} \
	    $(BIN)/pytest -n $(STAGE_WORKERS) --dist loadfile -m dr_crash_steps tests/integration/dr

# break each promise's critical line in a copy of the tree and check its tests fail
# (docs/testing.md); PostgreSQL mutations need GOVCLOUD_TEST_DATABASE_URL, as .ci/run sets;
# two at a time (one per core, each in a copy of its own)
mutation-gate: install
	$(BIN)/python scripts/mutation_gate.py -j 2

demo: install
	$(BIN)/govcloud demo

conformance: install
	$(BIN)/python -m tests.conformance.run

# a real three-region OpenStack on loopback, govcloud's real-cloud suite against it, then stop
# (docs/real-openstack.md)
test-realcloud: install
	tests/realcloud/run.sh

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf build *.egg-info .mypy_cache .ruff_cache .pytest_cache
