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
  verb: 'create' | 'update' | 'delete';
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
    return `${this.permissions.user} may not ${describe(request)} (the restore writes only what the Restore's creator may)`;
  }
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
