// "..., but received X": an empty string, list or object is named as such ("received an empty
// list", not "received an array" or a blank), wherever the message is made; other values read as
// before.
import { describe, expect, it } from 'vitest';

import { jsonStringList, number, positiveNumber } from '../../lib/cli/arguments.js';
import { validateEngineOptions } from '../../lib/config/engine-options.js';
import type { EngineOptions } from '../../lib/config/engine-options.js';
import { resolveSamplingParams } from '../../lib/engine/sampling-params.js';
import type { SamplingParams } from '../../lib/engine/sampling-params.js';
import { describeEmpty } from '../../lib/errors.js';

const LIMITS = { vocabSize: 100, maxLogprobs: 20 };
const samplingError = (params: Record<string, unknown>) => {
  try {
    resolveSamplingParams(params as SamplingParams, LIMITS);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('accepted');
};
const engineError = (options: Record<string, unknown>) => {
  try {
    validateEngineOptions(options as EngineOptions);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('accepted');
};

describe('describeEmpty', () => {
  it.each([
    ['', 'an empty string'],
    [[], 'an empty list'],
    [{}, 'an empty object'],
    ['x', undefined],
    [[0], undefined],
    [{ a: 1 }, undefined],
    [0, undefined],
    [null, undefined],
    [false, undefined],
  ])('%j: %s', (value, expected) => {
    expect(describeEmpty(value)).toBe(expected);
  });
});

describe('sampling parameters', () => {
  it.each([
    [{ temperature: '' }, 'Invalid value for temperature: must be a number, but received an empty string'],
    [{ temperature: [] }, 'Invalid value for temperature: must be a number, but received an empty list'],
    [{ temperature: {} }, 'Invalid value for temperature: must be a number, but received an empty object'],
    [{ stop_token_ids: {} }, 'Invalid value for stop_token_ids: must be an array, but received an empty object'],
    [{ logit_bias: [] }, 'Invalid value for logit_bias: must be an object, but received an empty list'],
    // Not empty: as before.
    [{ temperature: [1] }, 'Invalid value for temperature: must be a number, but received an array'],
    [{ temperature: { a: 1 } }, 'Invalid value for temperature: must be a number, but received an object'],
    [{ temperature: 'hot' }, 'Invalid value for temperature: must be a number, but received "hot"'],
    [{ top_p: 5 }, 'Invalid value for top_p: must be in (0, 1], but received 5'],
    [{ seed: 1.5 }, 'Invalid value for seed: must be an integer, but received 1.5'],
  ])('%j', (params, message) => {
    expect(samplingError(params)).toBe(message);
  });
});

describe('engine options', () => {
  it.each([
    [{ maxModelLen: '' }, /^Invalid engine option maxModelLen: .*, but received an empty string$/],
    [{ maxModelLen: [] }, /^Invalid engine option maxModelLen: .*, but received an empty list$/],
    [{ maxModelLen: {} }, /^Invalid engine option maxModelLen: .*, but received an empty object$/],
    [{ maxModelLen: [1] }, /^Invalid engine option maxModelLen: .*, but received \[1\]$/],
    [{ gpuMemoryUtilization: 1.5 }, /^Invalid engine option gpuMemoryUtilization: must be in \(0, 1\], but received 1.5$/],
  ])('%j', (options, message) => {
    expect(engineError(options)).toMatch(message);
  });
});

describe('command-line values', () => {
  it('an empty value is named as such', () => {
    expect(() => positiveNumber('--request-timeout')('')).toThrow('--request-timeout must be a positive number, but received an empty string');
    expect(() => number('--x', { min: 0, max: 1 })('')).toThrow('--x must be a number in [0, 1], but received an empty string');
    expect(() => jsonStringList('--allowed-origins')('')).toThrow(`--allowed-origins must be a JSON list of strings, e.g. '["*"]', but received an empty string`);
  });

  it('other values as they came', () => {
    expect(() => positiveNumber('--request-timeout')('-1')).toThrow('--request-timeout must be a positive number, but received -1');
    expect(() => jsonStringList('--allowed-origins')('{"a": 1}')).toThrow(`--allowed-origins must be a JSON list of strings, e.g. '["*"]', but received {"a": 1}`);
  });

  it('a JSON list of strings is taken as it is (an empty one too)', () => {
    expect(jsonStringList('--allowed-origins')('["https://a.example", "*"]')).toEqual(['https://a.example', '*']);
    expect(jsonStringList('--allowed-origins')('[]')).toEqual([]);
  });
});
