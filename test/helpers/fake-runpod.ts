// A fake RunPod job server for worker tests: the routes runpod-python talks to (job-take,
// job-take-batch, job-stream, job-done, ping, job-stop) on a local HTTP server. It hands out the
// jobs it is given (long-polling when it has none), records every request with its query,
// headers and body, tracks how many jobs are taken and unanswered at once, and can turn a share
// of its answers into 500s or dropped connections (decided before the request is processed, so
// a failed request changes nothing, as a platform error would).
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import { mulberry32 } from './random.js';

export interface RecordedRequest {
  method: string;
  route: 'take' | 'take-batch' | 'stream' | 'done' | 'ping' | 'stop' | 'other';
  path: string;
  workerId: string;
  jobId?: string;
  query: Record<string, string>;
  headers: http.IncomingHttpHeaders;
  rawBody: string;
  body?: unknown;
  at: number;
}

export type FaultRoute = 'take' | 'take-batch' | 'stream' | 'done' | 'ping' | 'stop';

export interface FakeRunpodOptions {
  apiKey: string;
  /** Share of answers on `faultRoutes` replaced by a 500 or a dropped connection. */
  faultRate?: number;
  faultRoutes?: FaultRoute[];
  seed?: number;
  /** How long an empty take or stop poll is held before 204. Default 200 ms. */
  longPollMs?: number;
}

interface Waiting {
  count: number;
  batch: boolean;
  res: http.ServerResponse;
  timer: NodeJS.Timeout;
}

export class FakeRunpod {
  readonly requests: RecordedRequest[] = [];
  /** Job id -> stream bodies in arrival order. */
  readonly streams = new Map<string, unknown[]>();
  /** Job id -> result bodies (more than one would be a double answer). */
  readonly results = new Map<string, unknown[]>();
  readonly handedOut: string[] = [];
  faults = 0;
  maxInFlight = 0;
  /** Canned answers for the next take requests (before any job is handed out). */
  readonly takeAnswers: { status: number; body?: string; contentType?: string }[] = [];
  private readonly queue: { id: string; [k: string]: unknown }[] = [];
  private readonly inFlight = new Set<string>();
  private readonly waiting: Waiting[] = [];
  private readonly stopWaiting: http.ServerResponse[] = [];
  private pendingStops: string[] = [];
  private readonly random: () => number;
  private listeners: (() => void)[] = [];
  private nextId = 1;
  origin = '';

  private constructor(
    private readonly server: http.Server,
    readonly options: FakeRunpodOptions,
  ) {
    this.random = mulberry32(options.seed ?? 1);
  }

  static async start(options: FakeRunpodOptions): Promise<FakeRunpod> {
    const server = http.createServer();
    const fake = new FakeRunpod(server, options);
    server.on('request', (req, res) => fake.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    fake.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return fake;
  }

  /** The RUNPOD_WEBHOOK_* variables as the platform sets them (templates with $ID and $RUNPOD_POD_ID). */
  env(): Record<string, string> {
    const base = `${this.origin}/v2/ep`;
    return {
      RUNPOD_WEBHOOK_GET_JOB: `${base}/job-take/$ID?gpu=NVIDIA+H100`,
      RUNPOD_WEBHOOK_POST_OUTPUT: `${base}/job-done/$RUNPOD_POD_ID/$ID?gpu=NVIDIA+H100`,
      RUNPOD_WEBHOOK_POST_STREAM: `${base}/job-stream/$RUNPOD_POD_ID/$ID?gpu=NVIDIA+H100`,
      RUNPOD_WEBHOOK_PING: `${base}/ping/$RUNPOD_POD_ID?gpu=NVIDIA+H100`,
      RUNPOD_AI_API_KEY: this.options.apiKey,
    };
  }

  addJob(input: unknown, id?: string, extra: Record<string, unknown> = {}): string {
    const jobId = id ?? `job-${this.nextId++}`;
    this.queue.push({ id: jobId, input, ...extra });
    this.serveWaiting();
    return jobId;
  }

  /** Makes the stop channel report these job ids. */
  stopJobs(...ids: string[]): void {
    this.pendingStops.push(...ids);
    const res = this.stopWaiting.shift();
    if (res) this.answerStop(res);
  }

  get unanswered(): number {
    return this.inFlight.size;
  }

  get queued(): number {
    return this.queue.length;
  }

  byRoute(route: RecordedRequest['route']): RecordedRequest[] {
    return this.requests.filter((r) => r.route === route);
  }

  /** Resolves once `predicate` holds (checked after every request), or rejects after `timeoutMs`. */
  waitFor(predicate: () => boolean, timeoutMs = 30_000, what = 'condition'): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners = this.listeners.filter((l) => l !== check);
        reject(new Error(`fake RunPod: timed out waiting for ${what}`));
      }, timeoutMs);
      const check = () => {
        if (!predicate()) return;
        clearTimeout(timer);
        this.listeners = this.listeners.filter((l) => l !== check);
        resolve();
      };
      this.listeners.push(check);
    });
  }

  waitForResults(ids: string[], timeoutMs?: number): Promise<void> {
    return this.waitFor(() => ids.every((id) => this.results.has(id)), timeoutMs, `results of ${ids.join(', ')}`);
  }

  async close(): Promise<void> {
    for (const w of this.waiting.splice(0)) {
      clearTimeout(w.timer);
      w.res.destroy();
    }
    for (const res of this.stopWaiting.splice(0)) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private changed(): void {
    for (const l of [...this.listeners]) l();
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const rawBody = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', this.origin);
    const m = /^\/v2\/ep\/(job-take|job-take-batch|job-stream|job-done|ping|job-stop)\/([^/]+)(?:\/([^/]+))?$/.exec(url.pathname);
    const names = { 'job-take': 'take', 'job-take-batch': 'take-batch', 'job-stream': 'stream', 'job-done': 'done', ping: 'ping', 'job-stop': 'stop' } as const;
    const route = m ? names[m[1] as keyof typeof names] : 'other';
    let body: unknown;
    try {
      body = rawBody ? JSON.parse(rawBody) : undefined;
    } catch {
      body = undefined;
    }
    const record: RecordedRequest = {
      method: req.method ?? '',
      route,
      path: url.pathname,
      workerId: m?.[2] ?? '',
      ...(m?.[3] && { jobId: decodeURIComponent(m[3]) }),
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      rawBody,
      ...(body !== undefined && { body }),
      at: Date.now(),
    };
    this.requests.push(record);
    try {
      if (req.headers.authorization !== this.options.apiKey) return void res.writeHead(401).end();
      if (route !== 'other' && (this.options.faultRoutes ?? []).includes(route) && this.random() < (this.options.faultRate ?? 0)) {
        this.faults++;
        if (this.random() < 0.5) res.writeHead(500).end('injected fault');
        else req.socket.destroy();
        return;
      }
      switch (route) {
        case 'take':
        case 'take-batch': {
          const canned = this.takeAnswers.shift();
          if (!canned) return this.take(res, route === 'take' ? 1 : Number(record.query.batch_size ?? 1), route === 'take-batch');
          res.writeHead(canned.status, canned.contentType ? { 'content-type': canned.contentType } : {}).end(canned.body ?? '');
          return;
        }
        case 'stream': {
          const list = this.streams.get(record.jobId!) ?? [];
          list.push(body);
          this.streams.set(record.jobId!, list);
          return void res.writeHead(200).end();
        }
        case 'done': {
          const list = this.results.get(record.jobId!) ?? [];
          list.push(body);
          this.results.set(record.jobId!, list);
          this.inFlight.delete(record.jobId!);
          return void res.writeHead(200).end();
        }
        case 'ping':
          return void res.writeHead(200).end();
        case 'stop':
          if (this.pendingStops.length > 0) return this.answerStop(res);
          this.stopWaiting.push(res);
          setTimeout(() => {
            const i = this.stopWaiting.indexOf(res);
            if (i !== -1) {
              this.stopWaiting.splice(i, 1);
              res.writeHead(204).end();
            }
          }, this.options.longPollMs ?? 200);
          return;
        default:
          return void res.writeHead(404).end();
      }
    } finally {
      this.changed();
    }
  }

  private answerStop(res: http.ServerResponse): void {
    const ids = this.pendingStops;
    this.pendingStops = [];
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jobsToStop: ids }));
  }

  private take(res: http.ServerResponse, count: number, batch: boolean): void {
    if (this.queue.length > 0) return this.handOut(res, count, batch);
    const waiting: Waiting = {
      count,
      batch,
      res,
      timer: setTimeout(() => {
        this.waiting.splice(this.waiting.indexOf(waiting), 1);
        res.writeHead(204).end();
      }, this.options.longPollMs ?? 200),
    };
    this.waiting.push(waiting);
  }

  private serveWaiting(): void {
    while (this.queue.length > 0 && this.waiting.length > 0) {
      const w = this.waiting.shift()!;
      clearTimeout(w.timer);
      if (w.res.destroyed || w.res.socket?.destroyed) continue; // the worker gave up on this poll
      this.handOut(w.res, w.count, w.batch);
    }
  }

  private handOut(res: http.ServerResponse, count: number, batch: boolean): void {
    const jobs = this.queue.splice(0, Math.max(1, count));
    for (const job of jobs) {
      this.inFlight.add(job.id);
      this.handedOut.push(job.id);
    }
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight.size);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(batch ? jobs : jobs[0]));
    this.changed();
  }
}
