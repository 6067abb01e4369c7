// The CA bundle the server publishes in the ConfigMap cairn-ca (src/controller/serving-cert.ts): the CA of
// the certificate served first, then each earlier CA until it expires, once each.
// test/e2e/server-tls.test.ts checks the bundle against real TLS handshakes.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { caBundle } from '../../src/controller/serving-cert.ts';

const DAY_MS = 86_400_000;
const now = new Date('2026-12-07T12:00:00Z');
const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

/** A self-signed CA named `name`, valid until `notAfter`. */
async function ca(name: string, notAfter: Date): Promise<string> {
  const keys = await globalThis.crypto.subtle.generateKey(algorithm, false, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: '01',
      name: `CN=${name}`,
      notBefore: new Date(notAfter.getTime() - 365 * DAY_MS),
      notAfter,
      keys,
      signingAlgorithm: algorithm,
      extensions: [new x509.BasicConstraintsExtension(true, 0, true)],
    },
    globalThis.crypto,
  );
  return cert.toString('pem') + '\n';
}

const subjects = (bundle: string) =>
  x509.PemConverter.decode(bundle).map((der) => new X509Certificate(Buffer.from(der)).subject);

describe('the published CA bundle', () => {
  it('holds the new CA first, then the earlier ones not yet expired, each once', async () => {
    const fresh = await ca('fresh', new Date(now.getTime() + 365 * DAY_MS));
    const previous = await ca('previous', new Date(now.getTime() + 20 * DAY_MS));
    const expired = await ca('expired', new Date(now.getTime() - DAY_MS));
    const published = previous + expired + fresh;
    const bundle = caBundle(Buffer.from(fresh), [Buffer.from(previous), published], now);
    assert.deepEqual(subjects(bundle), ['CN=fresh', 'CN=previous']);
    assert.ok(bundle.startsWith(fresh), 'the served CA as it is, first');
  });

  it('keeps the 8 newest earlier CAs, so that replicas renewing in turn do not grow it for a year', async () => {
    const fresh = await ca('fresh', new Date(now.getTime() + 365 * DAY_MS));
    const earlier: string[] = [];
    for (let i = 0; i < 10; i++)
      earlier.push(await ca(`earlier-${i}`, new Date(now.getTime() + 300 * DAY_MS)));
    assert.deepEqual(subjects(caBundle(Buffer.from(fresh), [earlier.join('')], now)), [
      'CN=fresh',
      ...earlier.slice(0, 8).map((_, i) => `CN=earlier-${i}`),
    ]);
  });

  it('is the CA alone when nothing was published before, and ignores what is not PEM', async () => {
    const fresh = await ca('fresh', new Date(now.getTime() + 365 * DAY_MS));
    assert.equal(caBundle(Buffer.from(fresh), [undefined, 'not a certificate'], now), fresh);
  });
});
