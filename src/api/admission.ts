// Who created a Restore, recorded so that it cannot be forged: the Restore carries its creator's identity
// in the annotation `cairn.dev/creator`, and the ValidatingAdmissionPolicy `cairn-restore-creator` (run by
// the API server itself, so no webhook server is needed) refuses a Restore whose annotation is not the
// identity the API server authenticated for that very request, any update that changes it, and any
// change of its spec by someone other than that creator (it would run with the creator's rights). Only a
// user who may `delegate` restores (the server, which creates the dashboard's Restores on behalf of the
// person signed in; cluster-admins) may name someone else or leave it out. The server then restores only
// what that user may write (docs/security.md#tenant-safe-restore).
//
// The annotation is JSON, `{"username":"alice","groups":["team-a","system:authenticated"]}`: the policy
// renders the request's user the same way in CEL (strings.quote, the groups in the order the
// authenticator gave them) and compares the two strings, as CEL in the API server cannot parse JSON.
import { API_GROUP } from './backup.ts';
import { ANNOTATIONS } from './vocabulary.ts';

/** The identity a SubjectAccessReview asks about: what RBAC decides on. */
export interface RestoreCreator {
  username: string;
  groups: string[];
}

export const RESTORE_CREATOR_POLICY = 'cairn-restore-creator';
/** The verb on `restores.cairn.dev` that lets a user create a Restore in someone else's name. */
export const DELEGATE_VERB = 'delegate';

/** The annotation's value for a user, exactly as the policy renders the request's user. */
export function creatorAnnotation(user: RestoreCreator): string {
  return JSON.stringify({ username: user.username, groups: user.groups });
}

/** The creator an annotation names, or a problem naming the annotation and its value. */
export function parseCreator(value: string): RestoreCreator | { problem: string } {
  const problem = {
    problem: `metadata.annotations[${ANNOTATIONS.creator}]: must be {"username":…,"groups":[…]}, got ${JSON.stringify(value)}`,
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return problem;
  }
  const { username, groups } = (parsed ?? {}) as { username?: unknown; groups?: unknown };
  if (typeof username !== 'string' || username === '') return problem;
  if (!Array.isArray(groups) || groups.some((g) => typeof g !== 'string')) return problem;
  return { username, groups: groups as string[] };
}

/** A cluster-scoped object of admissionregistration.k8s.io/v1. */
export interface AdmissionObject {
  apiVersion: string;
  kind: 'ValidatingAdmissionPolicy' | 'ValidatingAdmissionPolicyBinding';
  metadata: { name: string };
  spec: Record<string, unknown>;
}

const CREATOR = `object.metadata.?annotations[?'${ANNOTATIONS.creator}'].orValue('')`;

/**
 * The ValidatingAdmissionPolicy and its binding (every namespace: a Restore anywhere is refused the same
 * way), as `cairn install` and the Helm chart apply them. Needs Kubernetes 1.30 (the policy API is GA).
 */
export function restoreCreatorPolicy(): AdmissionObject[] {
  const policy: AdmissionObject = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name: RESTORE_CREATOR_POLICY },
    spec: {
      // A policy that cannot be evaluated refuses: an unchecked Restore would be trusted.
      failurePolicy: 'Fail',
      matchConstraints: {
        resourceRules: [
          {
            apiGroups: [API_GROUP],
            apiVersions: ['*'],
            operations: ['CREATE', 'UPDATE'],
            resources: ['restores'],
          },
        ],
      },
      variables: [
        { name: 'creator', expression: CREATOR },
        {
          name: 'requester',
          expression:
            `'{"username":' + strings.quote(request.userInfo.username) + ',"groups":[' + ` +
            `request.userInfo.?groups.orValue([]).map(g, strings.quote(g)).join(',') + ']}'`,
        },
        {
          name: 'delegates',
          expression: `authorizer.group('${API_GROUP}').resource('restores').namespace(request.namespace).check('${DELEGATE_VERB}').allowed()`,
        },
      ],
      validations: [
        {
          expression:
            "request.operation != 'CREATE' || variables.creator == variables.requester || variables.delegates",
          messageExpression:
            `'metadata.annotations[${ANNOTATIONS.creator}] must be your identity as the API server knows it ` +
            `(cairn restore create sets it): ' + variables.requester + ` +
            `(variables.creator == '' ? '; it is missing' : '; got ' + variables.creator)`,
          reason: 'Forbidden',
        },
        {
          expression: `request.operation != 'UPDATE' || variables.creator == ${CREATOR.replace('object.', 'oldObject.')}`,
          message: `metadata.annotations[${ANNOTATIONS.creator}] cannot change: it records who created the Restore`,
          reason: 'Forbidden',
        },
        {
          // The restore runs with the creator's rights: a spec someone else wrote would borrow them. The
          // server's status writes go to the status subresource, which this policy does not match.
          expression:
            "request.operation != 'UPDATE' || object.spec == oldObject.spec || " +
            'variables.creator == variables.requester || variables.delegates',
          messageExpression:
            `'spec cannot change: only the creator of the Restore (' + variables.creator + ') may change what it ` +
            `restores, and you are ' + variables.requester`,
          reason: 'Forbidden',
        },
      ],
    },
  };
  const binding: AdmissionObject = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name: RESTORE_CREATOR_POLICY },
    spec: { policyName: RESTORE_CREATOR_POLICY, validationActions: ['Deny'] },
  };
  return [policy, binding];
}
