// Loaded with `node --import` after tsx's loader, in a process that runs bin/nodellm.js (`npm
// start`): the compiled CLI that bin/ imports (dist/lib/cli/main.js) is taken from its TypeScript
// source (lib/cli/main.ts) instead, so a test of bin/ and `npm start` needs no build and never
// runs a stale one. Hooks registered later run first, so this one rewrites the URL before tsx
// resolves it.
import { register } from 'node:module';

const root = new URL('../../', import.meta.url);
const compiled = new URL('dist/lib/cli/main.js', root).href;
const source = new URL('lib/cli/main.ts', root).href;

const hooks = `
export async function resolve(specifier, context, next) {
  let url;
  try {
    url = new URL(specifier, context.parentURL).href;
  } catch {}
  return next(url === ${JSON.stringify(compiled)} ? ${JSON.stringify(source)} : specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
