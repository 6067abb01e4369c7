// A small table printer for the human output of `get` commands: upper-case headers, columns aligned
// with three spaces between them (as kubectl and Velero print), the last column never padded.

/** The rows under the headers, aligned; a row shorter than the headers leaves its last cells empty. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((header, i) =>
    Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    headers
      .map((_, i) => {
        const cell = cells[i] ?? '';
        return i === headers.length - 1 ? cell : cell.padEnd(widths[i] ?? 0);
      })
      .join('   ')
      .trimEnd() + '\n';
  return line(headers) + rows.map(line).join('');
}

/** Key-value lines with the values aligned: `Name:   shop`. */
export function formatFields(fields: readonly (readonly [string, string])[], indent = ''): string {
  const width = Math.max(0, ...fields.map(([label]) => label.length + 1));
  return fields.map(([label, value]) => `${indent}${`${label}:`.padEnd(width)}  ${value}\n`).join('');
}
