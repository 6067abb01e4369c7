// Small helpers of the format and storage tests.
import assert from 'node:assert/strict';

/** A copy of `data` with bits flipped at `offset`: a tampered byte. */
export function flip(data: Buffer, offset: number, bits = 0x01): Buffer {
  const copy = Buffer.from(data);
  copy.writeUInt8(copy.readUInt8(offset) ^ bits, offset);
  return copy;
}

/** The error `promise` rejects with; fails the test when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected a rejection');
}
