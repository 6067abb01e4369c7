// The grants in DownloadRequests' URLs: `<payload>.<signature>`, both base64url, the payload a JSON record
// of one file (the target's kind, name and uid, the location it was found in, the namespace) and its
// expiry, the signature an HMAC-SHA256 of the payload (compared in constant time). The uid binds the grant
// to the one Backup or Restore it was made for: one deleted and created again under the same name within
// the grant's life is another object, whose files the grant does not open. Whoever holds the URL may read that one file until then, and
// nothing else: the DownloadRequest was the authorization (RBAC on creating it), the URL carries it.
//
// The key is random per server process, never stored: the URL is served by the leader that signed it
// (the Service reaches the leader only, and a standby sends callers there), so no Secret has to hold
// it or be protected; a restart or a failover voids the grants, which last minutes, and the CLI simply
// asks again. Written by hand over node:crypto rather than with a JWT library: the format is these
// few lines, and a JWT's algorithm header is a choice an attacker should not get.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { DOWNLOAD_TARGET_KINDS, type DownloadTargetKind } from '../api/index.ts';

/** One file, granted until `expires` (ms since the epoch). */
export interface DownloadGrant {
  namespace: string;
  kind: DownloadTargetKind;
  name: string;
  /** The Backup's or Restore's metadata.uid when the grant was made. */
  uid: string;
  /** The BackupLocation the file was found in. */
  location: string;
  expires: number;
}

/** The grant was refused: forged, altered, expired, or not a grant at all. */
export class GrantRefusedError extends Error {
  override readonly name = 'GrantRefusedError';
}

const KINDS = new Set<string>(DOWNLOAD_TARGET_KINDS);

export class DownloadGrants {
  readonly #key: Buffer;

  constructor(key: Buffer = randomBytes(32)) {
    this.#key = key;
  }

  #mac(payload: string): Buffer {
    return createHmac('sha256', this.#key).update(payload).digest();
  }

  sign(grant: DownloadGrant): string {
    const payload = Buffer.from(
      JSON.stringify([grant.namespace, grant.kind, grant.name, grant.uid, grant.location, grant.expires]),
    ).toString('base64url');
    return `${payload}.${this.#mac(payload).toString('base64url')}`;
  }

  /** The grant a token carries, checked against the key and `now` (ms); GrantRefusedError otherwise. */
  verify(token: string, now: number): DownloadGrant {
    const [payload = '', signature = '', extra] = token.split('.');
    const given = Buffer.from(signature, 'base64url');
    const expected = this.#mac(payload);
    if (extra !== undefined || given.length !== expected.length || !timingSafeEqual(given, expected))
      throw new GrantRefusedError(
        'the download URL is not one this server signed (altered, or from before a restart)',
      );
    const [namespace, kind, name, uid, location, expires] = JSON.parse(
      Buffer.from(payload, 'base64url').toString('utf8'),
    ) as [string, string, string, string, string, number];
    if (!KINDS.has(kind)) throw new GrantRefusedError(`the download URL names an unknown kind "${kind}"`);
    if (!(expires > now))
      throw new GrantRefusedError(
        `the download URL expired at ${new Date(expires).toISOString()}: create a new DownloadRequest`,
      );
    return { namespace, kind: kind as DownloadTargetKind, name, uid, location, expires };
  }
}
