// The heartbeat: GET <RUNPOD_WEBHOOK_PING>&job_id=<ids in progress>&runpod_version=... every
// RUNPOD_PING_INTERVAL milliseconds, with the API key as the Authorization header, as
// runpod-python's pinger does (a failed ping is logged; the next one comes on schedule). The
// SDK runs it in a separate process so a handler holding Python's GIL cannot starve it; here
// model steps run on native threads and the event loop stays free, so a timer is enough.
import { type PlatformClient, describeError } from './http.js';
import type { Logger } from './logger.js';
import type { RunpodUrls } from './urls.js';

export class Heartbeat {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private inFlight: Promise<void> | null = null;

  constructor(
    private readonly client: PlatformClient,
    private readonly urls: RunpodUrls,
    private readonly intervalMs: number,
    private readonly jobIds: () => string[],
    private readonly log: Logger,
  ) {}

  start(): void {
    this.tick();
  }

  private tick(): void {
    if (this.stopped) return;
    this.inFlight = this.ping().finally(() => {
      this.inFlight = null;
      if (!this.stopped) this.timer = setTimeout(() => this.tick(), this.intervalMs);
    });
  }

  private async ping(): Promise<void> {
    const url = this.urls.heartbeat(this.jobIds());
    if (!url) return;
    try {
      const response = await this.client.get(url, { timeoutMs: Math.max(2 * this.intervalMs, 1000) });
      await response.arrayBuffer().catch(() => undefined);
      if (!response.ok) this.log.warn(`Heartbeat answered HTTP ${response.status}`);
    } catch (error) {
      this.log.warn(`Heartbeat failed (${describeError(error)})`);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.inFlight;
  }
}
