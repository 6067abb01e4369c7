// Loaded with --import into a measured process: prints its peak resident set size and its CPU time (user +
// system, every thread of the process) when it exits.
import { writeSync } from 'node:fs';

process.on('exit', () => {
  const usage = process.resourceUsage();
  writeSync(
    2,
    `\nBENCH_MAX_RSS_KB=${usage.maxRSS}\nBENCH_CPU_US=${usage.userCPUTime + usage.systemCPUTime}\n`,
  );
});
