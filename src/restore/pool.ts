// A bounded pool: runs `work` on every element of a source, at most `limit` at a time, and resolves when
// all are done. `work` reports per-element problems itself; a rejection (an abort, a broken source) stops
// taking new elements and rejects once the running ones have settled.

export async function forEachBounded<T>(
  source: AsyncIterable<T> | Iterable<T>,
  limit: number,
  work: (element: T) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  const running = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  const start = (element: T) => {
    const task: Promise<void> = work(element).then(
      () => void running.delete(task),
      (error: unknown) => {
        running.delete(task);
        failure ??= { error };
      },
    );
    running.add(task);
  };
  try {
    for await (const element of source) {
      signal?.throwIfAborted();
      if (failure) break;
      start(element);
      if (running.size >= Math.max(1, limit)) await Promise.race(running);
    }
  } catch (error) {
    failure ??= { error };
  }
  await Promise.all(running);
  if (failure) throw failure.error;
}
