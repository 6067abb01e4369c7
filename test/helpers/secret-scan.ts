// Looking for secret values in what Cairn prints and writes: each value in plain text, in base64 (as a
// Secret's `data` holds it) and in base64 of base64 (a Secret's JSON inside something base64-encoded),
// wherever it sits in a longer text. A value base64-encoded inside a longer string encodes differently by
// its byte offset modulo 3, so each alignment's characters that depend on the value alone are searched.

export interface Secret {
  /** What the value is, for the failure message ("Secret app/db data password"). */
  what: string;
  value: string;
}

export interface Leak {
  /** Where it was found ("backup describe --details", "location file backups/b/b-logs.gz"). */
  where: string;
  what: string;
  /** Which form: plain, base64 or base64(base64), and the byte offset modulo 3. */
  form: string;
}

/** The base64 characters that depend only on `value`, when it starts at a byte offset of `shift` (0-2). */
function embeddedBase64(value: Buffer, shift: number): string {
  const encoded = Buffer.concat([Buffer.alloc(shift), value]).toString('base64');
  // Character i holds bits 6i..6i+5: those before bit 8*shift mix in the bytes before the value, and
  // those past the value's last bit mix in the bytes after it.
  const first = Math.ceil((8 * shift) / 6);
  const last = Math.floor((8 * (shift + value.length)) / 6);
  return encoded.slice(first, last);
}

/** Every form of `value` searched for, with its name. */
export function secretForms(value: string): { form: string; text: string }[] {
  const plain = Buffer.from(value, 'utf8');
  const forms = [{ form: 'plain', text: value }];
  for (let shift = 0; shift < 3; shift++) {
    const once = embeddedBase64(plain, shift);
    forms.push({ form: `base64 (offset ${shift})`, text: once });
    for (let outer = 0; outer < 3; outer++)
      forms.push({
        form: `base64(base64) (offsets ${shift}, ${outer})`,
        text: embeddedBase64(Buffer.from(once, 'latin1'), outer),
      });
  }
  return forms;
}

/** The secrets found in `content`, each named with `where`. */
export function findLeaks(where: string, content: string | Buffer, secrets: readonly Secret[]): Leak[] {
  const text = typeof content === 'string' ? content : content.toString('latin1');
  const leaks: Leak[] = [];
  for (const secret of secrets)
    for (const { form, text: needle } of secretForms(secret.value))
      if (text.includes(needle)) leaks.push({ where, what: secret.what, form });
  return leaks;
}

/** A failure message listing every leak, one a line; empty when there are none. */
export function describeLeaks(leaks: readonly Leak[]): string {
  return leaks.map((l) => `${l.what} in ${l.where} (${l.form})`).join('\n');
}
