import { Command } from 'commander';
import { describe, expect, it } from 'vitest';

import { addEngineFlags, engineOptionsFromFlags } from '../../lib/cli/engine-flags.js';

// Parses argv the way `nodellm serve` does and returns the options LLM.load() would get.
function parse(argv: string[]) {
  const command = addEngineFlags(new Command('serve')).exitOverride().configureOutput({ writeErr: () => {} });
  command.parse(argv, { from: 'user' });
  return engineOptionsFromFlags(command.opts());
}

describe('engine flags', () => {
  it("map vLLM's flag names onto the engine options", () => {
    expect(
      parse(['--gpu-memory-utilization', '0.5', '--num-gpu-blocks-override', '64', '--load-format', 'dummy', '--enforce-eager', '--max-model-len', '256']),
    ).toEqual({ gpuMemoryUtilization: 0.5, numKvBlocks: 64, loadFormat: 'dummy', enforceEager: true, maxModelLen: 256, device: 'auto' });
  });

  it('leave unset flags out', () => {
    expect(parse([])).toEqual({ device: 'auto' });
  });

  it('refuse a share of GPU memory outside (0, 1], naming the flag', () => {
    expect(() => parse(['--gpu-memory-utilization', '1.5'])).toThrow(/--gpu-memory-utilization must be in \(0, 1\]/);
    expect(() => parse(['--gpu-memory-utilization', '0'])).toThrow(/--gpu-memory-utilization/);
  });
});
