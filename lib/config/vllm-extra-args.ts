// VLLM_EXTRA_ARGS: worker-vllm (since v2.24.0) splits it as a shell would and appends it to the
// `vllm serve` command line, so its flags win over the variables. nodellm reads each flag as the
// variable of lib/config/worker-env-table.ts that carries that flag, which then goes through the
// variable's own handling (applied, logged as having no effect, or refused); a flag with no
// variable in the table is refused by name.

/** How a table entry names its flag, commander-style: `--max-model-len <n>` takes a value, `--enforce-eager` is a switch. */
export interface FlagCarrier {
  name: string;
  flag?: string;
}

export interface ExtraArgs {
  /** Variable name -> the flag that set it and its value (the last one, as argparse keeps). */
  values: Map<string, { flag: string; value: string }>;
  problems: string[];
}

/** Splits as Python's shlex.split does (POSIX rules, no comments); undefined for an unclosed quote. */
export function shellSplit(text: string): string[] | undefined {
  const words: string[] = [];
  let word: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) return undefined;
      word = (word ?? '') + text.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let part = '';
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === '\\' && j + 1 < text.length && '"\\$`\n'.includes(text[j + 1]!)) j++;
        part += text[j];
      }
      if (j >= text.length) return undefined;
      word = (word ?? '') + part;
      i = j;
    } else if (c === '\\') {
      if (i + 1 >= text.length) return undefined;
      i++;
      word = (word ?? '') + (text[i] === '\n' ? '' : text[i]);
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== null) words.push(word);
  return words;
}

/** The flags of `text`, as the variables of `table` that carry them. */
export function readExtraArgs(text: string, table: readonly FlagCarrier[]): ExtraArgs {
  const values: ExtraArgs['values'] = new Map();
  const problems: string[] = [];
  const words = shellSplit(text);
  if (words === undefined) return { values, problems: ['a quote or a trailing backslash is not closed'] };
  const byFlag = new Map<string, { name: string; switch: boolean }>();
  for (const entry of table) {
    if (!entry.flag) continue;
    const [flag, value] = entry.flag.split(' ');
    byFlag.set(flag!, { name: entry.name, switch: value === undefined });
  }
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (!word.startsWith('--') || word === '--') {
      problems.push(`${JSON.stringify(word)} is not a flag (only --flag value, --flag=value and --switch are read)`);
      continue;
    }
    const eq = word.indexOf('=');
    const flag = eq < 0 ? word : word.slice(0, eq);
    const inline = eq < 0 ? undefined : word.slice(eq + 1);
    let target = byFlag.get(flag);
    let negated = false;
    if (!target && flag.startsWith('--no-')) {
      const positive = byFlag.get(`--${flag.slice(5)}`);
      if (positive?.switch) [target, negated] = [positive, true];
    }
    if (!target) {
      problems.push(`${flag} is not a flag nodellm can honour (it reads the flags of the variables in README's table)`);
      // Its value, if it takes one, is not an argument of its own.
      while (inline === undefined && i + 1 < words.length && !words[i + 1]!.startsWith('--')) i++;
      continue;
    }
    let value: string;
    if (target.switch) {
      if (inline !== undefined) {
        problems.push(`${flag} takes no value (write ${flag} or --no-${flag.slice(2)})`);
        continue;
      }
      value = negated ? 'false' : 'true';
    } else if (inline !== undefined) {
      value = inline;
    } else if (i + 1 < words.length && !words[i + 1]!.startsWith('--')) {
      value = words[++i]!;
    } else {
      problems.push(`${flag} needs a value`);
      continue;
    }
    values.set(target.name, { flag, value });
  }
  return { values, problems };
}
