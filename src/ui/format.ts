// How the pages write durations, sizes, ages and times. Pure (no DOM), so Node's tests import it.

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** Bytes in binary units, three significant digits: 0 B, 512 B, 1.50 KiB, 12.3 MiB, 456 GiB. */
export function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined || !Number.isFinite(bytes) || bytes < 0) return '—';
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${value} B`;
  // Decimals from the value rounded to three digits, so that 99.999 is "100", not "100.00".
  const digits = (v: number) => {
    const rounded = Number(v.toPrecision(3));
    return rounded >= 100 ? 0 : rounded >= 10 ? 1 : 2;
  };
  // 1023.9 KiB rounds to "1024 KiB": write it as the unit above.
  if (Number(value.toFixed(digits(value))) >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(digits(value))} ${UNITS[unit]}`;
}

/** A duration in its two largest units: 0.4s, 42s, 3m 05s, 2h 10m, 3d 4h. */
export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '—';
  // Under a second, one significant digit: a fast backup is "0.4s", and a chart's axis can say so.
  if (seconds < 1) return `${Number(seconds.toPrecision(1))}s`;
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** How long ago an RFC 3339 time was, as kubectl prints ages: 45s, 12m, 3h, 5d. */
export function formatAge(time: string | undefined, now: number): string {
  const at = time === undefined ? NaN : Date.parse(time);
  if (Number.isNaN(at)) return '—';
  const s = Math.max(0, Math.floor((now - at) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** How long until an RFC 3339 time: "in 3h", or "due" once it has passed. */
export function formatUntil(time: string | undefined, now: number): string {
  const at = time === undefined ? NaN : Date.parse(time);
  if (Number.isNaN(at)) return '—';
  if (at <= now) return 'due';
  return `in ${formatAge(new Date(now).toISOString(), at)}`;
}

/** A time for people: "2026-12-03 04:21 UTC". UTC, so every reader of one page sees the same text. */
export function formatTime(time: string | undefined): string {
  const at = time === undefined ? NaN : Date.parse(time);
  if (Number.isNaN(at)) return '—';
  return `${new Date(at).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** A list of namespaces: "every namespace" for ['*'], else joined with commas. */
export function formatNamespaces(namespaces: string[]): string {
  if (namespaces.length === 0 || namespaces.includes('*')) return 'every namespace';
  return namespaces.join(', ');
}
