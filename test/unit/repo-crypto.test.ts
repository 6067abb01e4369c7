// restic's authenticated encryption: IV || AES-256-CTR || Poly1305-AES, checked against the Poly1305-AES
// paper's test vectors and a ciphertext from restic's own tests, then against tampering and wrong keys.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  CIPHERTEXT_OVERHEAD,
  CorruptDataError,
  MacError,
  decrypt,
  encrypt,
  generateMasterKey,
  masterKeyFromJson,
  masterKeyToJson,
  type MasterKey,
} from '../../src/repo/index.ts';
import { flip } from '../helpers/bytes.ts';

const hex = (s: string) => Buffer.from(s, 'hex');
const macOnlyKey = (k: string, r: string): MasterKey => ({
  encrypt: Buffer.alloc(32, 1),
  mac: { k: hex(k), r: hex(r) },
});

// Bernstein, "The Poly1305-AES message-authentication code" (2005), appendix B: msg, r, k, nonce, MAC.
const paperVectors = [
  [
    'f3f6',
    '851fc40c3467ac0be05cc20404f3f700',
    'ec074c835580741701425b623235add6',
    'fb447350c4e868c52ac3275cf9d4327e',
    'f4c633c3044fc145f84f335cb81953de',
  ],
  [
    '',
    'a0f3080000f46400d0c7e9076c834403',
    '75deaa25c09f208e1dc4ce6b5cad3fbf',
    '61ee09218d29b0aaed7e154a2c5509cc',
    'dd3fab2251f11ac759f0887129cc2ee7',
  ],
  [
    '663cea190ffb83d89593f3f476b6bc24d7e679107ea26adb8caf6652d0656136',
    '48443d0bb0d21109c89a100b5ce2c208',
    '6acb5f61a7176dd320c5c1eb2edcdc74',
    'ae212a55399729595dea458bc621ff0e',
    '0ee1c16bb73f0f4fd19881753c01cdbe',
  ],
] as const;

describe('repository encryption', () => {
  it('computes Poly1305-AES over the ciphertext with the IV as nonce (the paper vectors verify)', () => {
    for (const [msg, r, k, nonce, mac] of paperVectors) {
      const sealed = Buffer.concat([hex(nonce), hex(msg), hex(mac)]);
      assert.equal(decrypt(macOnlyKey(k, r), sealed, 'vector').length, msg.length / 2);
      assert.throws(() => decrypt(macOnlyKey(k, r), flip(sealed, sealed.length - 1), 'vector'), MacError);
    }
  });

  it('decrypts a ciphertext restic wrote in its own tests', () => {
    const key: MasterKey = {
      encrypt: hex('303e8687b1d7db18421bdc6bb8588ccadac4d59ee87b8ff70c44e635790cafef'),
      mac: { k: hex('ef4d8824cb80b2bcc5fbff8a9b12a42c'), r: hex('cc8d4b948ee0ebfe1d415de921d10353') },
    };
    const ciphertext = hex(
      '69fb41c62d12def4593bd71757138606338f621aeaeb39da0fe4f99233f8037a54ea63338a813bcf3f75d8c3cc75dddf8750',
    );
    assert.equal(decrypt(key, ciphertext, 'restic vector').toString(), 'Dies ist ein Test!');
  });

  it('round-trips plaintexts of any length, 32 bytes longer, with a fresh IV each time', () => {
    const key = generateMasterKey();
    for (const size of [0, 1, 15, 16, 17, 4096, 100_003]) {
      const plaintext = randomBytes(size);
      const a = encrypt(key, plaintext);
      const b = encrypt(key, plaintext);
      assert.equal(a.length, size + CIPHERTEXT_OVERHEAD);
      assert.notDeepEqual(a.subarray(0, 16), b.subarray(0, 16));
      assert.deepEqual(decrypt(key, a, 'x'), plaintext);
    }
  });

  it('fails with MacError naming the file when any byte is flipped: IV, ciphertext or MAC', () => {
    const key = generateMasterKey();
    const sealed = encrypt(key, Buffer.from('snapshot of the orders database'));
    for (const offset of [0, 15, 16, 30, sealed.length - 16, sealed.length - 1]) {
      const error = (() => {
        try {
          return decrypt(key, flip(sealed, offset), 'index/4f3a');
        } catch (e) {
          return e;
        }
      })();
      assert.ok(error instanceof MacError, `offset ${offset}: ${String(error)}`);
      assert.match(error.message, /index\/4f3a/);
    }
  });

  it('fails with MacError under another key, and with CorruptDataError for a too-short input', () => {
    const sealed = encrypt(generateMasterKey(), Buffer.from('secret'));
    assert.throws(() => decrypt(generateMasterKey(), sealed, 'config'), MacError);
    assert.throws(() => decrypt(generateMasterKey(), sealed.subarray(0, 31), 'config'), CorruptDataError);
  });

  it('writes the master key in restic JSON shape (base64 mac.k, mac.r, encrypt) and reads it back', () => {
    const key = generateMasterKey();
    const json = JSON.parse(JSON.stringify(masterKeyToJson(key))) as {
      mac: { k: string; r: string };
      encrypt: string;
    };
    assert.deepEqual(Object.keys(json).sort(), ['encrypt', 'mac']);
    assert.equal(Buffer.from(json.mac.k, 'base64').length, 16);
    assert.equal(Buffer.from(json.encrypt, 'base64').length, 32);
    assert.deepEqual(masterKeyFromJson(json, 'k'), key);
    assert.throws(() => masterKeyFromJson({ ...json, encrypt: 'AAAA' }, 'keys/x'), CorruptDataError);
  });

  it('measures encryption and MAC throughput on 16 MiB', (t) => {
    const key = generateMasterKey();
    const data = randomBytes(16 * 1024 * 1024);
    encrypt(key, data.subarray(0, 1024 * 1024)); // warm up
    const start = performance.now();
    const sealed = encrypt(key, data);
    const sealedAt = performance.now();
    const opened = decrypt(key, sealed, 'bench');
    const end = performance.now();
    assert.equal(opened.length, data.length);
    const rate = (ms: number) => `${(16 / (ms / 1000)).toFixed(0)} MiB/s`;
    t.diagnostic(
      `encrypt (AES-CTR + Poly1305): ${rate(sealedAt - start)}; verify + decrypt: ${rate(end - sealedAt)}`,
    );
  });
});
