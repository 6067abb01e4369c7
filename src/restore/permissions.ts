// Tenant-safe restore: before the restore writes an object (creates, updates, deletes to create again, or
// makes a namespace), it asks whether the Restore's creator could have written it themselves, and what
// they could not is not written but failed, naming the permission missing. The restore engine knows
// nothing of how the question is answered: server mode asks SubjectAccessReviews for the creator
// (src/controller); standalone mode passes nothing, since the CLI runs with the user's own credentials and
// the API server refuses what they may not do. Answers are kept for the whole restore, one per verb,
// resource and namespace (and name, where RBAC decides by name), so that thousands of items cost a few
// reviews; concurrent items asking the same question share one.

/** One question, as a SubjectAccessReview's resourceAttributes asks it. */
export interface AccessRequest {
  /** `get`: the item as it was in its source namespace; `bind`, `escalate`: RBAC's own (rbacEscalations). */
  verb: 'create' | 'update' | 'delete' | 'get' | 'bind' | 'escalate';
  /** The API group; '' for the core group. */
  group: string;
  resource: string;
  subresource?: string | undefined;
  /** Absent: cluster scope. */
  namespace?: string | undefined;
  name?: string | undefined;
}

/** Who the restore writes for, and whether they may do what a request asks. */
export interface RestorePermissions {
  /** The user's name, for the messages. */
  user: string;
  allowed: (request: AccessRequest, signal?: AbortSignal) => Promise<boolean>;
}

export class PermissionCheck {
  private readonly permissions: RestorePermissions;
  private readonly answers = new Map<string, Promise<boolean>>();

  constructor(permissions: RestorePermissions) {
    this.permissions = permissions;
  }

  /** Why the creator may not do what `request` asks ("alice may not create secrets in namespace shop"), or undefined when they may. */
  async refusal(request: AccessRequest, signal?: AbortSignal): Promise<string | undefined> {
    const key = JSON.stringify([
      request.verb,
      request.group,
      request.resource,
      request.subresource,
      request.namespace,
      request.name,
    ]);
    let answer = this.answers.get(key);
    if (!answer) {
      answer = this.permissions.allowed(request, signal);
      this.answers.set(key, answer);
      // A review that could not be made is asked again by the next item, not remembered.
      answer.catch(() => this.answers.delete(key));
    }
    if (await answer) return undefined;
    const why =
      request.verb === 'get'
        ? "the restore copies only what the Restore's creator may read where it was backed up"
        : "the restore writes only what the Restore's creator may";
    return `${this.permissions.user} may not ${describe(request)} (${why})`;
  }
}

const RBAC = 'rbac.authorization.k8s.io';

/**
 * What RBAC itself asks before it lets someone write a role or a binding, asked for the creator: the API
 * server asks it of whoever sends the request, which for a restore is the server's account, and that holds
 * `bind` and `escalate`, so without these a namespace admin could restore a RoleBinding to cluster-admin
 * into their namespace. A binding needs `bind` on the role it names (as the API server's check asks it: in
 * the binding's namespace, at cluster scope for a ClusterRoleBinding); a role needs `escalate` on itself.
 * Stricter than the API server, which also lets through a role (or a binding of one) whose every rule the
 * user holds already: that comparison of rule sets is RBAC's internals, `bind` and `escalate` are its
 * documented verbs for the purpose (docs/security.md#tenant-safe-restore).
 */
export function rbacEscalations(
  groupResource: string,
  object: { metadata: { name: string }; roleRef?: unknown },
  namespace: string | undefined,
): AccessRequest[] {
  const dot = groupResource.indexOf('.');
  const [resource, group] = [groupResource.slice(0, dot), groupResource.slice(dot + 1)];
  if (dot < 0 || group !== RBAC) return [];
  if (resource === 'roles' || resource === 'clusterroles')
    return [{ verb: 'escalate', group, resource, namespace, name: object.metadata.name }];
  if (resource !== 'rolebindings' && resource !== 'clusterrolebindings') return [];
  const roleRef = (object.roleRef ?? {}) as { apiGroup?: unknown; kind?: unknown; name?: unknown };
  const name = typeof roleRef.name === 'string' ? roleRef.name : '';
  // An unknown kind is asked about as a ClusterRole: the API server refuses the object anyway.
  const roleResource = roleRef.kind === 'Role' ? 'roles' : 'clusterroles';
  return [{ verb: 'bind', group: RBAC, resource: roleResource, namespace, name }];
}

/** "create deployments.apps in namespace shop", "create persistentvolumes at cluster scope". */
function describe(request: AccessRequest): string {
  const resource =
    (request.group ? `${request.resource}.${request.group}` : request.resource) +
    (request.subresource ? `/${request.subresource}` : '');
  const named = request.name !== undefined ? ` ${request.name}` : '';
  return request.namespace !== undefined
    ? `${request.verb} ${resource}${named} in namespace ${request.namespace}`
    : `${request.verb} ${resource}${named} at cluster scope`;
}
