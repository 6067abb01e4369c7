// The dashboard's client of /ui/api (docs/design/dashboard.md): one method per endpoint, the bearer token
// on every request when the app holds one, and every error answer turned into an ApiError carrying the
// server's `{error}` text. No DOM, so Node's tests can drive it against a local server.
import type {
  BackupDetail,
  BackupList,
  DashboardOverview,
  DashboardSession,
  RestorePreview,
  RestoreRequest,
  RestoreState,
  ScheduleDetail,
  ScheduleRequest,
  ScheduleRow,
} from '../api/index.ts';

export class ApiError extends Error {
  /** The HTTP status; 0 when the server could not be reached. */
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

export interface ApiOptions {
  /** Where the API lives, ending in "/": "/ui/api/". */
  base: string;
  /** The bearer token to send, if the app holds one (behind `cairn dashboard`'s proxy it holds none). */
  token: () => string | undefined;
  /** Told of every 401 answer, so that the app can ask for a token. */
  onUnauthorized?: () => void;
  fetch?: typeof fetch;
}

/** The error text of an answer that is not ok: its `{error}`, else its text, else its status line. */
export async function errorText(response: Response): Promise<string> {
  const text = await response.text().catch(() => '');
  try {
    const body = JSON.parse(text) as unknown;
    if (body && typeof body === 'object' && 'error' in body && typeof body.error === 'string')
      return body.error;
  } catch {
    // Not JSON (a proxy's error page, say): its text is still the best account of what happened.
  }
  const trimmed = text.trim();
  if (trimmed !== '' && trimmed.length <= 500) return trimmed;
  return `${response.status} ${response.statusText}`.trim();
}

export class DashboardApi {
  readonly #options: ApiOptions;
  readonly #fetch: typeof fetch;

  constructor(options: ApiOptions) {
    this.#options = options;
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** The URL of an API path ("backups/x"), for the readers that fetch by themselves (the event stream). */
  url(path: string): string {
    return `${this.#options.base}${path}`;
  }

  /** The headers every request carries. */
  headers(): Record<string, string> {
    const token = this.#options.token();
    return token ? { authorization: `Bearer ${token}` } : {};
  }

  async #request(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    options: { body?: unknown; signal?: AbortSignal | undefined } = {},
  ): Promise<Response> {
    const headers = this.headers();
    const init: RequestInit = { method, headers };
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(options.body);
    }
    if (options.signal) init.signal = options.signal;
    let response: Response;
    try {
      response = await this.#fetch(this.url(path), init);
    } catch (error) {
      if (options.signal?.aborted) throw error;
      throw new ApiError(
        0,
        `cannot reach the server: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    if (!response.ok) {
      if (response.status === 401) this.#options.onUnauthorized?.();
      throw new ApiError(response.status, await errorText(response));
    }
    return response;
  }

  async #json<T>(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    options: { body?: unknown; signal?: AbortSignal | undefined } = {},
  ): Promise<T> {
    const response = await this.#request(method, path, options);
    return (await response.json()) as T;
  }

  /** An action whose answer the page does not need: only whether it succeeded. */
  async #act(method: 'POST' | 'DELETE', path: string): Promise<void> {
    const response = await this.#request(method, path);
    await response.body?.cancel();
  }

  session(signal?: AbortSignal): Promise<DashboardSession> {
    return this.#json('GET', 'session', { signal });
  }
  overview(signal?: AbortSignal): Promise<DashboardOverview> {
    return this.#json('GET', 'overview', { signal });
  }
  backups(signal?: AbortSignal): Promise<BackupList> {
    return this.#json('GET', 'backups', { signal });
  }
  backup(name: string, signal?: AbortSignal): Promise<BackupDetail> {
    return this.#json('GET', `backups/${encodeURIComponent(name)}`, { signal });
  }
  async backupLogs(name: string, signal?: AbortSignal): Promise<string> {
    const response = await this.#request('GET', `backups/${encodeURIComponent(name)}/logs`, { signal });
    return response.text();
  }
  deleteBackup(name: string): Promise<void> {
    return this.#act('DELETE', `backups/${encodeURIComponent(name)}`);
  }
  previewRestore(request: RestoreRequest, signal?: AbortSignal): Promise<RestorePreview> {
    return this.#json('POST', 'restores/preview', { body: request, signal });
  }
  createRestore(request: RestoreRequest): Promise<RestoreState> {
    return this.#json('POST', 'restores', { body: request });
  }
  restore(name: string, signal?: AbortSignal): Promise<RestoreState> {
    return this.#json('GET', `restores/${encodeURIComponent(name)}`, { signal });
  }
  scheduleAction(name: string, action: 'pause' | 'resume' | 'run'): Promise<void> {
    return this.#act('POST', `schedules/${encodeURIComponent(name)}/${action}`);
  }
  schedule(name: string, signal?: AbortSignal): Promise<ScheduleDetail> {
    return this.#json('GET', `schedules/${encodeURIComponent(name)}`, { signal });
  }
  createSchedule(request: ScheduleRequest): Promise<ScheduleRow> {
    return this.#json('POST', 'schedules', { body: request });
  }
  /** Changes the fields the request holds; `null` clears one. */
  editSchedule(name: string, request: ScheduleRequest): Promise<ScheduleRow> {
    return this.#json('PUT', `schedules/${encodeURIComponent(name)}`, { body: request });
  }
}
