// Go durations, as Velero's ttl field and Kubernetes use them: "720h", "1h30m", "90s", "720h0m0s".
const units: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};
const part = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;

/** Milliseconds of a Go duration, or undefined when the text is not one. */
export function parseGoDuration(text: string): number | undefined {
  if (text === '0') return 0;
  part.lastIndex = 0;
  let total = 0;
  let matched = 0;
  for (let m = part.exec(text); m !== null; m = part.exec(text)) {
    total += Number(m[1]) * (units[m[2] ?? ''] ?? 0);
    matched = part.lastIndex;
  }
  return matched === text.length && matched > 0 ? total : undefined;
}

/** Formats milliseconds as Go prints a duration's whole seconds: 720h0m0s, 1h30m0s, 45s, 0s. */
export function formatGoDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}
