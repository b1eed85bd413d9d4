// Server-sent events in the OpenAI style: `data: {json}\n\n` per chunk, then `data: [DONE]`.
// Writes respect backpressure; an error after the headers went out is sent as a final error event.
import type { FastifyReply } from 'fastify';

import { toOpenAIError } from '../openai/errors.js';

export async function sendStream(reply: FastifyReply, chunks: AsyncIterable<unknown>, signal: AbortSignal): Promise<void> {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  const write = async (data: string) => {
    if (signal.aborted) return;
    if (!res.write(`data: ${data}\n\n`)) {
      await new Promise<void>((resolve) => {
        res.once('drain', resolve);
        res.once('close', resolve);
      });
    }
  };
  try {
    for await (const chunk of chunks) {
      if (signal.aborted) break; // leaving the loop ends the requests (their KV blocks are freed)
      await write(JSON.stringify(chunk));
    }
  } catch (error) {
    await write(JSON.stringify(toOpenAIError(error).toJSON()));
  }
  await write('[DONE]');
  res.end();
}
