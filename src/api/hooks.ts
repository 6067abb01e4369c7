// What happened to one hook, backup or restore: the records of `<backup>-hooks.json.gz` and
// `restore-<restore>-hooks.json.gz`, and what `describe --details` lists.

/** pre and post: backup hooks around a pod's volumes; init and post: restore hooks (init containers, exec). */
export type HookResultPhase = 'pre' | 'post' | 'init';

export interface HookResult {
  /** `namespace/name`. */
  pod: string;
  phase: HookResultPhase;
  /** The container the command ran in; for an init hook, the init container added. */
  container: string;
  command: string[];
  onError: 'Continue' | 'Fail';
  /**
   * Succeeded (exit code 0), Failed, or NotRun (an earlier hook failed with on-error Fail, or the backup
   * or restore was stopped).
   */
  outcome: 'Succeeded' | 'Failed' | 'NotRun';
  exitCode?: number | undefined;
  durationMs?: number | undefined;
  /** The first few KiB of each. */
  stdout?: string | undefined;
  stderr?: string | undefined;
  /** Why it failed or did not run, naming pod, container and command, and the on-error rule applied. */
  message?: string | undefined;
}

/** A hook's command: a JSON array of strings when it starts with `[`, else the one argument; or why not. */
export function parseHookCommand(text: string): string[] | string {
  const trimmed = text.trim();
  if (trimmed === '') return 'is empty';
  if (!trimmed.startsWith('[')) return [text];
  let parsed: unknown;
  try {
    parsed = JSON.parse(trimmed);
  } catch (error) {
    return `starts with [ but is not a JSON array (${(error as Error).message})`;
  }
  if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((a) => typeof a === 'string'))
    return 'is not a non-empty JSON array of strings';
  return parsed;
}
