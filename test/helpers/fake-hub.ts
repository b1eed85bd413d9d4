// A local stand-in for the Hugging Face hub's routes that model downloads use:
//   GET /api/models/<repo>/revision/<rev>      model info with the commit sha
//   GET /api/models/<repo>/tree/<rev>          the file list (oid, size, lfs.oid = sha256)
//   GET /<repo>/resolve/<rev>/<path>           file bytes, with Range requests (206)
// Private repos need `Authorization: Bearer <token>`. A file can be set to drop its connection
// after some bytes, once, to test resumed downloads. Every request is recorded.
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HubFile {
  path: string;
  content: Buffer;
  lfs: boolean;
}

export interface HubRepo {
  files: HubFile[];
  private?: boolean;
  sha?: string;
}

export interface HubRequest {
  method: string;
  path: string;
  range?: string;
  authorization?: string;
}

export class FakeHub {
  readonly requests: HubRequest[] = [];
  /** path -> bytes to send before dropping the connection (once). */
  readonly dropAfter = new Map<string, number>();
  origin = '';
  private readonly repos = new Map<string, Required<HubRepo>>();

  private constructor(
    private readonly server: http.Server,
    readonly token: string,
  ) {}

  static async start(token: string): Promise<FakeHub> {
    const server = http.createServer();
    const hub = new FakeHub(server, token);
    server.on('request', (req, res) => hub.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    hub.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return hub;
  }

  addRepo(name: string, repo: HubRepo): string {
    const sha = repo.sha ?? createHash('sha1').update(name + repo.files.map((f) => f.path).join()).digest('hex');
    this.repos.set(name, { private: false, ...repo, sha });
    return sha;
  }

  resolveRequests(file?: string): HubRequest[] {
    return this.requests.filter((r) => r.path.includes('/resolve/') && (!file || r.path.endsWith(`/${file}`)));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', this.origin);
    const path = decodeURIComponent(url.pathname);
    this.requests.push({
      method: req.method ?? '',
      path,
      ...(req.headers.range && { range: req.headers.range }),
      ...(req.headers.authorization && { authorization: req.headers.authorization }),
    });
    const json = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/(revision|tree)\/([^/]+)$/.exec(path);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    const name = api?.[1] ?? resolve?.[1];
    const repo = name ? this.repos.get(name) : undefined;
    if (!repo) return json(404, { error: 'Repository not found' });
    if (repo.private && req.headers.authorization !== `Bearer ${this.token}`) {
      return json(401, { error: 'Invalid credentials in Authorization header' });
    }
    const rev = api?.[3] ?? resolve?.[2];
    if (rev !== 'main' && rev !== repo.sha) return json(404, { error: 'Revision not found' });
    if (api?.[2] === 'revision') return json(200, { _id: 'x', id: name, sha: repo.sha, private: repo.private, lastModified: '2026-01-01T00:00:00Z' });
    if (api?.[2] === 'tree') {
      return json(
        200,
        repo.files.map((f) => ({
          type: 'file',
          path: f.path,
          size: f.content.length,
          oid: createHash('sha1').update(`blob ${f.content.length}\0`).update(f.content).digest('hex'),
          ...(f.lfs && { lfs: { oid: createHash('sha256').update(f.content).digest('hex'), size: f.content.length, pointerSize: 130 } }),
        })),
      );
    }
    const file = repo.files.find((f) => f.path === resolve![3]);
    if (!file) return void res.writeHead(404, { 'x-error-code': 'EntryNotFound' }).end();
    const total = file.content.length;
    const headers = { 'content-type': 'application/octet-stream', etag: '"x"', 'x-repo-commit': repo.sha };
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    let start = 0;
    let end = total - 1;
    if (range) {
      start = Number(range[1]);
      end = range[2] ? Math.min(Number(range[2]), total - 1) : total - 1;
      res.writeHead(206, { ...headers, 'content-range': `bytes ${start}-${end}/${total}`, 'content-length': end - start + 1 });
    } else {
      res.writeHead(200, { ...headers, 'content-length': total });
    }
    const body = file.content.subarray(start, end + 1);
    const drop = this.dropAfter.get(file.path);
    if (drop !== undefined && body.length > 1) {
      this.dropAfter.delete(file.path);
      res.write(body.subarray(0, drop), () => setTimeout(() => res.destroy(), 20));
      return;
    }
    res.end(body);
  }
}
