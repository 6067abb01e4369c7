// Resolves the names users type for resources — plural, singular, short name, kind, `resource.group`,
// `resource.version.group` — to served resources, as kubectl does: a bare name that several groups
// serve (events, events.events.k8s.io) resolves to the core group first, then to the group the API server
// lists first; the full `resource.group` form always picks exactly one.
import type { ApiResource } from './discovery.ts';
import { UnknownResourceError } from './errors.ts';

export class ResourceMapper {
  /** Preferred versions only, in discovery order. */
  readonly preferred: readonly ApiResource[];
  private readonly all: readonly ApiResource[];

  constructor(resources: readonly ApiResource[]) {
    this.all = resources;
    this.preferred = resources.filter((r) => r.preferred);
  }

  /** The preferred version of a group resource ('deployments.apps'), if the cluster serves it. */
  byGroupResource(groupResource: string): ApiResource | undefined {
    return this.preferred.find((r) => r.groupResource === groupResource);
  }

  /** Every served version of a group resource, preferred first. */
  versionsOf(groupResource: string): ApiResource[] {
    return this.all.filter((r) => r.groupResource === groupResource);
  }

  /** Resolves one user-typed name; throws UnknownResourceError naming it when nothing matches. */
  resolve(input: string): ApiResource {
    const found = this.tryResolve(input);
    if (!found) {
      throw new UnknownResourceError(
        input,
        'the cluster serves no resource of that name (see kubectl api-resources)',
      );
    }
    return found;
  }

  tryResolve(input: string): ApiResource | undefined {
    const name = input.trim().toLowerCase();
    if (name === '') return undefined;
    const matchesName = (r: ApiResource, n: string) =>
      r.resource === n || r.singular === n || r.kind.toLowerCase() === n || r.shortNames.includes(n);

    // A bare name: every group that serves it, core first.
    const bare = this.preferred.filter((r) => matchesName(r, name));
    if (bare.length > 0) return bare.find((r) => r.group === '') ?? bare[0];

    // `resource.group` or `resource.version.group`.
    const dot = name.indexOf('.');
    if (dot > 0) {
      const head = name.slice(0, dot);
      const rest = name.slice(dot + 1);
      const withGroup = this.preferred.find((r) => r.group === rest && matchesName(r, head));
      if (withGroup) return withGroup;
      const second = rest.indexOf('.');
      if (second > 0) {
        const version = rest.slice(0, second);
        const group = rest.slice(second + 1);
        return this.all.find((r) => r.group === group && r.version === version && matchesName(r, head));
      }
    }
    return undefined;
  }
}
