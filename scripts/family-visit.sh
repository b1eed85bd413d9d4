#!/usr/bin/env bash
# Issue 17's visit to the GPU machine (the `device` tool, `.device` carried; prepare as
# scripts/gpu-visit.sh says, plus .device/old-tree.tar.xz: the native sources, kernels and
# compiled JavaScript of the commit to compare with, see STEP=ab below).
#   STEP=check (default): writes the family fixtures with transformers (scripts/make_family_fixtures.py,
#     in the background) while this tree's addon and the old one build, then runs backend_check
#     and test/gpu (the CUDA engine against the float64 reference and against the fixtures).
#   THEN_AB=1 goes on with STEP=ab in the same call; GPU_TESTS names the test/gpu files to run;
#   DEADLINE (seconds) skips the throughput runs that would start later than that.
#   STEP=ab: issue 5's batch-1 decode and throughput cases (bench/gpu-bench.ts), this build and
#     the old one interleaved, ROUNDS times (default 2). Needs the builds of STEP=check on a
#     machine still warm, or builds them.
#   STEP=parity: for each of CONFIGS (default: qwen2.5-7b qwen3-8b mistral-7b gemma-2-9b, from
#     bench/configs; LAYERS=n keeps n layers), a random bf16 checkpoint by transformers
#     (scripts/make_random_family.py), the CUDA engine's greedy logits on it
#     (scripts/hf-parity-prepare.ts --dir) and transformers' bf16 and fp32 against them
#     (scripts/hf_parity.py): issue 5's parity method at each family's 7-9B shape.
#   STEP=speed: the whole benchmark of each of CONFIGS (bench/gpu-bench.ts --config, about 3 min
#     each: name one or two a call) and its ratios to this GPU's limits (bench/targets.ts).
# Everything lands in $OUT: families.tgz (the fixtures), the logs and summary.txt, printed last.
set -u
OUT=${OUT:-/tmp/out}
R=/tmp/results
mkdir -p "$OUT" "$R"
t0=$(date +%s)
stamp() { echo "[$(($(date +%s) - t0)) s] $*" | tee -a "$R/summary.txt"; }
NEW=$(pwd)

if [ ! -x /usr/local/bin/node ]; then
  tar -C /usr/local/bin -xJf .device/node.tar.xz || { stamp "no .device/node.tar.xz"; exit 1; }
fi
[ -d node_modules/cmake-js ] || tar -xJf .device/node_modules.tar.xz
export PATH=/usr/local/cuda/bin:$PATH NODELLM_CUDA_ARCHS=${NODELLM_CUDA_ARCHS:-90a}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$R/summary.txt"

build_old() {
  [ -f /tmp/old/build/Release/nodellm.node ] && return 0
  mkdir -p /tmp/old && tar -C /tmp/old -xJf .device/old-tree.tar.xz && cp -r node_modules /tmp/old/
  (cd /tmp/old && timeout 500 node node_modules/cmake-js/bin/cmake-js compile --log-level warn > "$R/build-old.log" 2>&1)
  echo "old build exit $?" >> "$R/build-old.log"
}
build_new() {
  timeout 500 node node_modules/cmake-js/bin/cmake-js compile --log-level warn > "$R/build.log" 2>&1
  stamp "build exit $?"
}

if [ "${STEP:-check}" = check ]; then
  (timeout 300 python3 scripts/make_family_fixtures.py /tmp/families > "$R/fixtures.log" 2>&1
   echo "fixtures exit $?" >> "$R/fixtures.log"; tar -C /tmp -czf "$OUT/families.tgz" families) &
  fixtures_pid=$!
  build_old &
  old_pid=$!
  build_new
  wait "$fixtures_pid"; stamp "$(tail -1 "$R/fixtures.log")"; grep -E "^[a-z0-9-]+: " "$R/fixtures.log" | tee -a "$R/summary.txt"
  timeout 150 ./build/Release/backend_check > "$R/backend-check.txt" 2>&1
  echo "exit $?" >> "$R/backend-check.txt"
  stamp "backend_check $(tail -1 "$R/backend-check.txt"), $(grep -c FAIL "$R/backend-check.txt") FAIL lines"
  grep FAIL "$R/backend-check.txt" | head -20 | tee -a "$R/summary.txt"
  if [ -f .device/vitest.tar.xz ]; then
    [ -d node_modules/vitest ] || tar -xJf .device/vitest.tar.xz
    mkdir -p test/fixtures && rm -rf test/fixtures/families && cp -r /tmp/families test/fixtures/families
    NODELLM_CHECK_LOGS=$R timeout 300 node node_modules/vitest/vitest.mjs run ${GPU_TESTS:-test/gpu} > "$R/test-gpu.txt" 2>&1
    stamp "test/gpu exit $?: $(grep -E '^ +Tests ' "$R/test-gpu.txt" | tail -1)"
    grep -E "on CUDA:|worst|FAIL|×" "$R/test-gpu.txt" | head -40 | tee -a "$R/summary.txt"
  fi
  wait "$old_pid"; stamp "$(tail -1 "$R/build-old.log")"
  [ "${THEN_AB:-0}" = 1 ] && STEP=ab
fi

if [ "${STEP:-check}" = ab ]; then
  [ -f build/Release/nodellm.node ] || build_new
  build_old
  stamp "$(tail -1 "$R/build-old.log" 2>/dev/null)"
  for round in $(seq "${ROUNDS:-2}"); do
    for which in new old; do
      dir=$NEW; [ "$which" = old ] && dir=/tmp/old
      line=$(cd "$dir" && timeout 120 node .device/js/bench/gpu-bench.js --only-batch1 2>&1 | tail -1)
      stamp "round $round $which: $line"
    done
  done
  for round in $(seq "${ROUNDS:-2}"); do
    for which in new old; do
      # Only while the call has time left (DEADLINE seconds from the start).
      [ $(($(date +%s) - t0)) -gt "${DEADLINE:-9999}" ] && { stamp "throughput round $round $which skipped: past the deadline"; continue; }
      dir=$NEW; [ "$which" = old ] && dir=/tmp/old
      line=$(cd "$dir" && timeout 150 node .device/js/bench/gpu-bench.js --only-throughput 2>&1 | tail -1)
      stamp "round $round $which: $line"
    done
  done
fi

CONFIGS=${CONFIGS:-qwen2.5-7b qwen3-8b mistral-7b gemma-2-9b}
if [ "${STEP:-check}" = parity ]; then
  [ -f build/Release/nodellm.node ] || build_new
  for c in $CONFIGS; do
    rm -rf "/tmp/m-$c" "/tmp/parity-$c"
    timeout 300 python3 scripts/make_random_family.py "bench/configs/$c" "/tmp/m-$c" ${LAYERS:+--layers $LAYERS} > "$R/make-$c.log" 2>&1
    stamp "$c: $(tail -1 "$R/make-$c.log")"
    timeout 300 bash -c "node .device/js/scripts/hf-parity-prepare.js /tmp/parity-$c --dir /tmp/m-$c --device cuda --prompts 4 --decode 32 \
      && python3 scripts/hf_parity.py /tmp/parity-$c $R/hf-parity-$c.json cuda:bfloat16 cuda:float32" > "$R/hf-parity-$c.log" 2>&1
    stamp "$c parity exit $?"; tail -4 "$R/hf-parity-$c.log" | tee -a "$R/summary.txt"
    rm -rf "/tmp/m-$c" "/tmp/parity-$c"
  done
fi
if [ "${STEP:-check}" = speed ]; then
  [ -f build/Release/nodellm.node ] || build_new
  [ -s "$R/gpu-roofline.json" ] || timeout 90 python3 scripts/gpu_roofline.py > "$R/gpu-roofline.json" 2>&1
  for c in $CONFIGS; do
    # The whole benchmark (batch 1, 64 requests, prefill, vLLM's throughput test) of the shape,
    # then issue 5's targets held to this GPU's limits for it (bench/targets.ts reads the shape).
    timeout 280 node .device/js/bench/gpu-bench.js --config "$c" --out "$R/gpu-bench-$c.json" > "$R/gpu-bench-$c.log" 2>&1
    stamp "$c gpu-bench exit $?"
    node .device/js/bench/targets.js "$R/gpu-bench-$c.json" "$R/gpu-roofline.json" 2>&1 | tee "$R/targets-$c.txt" | tee -a "$R/summary.txt"
  done
fi

for f in "$R"/*; do cp "$f" "$OUT/" 2>/dev/null; done
echo "---- summary"
cat "$R/summary.txt"
