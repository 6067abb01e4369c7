// A backup's log (JSON lines: time, level, msg and the item's fields) as people read it, and its warnings
// and errors picked out. Pure (no DOM), so Node's tests import it.

export interface LogLine {
  time?: string | undefined;
  /** 'info', 'warning', 'error'; '' for a line that is not JSON. */
  level: string;
  message: string;
  /** The other fields, as key=value. */
  fields: string;
}

export function parseLog(text: string): LogLine[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      let entry: unknown;
      try {
        entry = JSON.parse(line);
      } catch {
        return { level: '', message: line, fields: '' };
      }
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
        return { level: '', message: line, fields: '' };
      const { time, level, msg, ...rest } = entry as Record<string, unknown>;
      return {
        time: typeof time === 'string' ? time : undefined,
        level: typeof level === 'string' ? level : '',
        message: typeof msg === 'string' ? msg : '',
        fields: Object.entries(rest)
          .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
          .join(' '),
      };
    });
}

/** One line of the log as text: "14:28:30.529Z warning  message  resource=… namespace=…". */
export function formatLogLine(line: LogLine): string {
  // The time of day, in UTC as the log writes it (a backup's log covers minutes, not days).
  const time = line.time?.match(/T([\d:.]+Z?)/)?.[1] ?? '';
  return [time, line.level.padEnd(7), line.message, line.fields]
    .filter((part) => part.trim() !== '')
    .join('  ');
}
