// Who calls the server over HTTP and what they may do, asked of the real API server: a ServiceAccount's
// token authenticated by TokenReview, RBAC answered by SubjectAccessReview, and how long answers are kept.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { Access, UnauthenticatedError } from '../../src/controller/index.ts';
import type { KubeClient } from '../../src/kube/index.ts';
import { manualClock } from '../helpers/clock.ts';
import { grantRole, serviceAccountToken } from '../helpers/rbac.ts';
import { clusterClient, eventually, testNamespace } from '../helpers/testbed.ts';

let client: KubeClient;

before(() => {
  client = clusterClient('a');
});

const readSecrets = (namespace: string) => ({ verb: 'list', group: '', resource: 'secrets', namespace });

describe('access: TokenReview and SubjectAccessReview', () => {
  it("names the token's user, and refuses a missing or unknown token", async (t) => {
    const namespace = await testNamespace(t, client, 'access');
    const access = new Access({ client });
    const user = await access.authenticate(
      `Bearer ${await serviceAccountToken(client, { name: 'alice', namespace })}`,
    );
    assert.equal(user.username, `system:serviceaccount:${namespace}:alice`);
    assert.ok(user.groups.includes(`system:serviceaccounts:${namespace}`));
    await assert.rejects(access.authenticate(undefined), UnauthenticatedError);
    await assert.rejects(access.authenticate('Basic abc'), /a bearer token is needed/);
    await assert.rejects(access.authenticate('Bearer not-a-token'), /the token is not valid/);
  });

  it('answers as RBAC does, in the namespace the Role is bound in and nowhere else', async (t) => {
    const namespace = await testNamespace(t, client, 'access');
    const elsewhere = await testNamespace(t, client, 'access');
    const access = new Access({ client, allowedTtlMs: 0, deniedTtlMs: 0 });
    const bob = await access.authenticate(
      `Bearer ${await serviceAccountToken(client, { name: 'bob', namespace })}`,
    );
    assert.equal((await access.decide(bob, readSecrets(namespace))).allowed, false);
    await grantRole(client, namespace, 'bob', { name: 'bob', namespace }, [
      { apiGroups: [''], resources: ['secrets'], verbs: ['list'] },
    ]);
    await eventually('the binding to reach the authorizer', async () =>
      (await access.decide(bob, readSecrets(namespace))).allowed ? true : undefined,
    );
    assert.equal((await access.decide(bob, readSecrets(elsewhere))).allowed, false);
    assert.equal((await access.decide(bob, { ...readSecrets(namespace), verb: 'delete' })).allowed, false);
  });

  it('believes an allowed answer for its time, then asks again (a removed binding shows)', async (t) => {
    const namespace = await testNamespace(t, client, 'access');
    const time = manualClock(1_000_000);
    const access = new Access({ client, clock: time.clock, allowedTtlMs: 10_000, deniedTtlMs: 0 });
    const carol = await access.authenticate(
      `Bearer ${await serviceAccountToken(client, { name: 'carol', namespace })}`,
    );
    await grantRole(client, namespace, 'carol', { name: 'carol', namespace }, [
      { apiGroups: [''], resources: ['secrets'], verbs: ['list'] },
    ]);
    await eventually('the binding to reach the authorizer', async () =>
      (await access.decide(carol, readSecrets(namespace))).allowed ? true : undefined,
    );
    await client.ok({
      method: 'DELETE',
      path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/rolebindings/carol`,
    });
    const fresh = new Access({ client, allowedTtlMs: 0, deniedTtlMs: 0 });
    await eventually('the removal to reach the authorizer', async () =>
      (await fresh.decide(carol, readSecrets(namespace))).allowed ? undefined : true,
    );
    await time.advance(5_000);
    assert.equal((await access.decide(carol, readSecrets(namespace))).allowed, true, 'kept for 10 s');
    await time.advance(5_001);
    assert.equal((await access.decide(carol, readSecrets(namespace))).allowed, false, 'asked again after');
  });
});
