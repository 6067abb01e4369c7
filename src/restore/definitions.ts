// Restored CustomResourceDefinitions: their custom objects can be created only once the API server serves
// them. After the definitions' stage, the restore waits until each definition it created or found is
// Established, then reads discovery again until it serves every one's resource (or the wait is over:
// their custom objects then fail, each with its reason).
import type { ApiResource } from '../kube/index.ts';
import type { RestoreContext } from './context.ts';

type Conditions = { conditions?: { type: string; status: string }[] } | undefined;

/** Waits for the definitions `names` (of the resource `definitions`) to be served; reads discovery again. */
export async function awaitDefinitions(
  ctx: RestoreContext,
  definitions: ApiResource,
  names: readonly string[],
): Promise<void> {
  const timeout = ctx.input.timeoutsMs?.definitionEstablished ?? 60_000;
  const established = ctx.deadline(timeout);
  for (const name of names) {
    const done = async () => {
      const live = await ctx.readLive(definitions, undefined, name);
      const conditions = (live?.status as Conditions)?.conditions ?? [];
      return conditions.some((c) => c.type === 'Established' && c.status === 'True');
    };
    if (!(await ctx.waitUntil(done, established, 100)))
      ctx.log({
        level: 'error',
        message: `customresourcedefinition ${name} was not Established in time; its custom objects may fail`,
      });
  }
  // Discovery catches up with a new definition a moment after it is Established.
  let missing: readonly string[] = names;
  const served = async () => {
    ctx.mapper = await ctx.input.rediscover();
    missing = names.filter((name) => ctx.mapper.versionsOf(name).length === 0);
    return missing.length === 0;
  };
  if (!(await ctx.waitUntil(served, ctx.deadline(timeout), 200)))
    ctx.log({
      level: 'error',
      message: `the cluster does not serve ${missing.join(', ')} although its definition was restored`,
    });
}
