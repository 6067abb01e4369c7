// What a command may touch of the process: its environment and its output streams. main() receives
// them from bin/cairn.js, and tests pass their own.
export interface CliIO {
  env: Readonly<Record<string, string | undefined>>;
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
}
