# scorehmr_ros: every target sets up the virtual environment it needs (scripts/setup.sh is
# idempotent and returns in well under a second when nothing changed).
SHELL := /bin/bash
VENV ?= $(CURDIR)/.venv
PY := $(VENV)/bin/python
export SCOREHMR_VENV := $(VENV)
# DDS stays on this machine unless the user says otherwise.
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST

.PHONY: setup demo smoke test test-slow lint format bench bench-accuracy bench-speed bench-node soak ablations ablate-regressor clean

setup:
	@bash scripts/setup.sh

demo: setup  ## the main job (README command 1): two people replayed (looped) -> node -> MCAP; steady-state summary, overlay, 3D plot
	$(PY) -m scorehmr_ros.ros.demo --people 2 --out $(CURDIR)/out/demo

smoke: setup  ## two-process DDS smoke run (messages, TF, image round trip)
	$(PY) -m scorehmr_ros.ros.smoke

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: setup lint  ## README command 2 (what CI runs): lint + the default test suite
	$(PY) -m pytest -q -rs

test-slow: setup  ## slower checks excluded from the default run
	$(PY) -m pytest -q -rs -m slow

bench: bench-accuracy bench-speed bench-node  ## benchmarks (numbers, not tests)

bench-accuracy: setup  ## regressor vs SMPLify vs ScoreHMR on the held-out clips (docs/eval/bench_*)
	$(PY) -m scorehmr_ros.eval.bench accuracy

bench-speed: setup  ## denoiser backends, refine() eager/full-mesh vs joints-only vs ONNX Runtime
	$(PY) scripts/bench_speed.py --threads 1

bench-node: setup  ## 3 cameras x 30 Hz into the node for 60 s: keypoints on topics (also batched), in-node MediaPipe (1 and 2 people)
	$(PY) scripts/bench_node.py --mode topic --seconds 60 --out docs/eval/node_topic.json
	$(PY) scripts/bench_node.py --mode topic --seconds 60 -p worker_queue_size:=3 -p max_sets_per_call:=3 \
		--out docs/eval/node_topic_batched.json
	$(PY) scripts/bench_node.py --mode mediapipe --seconds 60 --out docs/eval/node_mediapipe.json
	$(PY) scripts/bench_node.py --mode mediapipe --people 2 --seconds 60 --out docs/eval/node_mediapipe_2people.json
	$(PY) scripts/bench_node.py --mode mediapipe --seconds 60 -p limb_model:=none --out docs/eval/node_mediapipe_limbs_none.json
	$(PY) scripts/bench_node.py --mode mediapipe --seconds 60 -p pipeline_depth:=2 --out docs/eval/node_mediapipe_pipelined.json
	$(PY) scripts/bench_node.py --mode mediapipe --seconds 60 -p pipeline_depth:=2 -p limb_model:=none \
		--out docs/eval/node_mediapipe_pipelined_limbs_none.json
	$(PY) scripts/bench_node.py --mode mediapipe --people 2 --seconds 60 -p limb_model:=movenet_thunder \
		--out docs/eval/node_mediapipe_2people_limbs_movenet.json

soak: setup  ## 5-minute soak: output rate, drops, latency, RSS over time
	$(PY) scripts/bench_node.py --mode topic --seconds 300 --out docs/eval/soak.json

ablations: setup  ## training ablations (~40 min): regressor eval, augmentations, denoiser width, guidance tuning
	$(PY) scripts/eval_regressor.py --out docs/eval/regressor.json
	$(PY) scripts/ablate_augmentation.py --steps 2000
	mkdir -p out/priors
	for w in 256 512 1024; do $(PY) scripts/train_prior.py --steps 5000 --width $$w --out out/priors/prior_w$${w}_5k.pt || exit 1; done
	$(PY) scripts/compare_priors.py scorehmr_ros/data/denoiser.pt out/priors/prior_w256_5k.pt \
		out/priors/prior_w512_5k.pt out/priors/prior_w1024_5k.pt
	$(PY) scripts/tune_guidance.py

REGRESSORS := $(CURDIR)/out/regressors
ablate-regressor: setup  ## regressor training ablation (~25 min): mild corruption only (stage 1) vs + realistic fine-tuning (stage 2, shipped)
	mkdir -p $(REGRESSORS)
	$(PY) scripts/train_regressor.py --steps 10000 --corruption mild --out $(REGRESSORS)/mild_l1.pt
	$(PY) scripts/train_regressor.py --init $(REGRESSORS)/mild_l1.pt --steps 4000 --lr 3e-4 --seed 1 \
		--corruption realistic --out $(REGRESSORS)/realistic_ft.pt
	$(PY) scripts/compare_regressors.py mild=$(REGRESSORS)/mild_l1.pt mild+realistic=$(REGRESSORS)/realistic_ft.pt \
		--out docs/eval/regressor_corruption.json

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf build install log .pytest_cache
