// Typed errors of the object stores: one class per condition, each naming the store (its description,
// never a secret) and the key, with the driver's error as `cause`. Messages are lower-case sentences.

/** What every object-store error carries: the store it came from. */
export abstract class ObjectStoreError extends Error {
  abstract override readonly name: string;
  readonly store: string;
  constructor(store: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.store = store;
  }
}

/** `get` of a key that is not in the store. */
export class ObjectNotFoundError extends ObjectStoreError {
  override readonly name = 'ObjectNotFoundError';
  readonly key: string;
  constructor(store: string, key: string, options?: { cause?: unknown }) {
    super(store, `object ${JSON.stringify(key)} not found in ${store}`, options);
    this.key = key;
  }
}

/** A write-once `put` (`ifAbsent`) of a key that is already in the store; the store is unchanged. */
export class ObjectExistsError extends ObjectStoreError {
  override readonly name = 'ObjectExistsError';
  readonly key: string;
  constructor(store: string, key: string, options?: { cause?: unknown }) {
    super(store, `object ${JSON.stringify(key)} already exists in ${store}`, options);
    this.key = key;
  }
}

/**
 * A ranged `get` whose range does not lie inside the object: it starts at or past the object's end, or
 * ends past it. `length` is undefined for a range to the end; `size` is the object's size.
 */
export class RangeNotSatisfiableError extends ObjectStoreError {
  override readonly name = 'RangeNotSatisfiableError';
  readonly key: string;
  readonly offset: number;
  readonly length: number | undefined;
  readonly size: number;
  constructor(
    store: string,
    key: string,
    range: { offset: number; length?: number | undefined },
    size: number,
    options?: { cause?: unknown },
  ) {
    const bytes =
      range.length === undefined
        ? `bytes ${range.offset} to the end`
        : `bytes ${range.offset}-${range.offset + range.length - 1}`;
    super(
      store,
      `cannot read ${bytes} of ${JSON.stringify(key)} in ${store}: the object is ${size} bytes long`,
      options,
    );
    this.key = key;
    this.offset = range.offset;
    this.length = range.length;
    this.size = size;
  }
}

/** A key (or list prefix) the store refuses: `..`, a leading `/`, empty segments, or one it cannot map. */
export class InvalidKeyError extends ObjectStoreError {
  override readonly name = 'InvalidKeyError';
  readonly key: string;
  readonly reason: string;
  constructor(store: string, key: string, reason: string, options?: { cause?: unknown }) {
    super(store, `invalid key ${JSON.stringify(key)} for ${store}: ${reason}`, options);
    this.key = key;
    this.reason = reason;
  }
}

/**
 * The store could not serve the request: unreachable, a 5xx answer, throttling, or a missing bucket.
 * `transient` says whether trying again later may succeed (network and 5xx: yes; a missing bucket: no).
 */
export class StoreUnavailableError extends ObjectStoreError {
  // Widened to string: StoreTimeoutError is one, with a name of its own.
  override readonly name: string = 'StoreUnavailableError';
  readonly reason: string;
  readonly transient: boolean;
  readonly key: string | undefined;
  constructor(
    store: string,
    reason: string,
    transient: boolean,
    key?: string,
    options?: { cause?: unknown },
  ) {
    super(
      store,
      `${store} is unavailable${key === undefined ? '' : ` for ${JSON.stringify(key)}`}: ${reason}`,
      options,
    );
    this.reason = reason;
    this.transient = transient;
    this.key = key;
  }
}

/**
 * A store operation that got no answer within the request timeout, or whose body moved no bytes for the
 * idle timeout while the other side waited (withTimeouts): it was aborted. Transient (withRetry tries
 * again) unless it is what withRetry gave up with. `key` is the operation's key (a list's prefix).
 */
export class StoreTimeoutError extends StoreUnavailableError {
  override readonly name = 'StoreTimeoutError';
  /** The location's name, as its messages and metrics name it. */
  readonly location: string;
  readonly operation: string;
  /** Which limit passed: `request` (no answer) or `idle` (a body that moved no bytes). */
  readonly limit: 'request' | 'idle';
  readonly limitMs: number;
  /** The tries withRetry made before it gave up with this error; undefined for one call's timeout. */
  readonly attempts: number | undefined;
  constructor(details: {
    store: string;
    location: string;
    operation: string;
    key: string;
    limit: 'request' | 'idle';
    limitMs: number;
    /** Tries made, when withRetry gave up: the error is then not transient. */
    attempts?: number | undefined;
    cause?: unknown;
  }) {
    const { store, location, operation, key, limit, limitMs, attempts } = details;
    const seconds = `${Number((limitMs / 1000).toFixed(3))} s`;
    const what = limit === 'request' ? `no answer in ${seconds}` : `no progress for ${seconds}`;
    const reason =
      `location "${location}": ${operation} ${JSON.stringify(key)}: ${what} ` +
      `(${limit} timeout${attempts === undefined ? '' : `, ${attempts} attempts`})`;
    super(store, reason, attempts === undefined, key, 'cause' in details ? { cause: details.cause } : {});
    this.message = reason;
    this.location = location;
    this.operation = operation;
    this.limit = limit;
    this.limitMs = limitMs;
    this.attempts = attempts;
  }
}

/** The store refused the credentials or their permissions (401/403). Not transient. */
export class StoreAccessDeniedError extends ObjectStoreError {
  override readonly name = 'StoreAccessDeniedError';
  readonly key: string | undefined;
  readonly reason: string;
  constructor(store: string, key: string | undefined, reason: string, options?: { cause?: unknown }) {
    super(
      store,
      `access denied by ${store}${key === undefined ? '' : ` for ${JSON.stringify(key)}`}: ${reason}`,
      options,
    );
    this.key = key;
    this.reason = reason;
  }
}

/** Any other refusal by the service (an unexpected 4xx). `status` is the HTTP status when known. */
export class StoreRequestError extends ObjectStoreError {
  override readonly name = 'StoreRequestError';
  readonly operation: string;
  readonly key: string | undefined;
  readonly status: number | undefined;
  readonly reason: string;
  constructor(
    store: string,
    operation: string,
    key: string | undefined,
    status: number | undefined,
    reason: string,
    options?: { cause?: unknown },
  ) {
    const what = key === undefined ? operation : `${operation} ${JSON.stringify(key)}`;
    super(
      store,
      `${what} failed on ${store}${status === undefined ? '' : ` (${status})`}: ${reason}`,
      options,
    );
    this.operation = operation;
    this.key = key;
    this.status = status;
    this.reason = reason;
  }
}

/** A `put` or `delete` through a read-only view of a store. */
export class ReadOnlyStoreError extends ObjectStoreError {
  override readonly name = 'ReadOnlyStoreError';
  readonly operation: 'put' | 'delete';
  readonly key: string;
  constructor(store: string, operation: 'put' | 'delete', key: string) {
    super(store, `cannot ${operation} ${JSON.stringify(key)}: ${store} is read-only`);
    this.operation = operation;
    this.key = key;
  }
}

/** A `put` whose body was not `contentLength` bytes long; nothing was stored. */
export class ContentLengthMismatchError extends ObjectStoreError {
  override readonly name = 'ContentLengthMismatchError';
  readonly key: string;
  readonly expected: number;
  readonly actual: number;
  constructor(store: string, key: string, expected: number, actual: number) {
    super(
      store,
      `body of ${JSON.stringify(key)} for ${store} is not ${expected} bytes long (read ${actual})`,
    );
    this.key = key;
    this.expected = expected;
    this.actual = actual;
  }
}

const networkCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'REQUEST_SEND_ERROR',
]);

/** The network error (connection refused, reset, DNS, timeout) somewhere in `error`'s cause chain, if any. */
export function networkErrorCode(error: unknown): string | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && networkCodes.has(code)) return code;
    if (e.name === 'TimeoutError') return 'ETIMEDOUT';
  }
  return undefined;
}

/**
 * The message of an unknown thrown value, with URL query strings and user info cut out: a SAS token or
 * a presigned signature in a driver's message must not reach ours.
 */
export function messageOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)(?:[^\s/@]*@)?([^\s?#]*)[?#]\S*/gi, '$1$2?…')
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]*@/gi, '$1');
}
