import { Command } from 'commander';
import { describe, expect, it } from 'vitest';

import { registerBench } from '../../lib/cli/bench.js';
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
      parse(['--gpu-memory-utilization', '0.5', '--num-gpu-blocks-override', '64', '--load-format', 'dummy', '--enforce-eager', '--max-model-len', '256', '--batch-invariant']),
    ).toEqual({ gpuMemoryUtilization: 0.5, numKvBlocks: 64, loadFormat: 'dummy', enforceEager: true, maxModelLen: 256, batchInvariant: true, device: 'auto' });
  });

  it('leave unset flags out', () => {
    expect(parse([])).toEqual({ device: 'auto' });
  });

  it('--no-async-scheduling turns launch-ahead off (it is on unless asked)', () => {
    expect(parse(['--no-async-scheduling'])).toEqual({ asyncScheduling: false, device: 'auto' });
  });

  it('refuse a share of GPU memory outside (0, 1], naming the flag', () => {
    expect(() => parse(['--gpu-memory-utilization', '1.5'])).toThrow(/--gpu-memory-utilization must be in \(0, 1\]/);
    expect(() => parse(['--gpu-memory-utilization', '0'])).toThrow(/--gpu-memory-utilization/);
    expect(() => parse(['--gpu-memory-utilization', 'abc'])).toThrow(
      '--gpu-memory-utilization must be a number in (0, 1], but received abc',
    );
    expect(() => parse(['--gpu-memory-utilization', ''])).toThrow(/--gpu-memory-utilization must be a number in \(0, 1\]/);
  });

  it('refuse a load format or device that does not exist, naming the flag and the choices', () => {
    expect(() => parse(['--load-format', 'pt'])).toThrow(/--load-format.*'pt'.*auto, safetensors, dummy/);
    expect(() => parse(['--device', 'tpu'])).toThrow(/--device.*'tpu'.*auto, cpu, cuda/);
  });
});

describe('bench serve flags', () => {
  // Parses `bench serve` argv as the CLI does (the action is never reached: parsing fails first).
  function parseServe(argv: string[]) {
    const program = new Command('nodellm').exitOverride().configureOutput({ writeErr: () => {} });
    registerBench(program);
    for (const c of program.commands) {
      c.exitOverride().configureOutput({ writeErr: () => {} });
      for (const sub of c.commands) sub.exitOverride().configureOutput({ writeErr: () => {} });
    }
    program.parse(['bench', 'serve', ...argv], { from: 'user' });
  }

  it('refuse a request rate or burstiness that is not a positive number, naming the flag', () => {
    expect(() => parseServe(['--request-rate', '0'])).toThrow('--request-rate must be a positive number or inf, but received 0');
    expect(() => parseServe(['--request-rate', 'abc'])).toThrow('--request-rate must be a positive number or inf, but received abc');
    expect(() => parseServe(['--request-rate', '-1'])).toThrow(/--request-rate must be a positive number/);
    expect(() => parseServe(['--burstiness', '0'])).toThrow('--burstiness must be a positive number, but received 0');
    expect(() => parseServe(['--burstiness', 'inf'])).toThrow('--burstiness must be a positive number, but received inf');
  });
});
