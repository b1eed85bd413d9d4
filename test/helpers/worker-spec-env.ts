// The environment variable names of RunPod's worker-vllm reference notes
// (../shared/reference/runpod-worker-spec.md, outside this repository), and the committed copy of
// them that the tests read: test/fixtures/worker-vllm-env.json.
import { existsSync, readFileSync } from 'node:fs';

/** §A.3 env → engine args (classic), §A.6 the proxy design (v2.24.0 on), §B.2 the SDK's variables. */
export const SPEC_SECTIONS = ['A.3', 'A.6', 'B.2'] as const;

export const SPEC_FILE = new URL('../../../shared/reference/runpod-worker-spec.md', import.meta.url);
export const FIXTURE_FILE = new URL('../fixtures/worker-vllm-env.json', import.meta.url);

export interface WorkerVllmEnvFixture {
  variables: { name: string; sections: string[] }[];
  notVariables: Record<string, string>;
  engineFieldsNamedByA3: { names: string[] };
  alsoNamedByIssue: Record<string, string>;
}

export const readFixture = (): WorkerVllmEnvFixture => JSON.parse(readFileSync(FIXTURE_FILE, 'utf8')) as WorkerVllmEnvFixture;

export const specAvailable = () => existsSync(SPEC_FILE);

/**
 * Every UPPER_SNAKE name in the code spans of the spec's sections, with the sections naming it,
 * in order of first mention. `$NAME` counts as NAME; `NAME_MAX/MIN` names NAME_MAX and NAME_MIN;
 * spans with a glob (`DEFAULT_*BATCH*`) are skipped. Python constants, placeholders and HTTP
 * methods come out too: the fixture lists them apart, as notVariables.
 */
export function specEnvNames(markdown: string): Map<string, string[]> {
  const names = new Map<string, string[]>();
  const add = (name: string, section: string) => {
    const sections = names.get(name) ?? [];
    if (!sections.includes(section)) sections.push(section);
    names.set(name, sections);
  };
  for (const part of markdown.split(/^(?=#{1,2} )/m)) {
    const section = SPEC_SECTIONS.find((id) => part.startsWith(`## ${id} `));
    if (!section) continue;
    for (const [, span] of part.matchAll(/`([^`\n]+)`/g)) {
      if (span!.includes('*')) continue;
      for (const m of span!.matchAll(/\$?\b([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*)(?:\/([A-Z0-9]+))?\b/g)) {
        add(m[1]!, section);
        if (m[2]) add(m[1]!.replace(/_[A-Z0-9]+$/, `_${m[2]}`), section);
      }
    }
  }
  return names;
}
