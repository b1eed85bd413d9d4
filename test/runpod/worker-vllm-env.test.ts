// Every environment variable worker-vllm and the RunPod SDK read, per the reference notes (not
// per nodellm's own table), is accounted for: applied, logged as having no effect, or refused at
// start-up naming it. The list is test/fixtures/worker-vllm-env.json, a copy of what
// ../shared/reference/runpod-worker-spec.md names; where that file is present, the copy is
// checked against it.
import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { ConfigError, type WorkerConfig, readWorkerConfig, traceWorkerConfigReads } from '../../lib/config/worker-config.js';
import { shellSplit } from '../../lib/config/vllm-extra-args.js';
import { WORKER_ENV } from '../../lib/config/worker-env-table.js';
import { SPEC_FILE, readFixture, specAvailable, specEnvNames } from '../helpers/worker-spec-env.js';

const NO_BAKED = { localModelArgsPath: '/nonexistent/local_model_args.json' };
const BASE = {
  RUNPOD_WEBHOOK_POST_OUTPUT: 'http://127.0.0.1:2/done/$RUNPOD_POD_ID/$ID?gpu=y',
  RUNPOD_WEBHOOK_POST_STREAM: 'http://127.0.0.1:2/stream/$RUNPOD_POD_ID/$ID?gpu=y',
};
const read = (env: Record<string, string>) => readWorkerConfig({ ...BASE, ...env }, NO_BAKED);
const attempt = (env: Record<string, string>): { config: WorkerConfig | null; problems: string[] } => {
  try {
    return { config: read(env), problems: [] };
  } catch (error) {
    if (error instanceof ConfigError) return { config: null, problems: error.problems };
    throw error;
  }
};

const fixture = readFixture();
const reference = [
  ...fixture.variables.map((v) => v.name),
  ...fixture.engineFieldsNamedByA3.names,
  ...Object.keys(fixture.alsoNamedByIssue),
].filter((name, i, all) => all.indexOf(name) === i);
const byName = new Map(WORKER_ENV.map((v) => [v.name, v]));
const without = (config: WorkerConfig) => ({ ...config, notes: [] });

describe("worker-vllm's reference list", () => {
  it.skipIf(!specAvailable())('is what ../shared/reference/runpod-worker-spec.md names (§A.3, §A.6, §B.2)', () => {
    const fromSpec = specEnvNames(readFileSync(SPEC_FILE, 'utf8'));
    const listed = new Map<string, string[]>(fixture.variables.map((v) => [v.name, v.sections]));
    for (const name of Object.keys(fixture.notVariables)) listed.set(name, fromSpec.get(name) ?? ['(not in the spec)']);
    expect(Object.fromEntries([...fromSpec].sort())).toEqual(Object.fromEntries([...listed].sort()));
  });

  it('has no variable listed as not one too', () => {
    for (const name of reference) expect(fixture.notVariables, name).not.toHaveProperty(name);
    expect(reference.length).toBeGreaterThan(100);
  });

  const baseline = read({});

  it.each(reference)('%s is in nodellm\'s table; its sample is applied, logged naming it, or refused naming it', (name) => {
    const v = byName.get(name);
    expect(v, `${name} is missing from lib/config/worker-env-table.ts`).toBeDefined();
    expect(v!.sample).not.toBe(v!.default);
    const { config, problems } = attempt({ [name]: v!.sample });
    const named = problems.filter((p) => p.startsWith(`${name}: `));
    switch (v!.supported) {
      case 'default only':
        expect(named).toHaveLength(1);
        break;
      case 'no effect':
        expect(problems).toEqual([]);
        expect(without(config!)).toEqual(without(baseline));
        expect(config!.notes.filter((n) => n.includes(name))).toHaveLength(1);
        break;
      case 'partly':
        if (problems.length > 0) {
          expect(named).toHaveLength(1);
          break;
        }
      // falls through: a value it applies
      case 'yes':
        expect(problems).toEqual([]);
        expect(without(config!)).not.toEqual(without(baseline));
        break;
    }
  });
});

describe('the table drives the handling', () => {
  it('readWorkerConfig reads every variable of the table, and no other', () => {
    const names = traceWorkerConfigReads({}, NO_BAKED);
    expect([...names].filter((n) => !byName.has(n))).toEqual([]);
    expect(WORKER_ENV.map((v) => v.name).filter((n) => !names.has(n))).toEqual([]);
  });

  it('names each variable once', () => {
    expect(new Set(WORKER_ENV.map((v) => v.name)).size).toBe(WORKER_ENV.length);
  });

  it('every no-effect variable set at once: one line per reason, naming each', () => {
    const moot = WORKER_ENV.filter((v) => v.supported === 'no effect');
    const config = read(Object.fromEntries(moot.map((v) => [v.name, v.sample])));
    for (const v of moot) expect(config.notes.filter((n) => n.includes(`${v.name}`)), v.name).toHaveLength(1);
    expect(config.notes).toContain(
      "RUNPOD_SKIP_GPU_CHECK=true, RUNPOD_GPU_TEST_TIMEOUT=60, RUNPOD_GPU_MAX_ERROR_MESSAGES=5, RUNPOD_SKIP_AUTO_SYSTEM_CHECKS=true, RUNPOD_MIN_MEMORY_GB=8, RUNPOD_MIN_DISK_PERCENT=20, RUNPOD_MIN_CUDA_VERSION=12.4, RUNPOD_NETWORK_CHECK_TIMEOUT=10, RUNPOD_GPU_BENCHMARK_TIMEOUT=4 have no effect: nodellm runs none of the SDK's start-up fitness checks (a device that cannot load the model fails start-up)",
    );
  });

  it('secrets are never logged nor echoed in a start-up error', () => {
    const secrets = WORKER_ENV.filter((v) => v.secret);
    expect(secrets.map((v) => v.name)).toEqual(
      expect.arrayContaining(['HF_TOKEN', 'RUNPOD_AI_API_KEY', 'VLLM_API_KEY', 'BUCKET_ACCESS_KEY_ID', 'BUCKET_SECRET_ACCESS_KEY']),
    );
    const env = Object.fromEntries(secrets.map((v) => [v.name, v.sample]));
    const config = read({ ...env, VLLM_EXTRA_ARGS: '--hf-token hf_from_flag' });
    const text = JSON.stringify(config.notes);
    for (const v of secrets) expect(text).not.toContain(v.sample);
    expect(text).not.toContain('hf_from_flag');
    expect(config.hub.token).toBe('hf_from_flag');
    const refused = attempt({ ...env, VLLM_EXTRA_ARGS: '--hf-token hf_from_flag --made-up x', TENSOR_PARALLEL_SIZE: '2' }).problems.join('\n');
    for (const v of secrets) expect(refused).not.toContain(v.sample);
    expect(refused).not.toContain('hf_from_flag');
  });
});

describe('newer worker-vllm names', () => {
  it('SERVED_MODEL_NAME and RESPONSE_ROLE are applied as OPENAI_SERVED_MODEL_NAME_OVERRIDE and OPENAI_RESPONSE_ROLE are', () => {
    const config = read({ SERVED_MODEL_NAME: 'served', RESPONSE_ROLE: 'bot' });
    expect(config.engine.servedModelName).toBe('served');
    expect(config.handler.responseRole).toBe('bot');
    expect(read({ SERVED_MODEL_NAME: 'same', OPENAI_SERVED_MODEL_NAME_OVERRIDE: 'same' }).engine.servedModelName).toBe('same');
  });

  it('the old and new names must agree', () => {
    expect(attempt({ SERVED_MODEL_NAME: 'a', OPENAI_SERVED_MODEL_NAME_OVERRIDE: 'b', RESPONSE_ROLE: 'x', OPENAI_RESPONSE_ROLE: 'y', REVISION: 'r1', MODEL_REVISION: 'r2' }).problems).toEqual([
      'REVISION: disagrees with MODEL_REVISION (r1 vs r2); set one',
      'SERVED_MODEL_NAME: disagrees with OPENAI_SERVED_MODEL_NAME_OVERRIDE (a vs b); set one',
      'RESPONSE_ROLE: disagrees with OPENAI_RESPONSE_ROLE (x vs y); set one',
    ]);
  });

  it('MODEL names the model when MODEL_NAME is unset; MODEL_NAME wins, and says so', () => {
    expect(read({ MODEL: 'org/a' }).model).toEqual({ name: 'org/a' });
    const both = read({ MODEL: 'org/a', MODEL_NAME: 'org/b' });
    expect(both.model).toEqual({ name: 'org/b' });
    expect(both.notes).toContain('MODEL=org/a has no effect: MODEL_NAME (org/b) wins over it');
  });

  it('VLLM_BASE_URL: a loopback URL is accepted; another server is refused by name', () => {
    expect(attempt({ VLLM_BASE_URL: 'http://127.0.0.1:8000' }).problems).toEqual([]);
    expect(attempt({ VLLM_BASE_URL: 'http://10.0.0.5:8000' }).problems).toEqual([
      'VLLM_BASE_URL: nodellm runs the engine in this process and cannot send jobs to another vLLM server (set to "http://10.0.0.5:8000"); unset it or use the default',
    ]);
  });

  it('speculative decoding, old names and new: refused by name unless at the default', () => {
    expect(attempt({ SPEC_DECODING_ACCEPTANCE_METHOD: 'rejection_sampler' }).problems).toEqual([]);
    expect(attempt({ SPEC_DECODING_ACCEPTANCE_METHOD: 'typical_acceptance_sampler', TYPICAL_ACCEPTANCE_SAMPLER_POSTERIOR_THRESHOLD: '0.1' }).problems).toEqual([
      'SPEC_DECODING_ACCEPTANCE_METHOD: speculative decoding is not supported yet (set to "typical_acceptance_sampler"); unset it or use the default',
      'TYPICAL_ACCEPTANCE_SAMPLER_POSTERIOR_THRESHOLD: speculative decoding is not supported yet (set to "0.1"); unset it or use the default',
    ]);
  });
});

describe('VLLM_EXTRA_ARGS', () => {
  it('splits as a shell would', () => {
    expect(shellSplit(`  --a 1 --b='x y' --c "q \\"r\\" \\$s" d\\ e ''  `)).toEqual(['--a', '1', '--b=x y', '--c', 'q "r" $s', 'd e', '']);
    expect(shellSplit(`--a 'open`)).toBeUndefined();
    expect(shellSplit('')).toEqual([]);
  });

  it("applies the flags of the table's variables, over the variables, and logs which", () => {
    const config = read({
      MAX_NUM_SEQS: '4',
      ENFORCE_EAGER: 'true',
      VLLM_EXTRA_ARGS: `--max-model-len 256 --max-num-seqs=8 --no-enforce-eager --served-model-name 'my model' --model org/m --tokenizer org/t --chat-template "{{ x }}" --trust-remote-code`,
    });
    expect(config.engine).toMatchObject({ maxModelLen: 256, maxNumSeqs: 8, enforceEager: false, servedModelName: 'my model', chatTemplate: '{{ x }}' });
    expect(config.model).toEqual({ name: 'org/m', tokenizer: 'org/t' });
    expect(config.notes).toEqual([
      'VLLM_EXTRA_ARGS: reading --max-model-len as MAX_MODEL_LEN, --max-num-seqs as MAX_NUM_SEQS, --no-enforce-eager as ENFORCE_EAGER, --served-model-name as SERVED_MODEL_NAME, --model as MODEL_NAME, --tokenizer as TOKENIZER_NAME, --chat-template as CUSTOM_CHAT_TEMPLATE, --trust-remote-code as TRUST_REMOTE_CODE',
      'TRUST_REMOTE_CODE=true has no effect: nodellm never runs code from a model repository',
    ]);
  });

  it('refuses, by name, the flags nodellm cannot honour and what is not a flag', () => {
    expect(attempt({ VLLM_EXTRA_ARGS: `--quantization awq --tensor-parallel-size=2 -tp 2 --port 9000 --enforce-eager=yes --max-model-len --dtype bfloat16 org/model --max-num-seqs abc` }).problems).toEqual([
      'VLLM_EXTRA_ARGS: "-tp" is not a flag (only --flag value, --flag=value and --switch are read)',
      'VLLM_EXTRA_ARGS: "2" is not a flag (only --flag value, --flag=value and --switch are read)',
      "VLLM_EXTRA_ARGS: --port is not a flag nodellm can honour (it reads the flags of the variables in README's table)",
      'VLLM_EXTRA_ARGS: --enforce-eager takes no value (write --enforce-eager or --no-enforce-eager)',
      'VLLM_EXTRA_ARGS: --max-model-len needs a value',
      'VLLM_EXTRA_ARGS: "org/model" is not a flag (only --flag value, --flag=value and --switch are read)',
      'VLLM_EXTRA_ARGS: --max-num-seqs (read as MAX_NUM_SEQS): must be a number, but is "abc"',
      'VLLM_EXTRA_ARGS: --tensor-parallel-size (read as TENSOR_PARALLEL_SIZE): tensor parallelism is not supported yet (one device) (set to "2"); unset it or use the default',
      'VLLM_EXTRA_ARGS: --quantization (read as QUANTIZATION): quantized weights are not supported yet (set to "awq"); unset it or use the default',
    ]);
    expect(attempt({ VLLM_EXTRA_ARGS: `--max-model-len '4096` }).problems).toEqual(['VLLM_EXTRA_ARGS: a quote or a trailing backslash is not closed']);
  });

  it('flags at their defaults, and an empty value, are accepted', () => {
    expect(attempt({ VLLM_EXTRA_ARGS: '--tensor-parallel-size 1 --no-enable-prefix-caching --kv-cache-dtype auto' }).problems).toEqual([]);
    expect(read({ VLLM_EXTRA_ARGS: '' }).notes).toEqual([]);
  });

  it('every flag of the table is read as its variable', () => {
    for (const v of WORKER_ENV.filter((e) => e.flag)) {
      const [flag, value] = v.flag!.split(' ');
      const { config, problems } = attempt({ VLLM_EXTRA_ARGS: value ? `${flag} '${v.sample}'` : v.sample === 'false' ? `--no-${flag!.slice(2)}` : flag! });
      const direct = attempt({ [v.name]: value ? v.sample : v.sample === 'false' ? 'false' : 'true' });
      if (direct.problems.length > 0) {
        expect(problems, v.name).toEqual(direct.problems.map((p) => p.replace(`${v.name}: `, `VLLM_EXTRA_ARGS: ${flag} (read as ${v.name}): `)));
      } else {
        expect(without(config!), v.name).toEqual(without(direct.config!));
      }
    }
  });
});
