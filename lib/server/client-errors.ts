// Errors Node's HTTP parser and timers raise on a connection before any route runs: a malformed
// request (400), a request not received in time (408), headers over Node's limit (431). Node
// hands over the raw socket, so the answer is a whole HTTP/1.1 response written by hand, with the
// OpenAI error object as its body, and the connection is closed after it.
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

import { OpenAIError } from '../openai/errors.js';

/** How long an answered connection may linger (the client reading the answer) before it is destroyed. */
const LINGER_MS = 1000;

type ClientError = Error & { code?: string; reason?: string };

function describe(error: ClientError): OpenAIError {
  switch (error.code) {
    // Raised by both the headers timeout and the request timeout.
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new OpenAIError(408, 'Request timeout: the request (headers and body) was not received in time', 'invalid_request_error', null, 'request_timeout');
    case 'HPE_HEADER_OVERFLOW':
      return new OpenAIError(431, 'Request header fields too large', 'invalid_request_error', null, 'headers_too_large');
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return new OpenAIError(413, 'Chunk extensions too large', 'invalid_request_error', null, 'payload_too_large');
    default:
      // llhttp's reasons are fixed strings ("Invalid method encountered"), never request bytes.
      return new OpenAIError(400, `Malformed HTTP request${error.reason ? ` (${error.reason})` : ''}`, 'invalid_request_error', null, 'bad_request');
  }
}

/** The full response bytes for an error, as written on a raw socket. */
export function rawErrorResponse(e: OpenAIError): string {
  const body = JSON.stringify(e.toJSON());
  return (
    `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status] ?? 'Error'}\r\n` +
    'content-type: application/json; charset=utf-8\r\n' +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    'connection: close\r\n\r\n' +
    body
  );
}

const answered = new WeakSet<Socket>();

/** fastify's clientErrorHandler. */
export function clientErrorHandler(error: ClientError, socket: Socket): void {
  // The parser keeps failing on the bytes that follow the first error: one answer is enough.
  if (answered.has(socket)) return;
  // A response already under way on this socket cannot get a second status line.
  const current = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (error.code === 'ECONNRESET' || !socket.writable || current?.headersSent) {
    socket.destroy();
    return;
  }
  answered.add(socket);
  // end() sends the answer and then FIN, but keeps reading (and dropping) what the client still
  // sends, so the client is not reset before it reads the answer; a client that never closes its
  // side is cut off after LINGER_MS, so no descriptor is held for long.
  socket.end(rawErrorResponse(describe(error)));
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}
