#!/usr/bin/env bash
# Packs vitest and what it needs on linux-x64 into .device/vitest.tar.xz, so the GPU test suite
# (test/gpu) runs on the GPU machine, which has no npm: ../shared/device/pack.sh takes the
# production dependencies, and vitest is a development one. The package list is vitest's
# dependency closure read from package-lock.json, less what is not installed here (other
# platforms' binaries).
#   scripts/pack-vitest.sh   (from the project's root, after ../shared/device/pack.sh)
# On the GPU machine: tar -xJf .device/vitest.tar.xz && node node_modules/vitest/vitest.mjs run test/gpu
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
mkdir -p .device
node -e '
const lock = require("./package-lock.json").packages;
// Where Node would find `name` from the package at `from` (nested node_modules first).
function resolve(from, name) {
  for (let base = from; ; ) {
    const path = (base ? base + "/" : "") + "node_modules/" + name;
    if (lock[path]) return path;
    if (!base) return null;
    const i = base.lastIndexOf("/node_modules/");
    base = i >= 0 ? base.slice(0, i) : "";
  }
}
const seen = new Set();
const stack = ["node_modules/vitest"];
while (stack.length) {
  const path = stack.pop();
  if (seen.has(path)) continue;
  seen.add(path);
  const entry = lock[path];
  for (const dep of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies })) {
    const found = resolve(path, dep);
    if (found) stack.push(found);
  }
}
console.log([...seen].sort().join("\n"));
' | while read -r p; do [ ! -e "$p" ] || echo "$p"; done > .device/vitest-paths.txt  # other platforms' are not installed
tar -cJf .device/vitest.tar.xz --exclude='*.map' -T .device/vitest-paths.txt
du -sh .device/vitest.tar.xz
