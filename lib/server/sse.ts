// Server-sent events in the OpenAI style: `data: {json}\n\n` per chunk, then `data: [DONE]`.
// Writes respect backpressure; an error after the headers went out is sent as a final error event,
// and so is the server's shutdown cutting the stream short.
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';

import type { FastifyReply } from 'fastify';

import { toOpenAIError } from '../openai/errors.js';
import { shuttingDownError } from './shutdown.js';

export interface StreamSignals {
  /** The client went away: nothing more is written. */
  disconnect: AbortSignal;
  /** The server shuts down: the stream ends now with an error event and [DONE]. */
  shutdown: AbortSignal;
}

/** Waits for the socket to take more, for it to close, or for the shutdown (which stops waiting on a client that does not read). */
function drained(res: ServerResponse, shutdown: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      shutdown.removeEventListener('abort', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
    shutdown.addEventListener('abort', done);
  });
}

export async function sendStream(reply: FastifyReply, chunks: AsyncIterable<unknown>, { disconnect, shutdown }: StreamSignals): Promise<void> {
  // The headers already set on the reply (CORS's) go out with the stream: the raw response does not know them.
  const headers = reply.getHeaders() as OutgoingHttpHeaders;
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    ...headers,
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  const write = async (data: string) => {
    if (disconnect.aborted || res.destroyed) return;
    if (!res.write(`data: ${data}\n\n`) && !shutdown.aborted) await drained(res, shutdown);
  };
  let cut = false;
  try {
    for await (const chunk of chunks) {
      if (disconnect.aborted) break; // leaving the loop ends the requests (their KV blocks are freed)
      if (shutdown.aborted) {
        cut = true;
        break;
      }
      await write(JSON.stringify(chunk));
    }
  } catch (error) {
    if (shutdown.aborted) cut = true;
    else await write(JSON.stringify(toOpenAIError(error).toJSON()));
  }
  if (cut) await write(JSON.stringify(shuttingDownError().toJSON()));
  await write('[DONE]');
  res.end();
}
