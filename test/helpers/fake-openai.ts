// A fake OpenAI-compatible server whose answers follow a script, one entry per request in arrival
// order: how long before the first chunk, the chunks and the gaps between them, the usage it
// reports, or a failure (an HTTP error, an error event mid-stream, a connection cut short).
// Benchmark tests run against it to check that measured figures come out as constructed.
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Script {
  /** Answer with this HTTP status and an OpenAI error body instead of a stream. */
  status?: number;
  /** Milliseconds before the first chunk. */
  ttftMs?: number;
  /** Text of each content chunk. */
  chunks?: string[];
  /** Milliseconds between successive chunks. */
  gapMs?: number;
  /** completion_tokens of the final usage chunk; null sends none. Default: the number of chunks. */
  usage?: number | null;
  /** Send an error event after this many chunks, then [DONE]. */
  errorAfter?: number;
  /** End the response after this many chunks, without [DONE]. */
  cutAfter?: number;
}

export interface FakeOpenAI {
  origin: string;
  /** Request bodies in arrival order. */
  bodies: Record<string, unknown>[];
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  let text = '';
  for await (const part of req) text += String(part);
  return JSON.parse(text) as Record<string, unknown>;
}

export async function startFakeOpenAI(scripts: Script[], model = 'fake-model'): Promise<FakeOpenAI> {
  const bodies: Record<string, unknown>[] = [];
  let next = 0;
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method === 'GET' && req.url === '/v1/models') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'list', data: [{ id: model, object: 'model' }] }));
      return;
    }
    const chat = req.url === '/v1/chat/completions';
    if (req.method !== 'POST' || (!chat && req.url !== '/v1/completions')) {
      res.writeHead(404).end();
      return;
    }
    const body = await readBody(req);
    bodies.push(body);
    const script = scripts[next++] ?? {};
    if (script.status !== undefined) {
      res.writeHead(script.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `scripted failure ${script.status}`, type: 'server_error', param: null, code: null } }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const send = (data: unknown) => res.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
    const choice = (text: string) => (chat ? { index: 0, delta: { content: text }, finish_reason: null } : { index: 0, text, finish_reason: null });
    const chunks = script.chunks ?? ['x'];
    await sleep(script.ttftMs ?? 0);
    // A chat stream announces the role first, in the same burst as the first text (as vLLM).
    if (chat) send({ choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] });
    for (const [i, text] of chunks.entries()) {
      if (i > 0) await sleep(script.gapMs ?? 0);
      if (script.cutAfter === i) {
        res.destroy();
        return;
      }
      if (script.errorAfter === i) {
        send({ error: { message: 'scripted error mid-stream', type: 'server_error', param: null, code: 500 } });
        send('[DONE]');
        res.end();
        return;
      }
      send({ choices: [choice(text)] });
    }
    const usage = script.usage === undefined ? chunks.length : script.usage;
    const streamOptions = body.stream_options as { include_usage?: boolean } | undefined;
    if (usage !== null && streamOptions?.include_usage) send({ choices: [], usage: { prompt_tokens: 1, completion_tokens: usage, total_tokens: 1 + usage } });
    send('[DONE]');
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    bodies,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
