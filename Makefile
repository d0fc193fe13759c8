# Two commands on a fresh machine with Python 3.11 and make:
#   make lab    create the environment if missing, open the chapters in JupyterLab
#   make test   create the environment if missing, run unit tests and nbval over chapters/
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: env lab test chapters clean

env: $(STAMP)

# (Re)install whenever the pins or the package metadata change.
$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -r requirements.txt
	touch $(STAMP)

# Jupyter refuses to run as root unless told (containers, cloud shells); a normal user needs nothing.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: $(STAMP)
	$(BIN)/jupyter lab $(ROOT_FLAG) chapters/

test: $(STAMP)
	$(BIN)/python -m pytest

# Restart & Run All on every chapter, saving outputs (run before committing a chapter).
chapters: $(STAMP)
	$(BIN)/python -m vitlearn.notebooks chapters/*.ipynb

clean:
	rm -rf $(VENV) .pytest_cache
