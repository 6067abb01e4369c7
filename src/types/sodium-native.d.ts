// The part of sodium-native (libsodium bindings, no types of its own; @types/sodium-native describes
// version 2 and is not kept with the package) that Cairn uses: Poly1305 with a one-time key
// (src/repo/crypto.ts).
declare module 'sodium-native' {
  const sodium: {
    /** Writes the 16-byte Poly1305 tag of `input` under the 32-byte one-time `key` (r || s) to `output`. */
    crypto_onetimeauth(output: Uint8Array, input: Uint8Array, key: Uint8Array): void;
  };
  export default sodium;
}
