// What the repository takes from its surroundings, passed in through options (STYLE.md habit 7): time,
// randomness, who and where we are (for key and lock files), whether a process is alive, and where
// warnings go. The defaults here read the machine; tests pass their own. `Clock` has the same shape as
// the api layer's clock (this layer imports nothing of ours), so that clock can be passed as is.
import { randomBytes as cryptoRandomBytes, randomFillSync } from 'node:crypto';
import { hostname as osHostname, userInfo } from 'node:os';

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms`, or at once when `signal` has aborted or as soon as it does; never rejects. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Fills a new buffer of `size` bytes with cryptographically secure random bytes. */
export type RandomBytes = (size: number) => Buffer;

/** Who writes key and lock files: restic records these for humans (and pid for stale-lock checks). */
export interface Identity {
  hostname: string;
  username: string;
  pid: number;
  /** Absent where the platform has none; restic omits zero values. */
  uid?: number | undefined;
  gid?: number | undefined;
}

/** Where the repository reports what it fixed by itself (a stale lock removed). */
export interface RepoLogger {
  warn(message: string): void;
}

export interface SignalOptions {
  signal?: AbortSignal | undefined;
}

// Small draws (a blob's 16-byte IV, one per blob) come from a pool that one call to OpenSSL's generator
// refills: a call costs a few microseconds, as much as sealing a small file's blob. Larger ones are drawn
// directly.
const randomPool = Buffer.allocUnsafeSlow(4096);
let randomPoolAt = randomPool.length;

export const systemRandomBytes: RandomBytes = (size) => {
  if (size > 256) return cryptoRandomBytes(size);
  if (randomPoolAt + size > randomPool.length) {
    randomFillSync(randomPool);
    randomPoolAt = 0;
  }
  const bytes = Buffer.from(randomPool.subarray(randomPoolAt, randomPoolAt + size));
  randomPool.fill(0, randomPoolAt, randomPoolAt + size); // drawn bytes do not stay behind
  randomPoolAt += size;
  return bytes;
};

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) {
        resolve();
        return;
      }
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      signal?.addEventListener('abort', done, { once: true });
    }),
};

/** This process: the machine's host name, the user (empty when it has no passwd entry), pid, uid and gid. */
export function systemIdentity(): Identity {
  let username = '';
  try {
    username = userInfo().username;
  } catch {
    // A container user without a passwd entry: restic leaves the name empty too.
  }
  return {
    hostname: osHostname(),
    username,
    pid: process.pid,
    uid: process.getuid?.(),
    gid: process.getgid?.(),
  };
}

/** Whether a process with `pid` runs on this machine (signal 0 probes without delivering anything). */
export function systemProcessExists(pid: number): boolean {
  // 0 and negative pids address process groups: a lock that records one cannot be checked.
  if (!Number.isSafeInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export const silentLogger: RepoLogger = { warn: () => {} };
