# Mixed Models in Python: build, test and serve the book.
# `make book` and `make test` are all a newcomer needs; both create .venv on first use.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8000

.PHONY: help venv book test student wheelhouse bench check serve lab clean

help:
	@echo "make book   build the site into _build/html (executes every notebook)"
	@echo "make test   run the whole test suite"
	@echo "make student  write the student notebooks (no solutions) and a zip to _build/student"
	@echo "make wheelhouse  download the student packages as wheels, per system and Python,"
	@echo "            into _build/wheelhouse for installs without the internet"
	@echo "            (TARGET=windows-amd64 make wheelhouse for one system)"
	@echo "make bench  print execution and build times, and helpers.lmer/glmer against statsmodels and lme4"
	@echo "make check  check that this computer is ready for the notebooks"
	@echo "make serve  serve the built site on http://127.0.0.1:$(PORT)"
	@echo "make lab    open JupyterLab on the chapters"
	@echo "make clean  remove _build (the site and the execution cache)"

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build . -W -n --keep-going
	@echo "The site is in _build/html: open _build/html/index.html, or run 'make serve'."

test: $(STAMP)
	$(BIN)/python -m pytest

student: $(STAMP)
	$(BIN)/python tools/student.py _build/student

# Wheels for installing the student notebooks without the internet (tools/wheelhouse.py).
# TARGET picks one system or one system-and-Python, e.g. TARGET=macos-arm64-py3.12.
wheelhouse: $(STAMP)
	$(BIN)/python tools/wheelhouse.py _build/wheelhouse $(if $(TARGET),--target $(TARGET))

bench: $(STAMP)
	$(BIN)/python tools/bench.py
	$(BIN)/python tools/bench_lmer.py
	$(BIN)/python tools/bench_glmer.py
	$(BIN)/python tools/bench_power.py
	$(BIN)/python tools/bench_bootstrap.py

check: $(STAMP)
	$(BIN)/python -m helpers.check_setup

serve:
	@test -f _build/html/index.html || { echo "No site yet: run 'make book' first."; exit 1; }
	@echo "Serving the book on http://127.0.0.1:$(PORT) (Ctrl-C to stop)"
	$(BIN)/python -m http.server $(PORT) --bind 127.0.0.1 --directory _build/html

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=chapters

clean:
	rm -rf _build
