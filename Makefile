# Two entry points: `make demo` (set up + run the main job on the sample) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
# Minutes of training in the demo: the epochs are sized to fit this machine's measured speed.
DEMO_MINUTES ?= 6

.PHONY: demo test venv clean bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(TEST_STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m fashion.cli.demo --minutes $(DEMO_MINUTES)

test: $(TEST_STAMP)
	$(PY) -m pytest -q

bench: $(TEST_STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) runs data/sample
