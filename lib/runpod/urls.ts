// The platform's URLs, built exactly as runpod-python builds them from the RUNPOD_WEBHOOK_*
// templates: `$ID` in the job-take URL is the worker id; in the done and stream URLs
// `$RUNPOD_POD_ID` is the worker id and `$ID` the job id; query parameters are appended
// (with `&`, the templates carry a `?gpu=...` query already; with `?` if one does not).
// The batch take route and the stop channel are derived from the take URL's `/job-take/`.

export interface RunpodUrlTemplates {
  getJob: string;
  postOutput: string;
  postStream: string;
  ping?: string;
}

/** runpod-python's protocol version nodellm speaks (sent as `runpod_version`). */
export const RUNPOD_PROTOCOL_VERSION = '1.12.0';

function withQuery(url: string, params: Record<string, string | number>): string {
  const query = Object.entries(params)
    .map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`)
    .join('&');
  if (!query) return url;
  return url + (url.includes('?') ? '&' : '?') + query;
}

export class RunpodUrls {
  private readonly getJob: string;
  private readonly postOutput: string;
  private readonly postStream: string;
  private readonly ping: string | undefined;

  constructor(templates: RunpodUrlTemplates, readonly workerId: string) {
    this.getJob = templates.getJob.replaceAll('$ID', workerId);
    this.postOutput = templates.postOutput.replaceAll('$RUNPOD_POD_ID', workerId);
    this.postStream = templates.postStream.replaceAll('$RUNPOD_POD_ID', workerId);
    this.ping = templates.ping?.replaceAll('$RUNPOD_POD_ID', workerId);
  }

  /** One job: `&job_in_progress=`; several: the job-take-batch route with `&batch_size=`. */
  take(count: number, jobInProgress: boolean): string {
    const inProgress = jobInProgress ? 1 : 0;
    if (count <= 1) return withQuery(this.getJob, { job_in_progress: inProgress });
    return withQuery(this.getJob.replace('/job-take/', '/job-take-batch/'), { batch_size: count, job_in_progress: inProgress });
  }

  /** The per-job stop channel, or null when the take URL has no `/job-take/` to derive it from. */
  stop(): string | null {
    return this.getJob.includes('/job-take/') ? this.getJob.replace('/job-take/', '/job-stop/') : null;
  }

  /** Stream chunks go with isStream=false; a generator job's final result with isStream=true. */
  stream(jobId: string): string {
    return withQuery(this.postStream.replaceAll('$ID', jobId), { isStream: 'false' });
  }

  done(jobId: string, isStream: boolean): string {
    return withQuery(this.postOutput.replaceAll('$ID', jobId), { isStream: isStream ? 'true' : 'false' });
  }

  /** The heartbeat: `job_id=<a,b,...>` (left out when none) and `runpod_version`. */
  heartbeat(jobIds: string[]): string | null {
    if (!this.ping) return null;
    // runpod-python shares the ids through 64 KiB of shared memory, cut at a comma.
    let ids = jobIds.join(',');
    if (ids.length > 65_536) ids = ids.slice(0, ids.lastIndexOf(',', 65_536));
    return withQuery(this.ping, { ...(ids && { job_id: ids }), runpod_version: RUNPOD_PROTOCOL_VERSION });
  }

  /** The report a worker sends before it exits for a fault: status=unhealthy, check, reason. */
  unhealthy(check: string, reason: string): string | null {
    if (!this.ping) return null;
    return withQuery(this.ping, { status: 'unhealthy', check, reason: reason.slice(0, 256), runpod_version: RUNPOD_PROTOCOL_VERSION });
  }
}
