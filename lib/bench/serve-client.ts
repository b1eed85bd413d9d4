// One streamed request to an OpenAI-compatible server, timed as vLLM's benchmark client times it:
// TTFT is the arrival of the first data chunk with a choice in it (its text may be empty), each
// later such chunk adds one inter-chunk gap (ITL; a chunk may carry several tokens), and the
// end-to-end latency runs to the last such chunk, so the trailing usage chunk does not move it.
// The output length comes from the server's usage (asked for with stream_options.include_usage)
// when it sends one.
//
// Unlike vLLM's client, a stream that carries an error object, or that ends without [DONE], is a
// failure: a broken request must not pass for a short one.

export type EndpointKind = 'completions' | 'chat';

export interface RequestInput {
  url: string;
  kind: EndpointKind;
  model: string;
  prompt: string;
  promptLen: number;
  outputLen: number;
  ignoreEos: boolean;
  /** Sampling parameters and anything else merged into the body. */
  extraBody?: Record<string, unknown>;
  apiKey?: string;
}

export interface RequestOutput {
  success: boolean;
  /** Seconds, from just before the POST. */
  ttft: number;
  /** Seconds between successive chunks after the first. */
  itl: number[];
  /** Seconds from just before the POST to the last chunk. */
  latency: number;
  /** usage.completion_tokens when the server reported it. */
  outputTokens: number | null;
  generatedText: string;
  promptLen: number;
  error: string;
}

export function requestBody(input: RequestInput): Record<string, unknown> {
  const common = {
    model: input.model,
    stream: true,
    stream_options: { include_usage: true },
    ...(input.ignoreEos && { ignore_eos: true }),
  };
  const body =
    input.kind === 'chat'
      ? { ...common, messages: [{ role: 'user', content: input.prompt }], max_completion_tokens: input.outputLen }
      : { ...common, prompt: input.prompt, max_tokens: input.outputLen };
  return { ...body, ...input.extraBody };
}

interface StreamEvent {
  choices?: { text?: string | null; delta?: { content?: string | null } }[];
  usage?: { completion_tokens?: number } | null;
  error?: { message?: string } | string;
}

export async function sendRequest(input: RequestInput): Promise<RequestOutput> {
  const out: RequestOutput = { success: false, ttft: 0, itl: [], latency: 0, outputTokens: null, generatedText: '', promptLen: input.promptLen, error: '' };
  const start = performance.now();
  let last = start;
  let first = true;
  let done = false;

  const onEvent = (data: string, at: number) => {
    if (data === '[DONE]') {
      done = true;
      return;
    }
    const event = JSON.parse(data) as StreamEvent;
    if (event.error !== undefined) {
      out.error ||= typeof event.error === 'string' ? event.error : (event.error.message ?? JSON.stringify(event.error));
    }
    const choice = event.choices?.[0];
    if (choice) {
      if (first) {
        out.ttft = (at - start) / 1000;
        first = false;
      } else {
        out.itl.push((at - last) / 1000);
      }
      last = at;
      out.generatedText += (input.kind === 'chat' ? choice.delta?.content : choice.text) ?? '';
    }
    if (typeof event.usage?.completion_tokens === 'number') out.outputTokens = event.usage.completion_tokens;
  };

  try {
    const response = await fetch(input.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(input.apiKey && { authorization: `Bearer ${input.apiKey}` }) },
      body: JSON.stringify(requestBody(input)),
    });
    if (!response.ok || !response.body) {
      out.error = `HTTP ${response.status}: ${errorMessage(await response.text())}`;
      return out;
    }
    const decoder = new TextDecoder();
    let buffered = '';
    for await (const bytes of response.body) {
      const at = performance.now();
      buffered += decoder.decode(bytes as Uint8Array, { stream: true });
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const raw of lines) {
        const line = raw.trimEnd();
        // Blank lines end events; lines starting with ':' are comments (keep-alive pings).
        if (line.startsWith('data:')) onEvent(line.slice(5).trim(), at);
      }
    }
    if (buffered.trim().startsWith('data:')) onEvent(buffered.trim().slice(5).trim(), performance.now());
  } catch (err) {
    out.error ||= `${(err as Error).message}${(err as Error).cause ? ` (${String((err as Error).cause)})` : ''}`;
  }
  out.latency = (last - start) / 1000;
  if (!out.error && first) out.error = 'the stream ended without a chunk carrying a choice';
  if (!out.error && !done) out.error = 'the stream ended without [DONE]';
  out.success = out.error === '';
  return out;
}

/** The message of an OpenAI error body, or the body itself (cut short). */
function errorMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: { message?: string } | string; message?: string };
    const e = parsed.error;
    const message = typeof e === 'string' ? e : (e?.message ?? parsed.message);
    if (message) return message;
  } catch {
    // not JSON: fall through to the raw text
  }
  return body.length > 200 ? `${body.slice(0, 200)}...` : body;
}
