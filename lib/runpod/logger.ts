// Log lines as runpod-python writes them: `LEVEL  | <job id> | message` on a terminal, or one
// JSON object per line ({"requestId", "message", "level"}) when RUNPOD_ENDPOINT_ID is set (the
// platform's log collector reads those). Messages are cut in the middle beyond 4096 characters,
// and every secret the process knows (HF_TOKEN, RUNPOD_AI_API_KEY, ...) is masked before a line
// is written, whatever code produced it.

export type LogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
const RANK: Record<LogLevel, number> = { DEBUG: 0, INFO: 1, WARN: 2, ERROR: 3 };
export const LOG_LEVELS = Object.keys(RANK) as LogLevel[];

/** Environment variables whose values must never reach a log line. */
export const SECRET_ENV_VARS = [
  'HF_TOKEN',
  'HUGGING_FACE_HUB_TOKEN',
  'RUNPOD_AI_API_KEY',
  'API_KEY',
  'VLLM_API_KEY',
  'BUCKET_ACCESS_KEY_ID',
  'BUCKET_SECRET_ACCESS_KEY',
] as const;

const MAX_MESSAGE = 4096;

export interface Logger {
  debug(message: string, jobId?: string): void;
  info(message: string, jobId?: string): void;
  warn(message: string, jobId?: string): void;
  error(message: string, jobId?: string): void;
  /** Masks the known secrets in a text (for strings that leave the process another way). */
  redact(text: string): string;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** JSON lines (RunPod's format when RUNPOD_ENDPOINT_ID is set) instead of text. */
  json?: boolean;
  /** Where lines go. Default: process.stdout. */
  write?: (line: string) => void;
  /** Values to mask. Default: those of SECRET_ENV_VARS in process.env. */
  secrets?: string[];
}

export function secretsFromEnv(env: Record<string, string | undefined>): string[] {
  // Very short values would mask ordinary words; real tokens are long.
  return SECRET_ENV_VARS.map((name) => env[name]).filter((v): v is string => typeof v === 'string' && v.length >= 6);
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const threshold = RANK[options.level ?? 'INFO'];
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const secrets = [...(options.secrets ?? secretsFromEnv(process.env))].sort((a, b) => b.length - a.length);
  const redact = (text: string) => {
    let out = text;
    for (const secret of secrets) out = out.split(secret).join('[redacted]');
    return out;
  };
  const emit = (level: LogLevel, message: string, jobId?: string) => {
    if (RANK[level] < threshold) return;
    let text = redact(message);
    if (text.length > MAX_MESSAGE) {
      const half = Math.floor((MAX_MESSAGE - 5) / 2);
      text = `${text.slice(0, half)} ... ${text.slice(-half)}`;
    }
    if (options.json) write(JSON.stringify({ requestId: jobId ?? null, message: text, level }));
    else write(jobId ? `${level.padEnd(6)}| ${jobId} | ${text}` : `${level.padEnd(6)}| ${text}`);
  };
  return {
    debug: (m, id) => emit('DEBUG', m, id),
    info: (m, id) => emit('INFO', m, id),
    warn: (m, id) => emit('WARN', m, id),
    error: (m, id) => emit('ERROR', m, id),
    redact,
  };
}

/** A logger that drops everything (library use, tests that do not look at logs). */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {}, redact: (t) => t };
