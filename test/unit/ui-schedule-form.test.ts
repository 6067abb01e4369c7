// The schedules page's form turned into its requests, without a browser: a new schedule sends the fields
// filled in; an edit sends only the fields changed, a cleared one as null.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Schedule } from '../../src/api/index.ts';
import {
  changedFields,
  editScheduleRequest,
  EMPTY_SCHEDULE_FORM,
  newScheduleRequest,
  scheduleFormOf,
  type ScheduleForm,
} from '../../src/ui/schedule-form.ts';

const form = (fields: Partial<ScheduleForm>): ScheduleForm => ({ ...EMPTY_SCHEDULE_FORM, ...fields });

const nightly: Schedule = {
  apiVersion: 'cairn.dev/v1',
  kind: 'Schedule',
  metadata: { name: 'nightly', namespace: 'cairn' },
  spec: {
    schedule: '0 3 * * *',
    template: {
      includedNamespaces: ['shop', 'web'],
      excludedNamespaces: ['kube-system'],
      labelSelector: 'app=web',
      ttl: '720h',
      storageLocation: 'archive',
      includeClusterResources: false,
    },
  },
};

describe("the new schedule form's request", () => {
  it('sends the name and cron, and only the other fields filled in', () => {
    assert.deepEqual(newScheduleRequest(form({ name: ' nightly ', schedule: ' @daily ' })), {
      request: { name: 'nightly', schedule: '@daily' },
    });
  });

  it('splits the namespace lists on commas and spaces, and sends every field filled in', () => {
    const result = newScheduleRequest(
      form({
        name: 'shop',
        schedule: 'CRON_TZ=Europe/Paris 0 3 * * *',
        paused: true,
        includedNamespaces: 'shop, web,app-*  shop',
        excludedNamespaces: ' kube-system ',
        labelSelector: ' app=web,tier!=db ',
        ttl: '720h',
        storageLocation: 'archive',
      }),
    );
    assert.deepEqual(result, {
      request: {
        name: 'shop',
        schedule: 'CRON_TZ=Europe/Paris 0 3 * * *',
        paused: true,
        includedNamespaces: ['shop', 'web', 'app-*'],
        excludedNamespaces: ['kube-system'],
        labelSelector: 'app=web,tier!=db',
        ttl: '720h',
        storageLocation: 'archive',
      },
    });
  });

  it('names what is missing, and leaves the checking of values to the server', () => {
    assert.deepEqual(newScheduleRequest(form({ name: '  ', schedule: '' })), {
      problems: ['give the schedule a name', 'give a cron schedule (for example 0 3 * * * or @daily)'],
    });
    // Not a cron expression, nor a duration: the server's 400 says why, next to the form.
    assert.deepEqual(newScheduleRequest(form({ name: 'x', schedule: 'every night', ttl: 'a month' })), {
      request: { name: 'x', schedule: 'every night', ttl: 'a month' },
    });
  });
});

describe("the edit form's request", () => {
  const before = scheduleFormOf(nightly);

  it('starts from the schedule as the server has it', () => {
    assert.deepEqual(before, {
      name: 'nightly',
      schedule: '0 3 * * *',
      paused: false,
      includedNamespaces: 'shop, web',
      excludedNamespaces: 'kube-system',
      labelSelector: 'app=web',
      ttl: '720h',
      storageLocation: 'archive',
    });
    assert.deepEqual(
      scheduleFormOf({ ...nightly, spec: { schedule: '@daily', paused: true, template: {} } }),
      {
        ...EMPTY_SCHEDULE_FORM,
        name: 'nightly',
        schedule: '@daily',
        paused: true,
      },
    );
  });

  it('sends nothing when nothing changed, retyped lists and spaces included', () => {
    assert.deepEqual(editScheduleRequest(before, before), { request: {} });
    assert.deepEqual(
      editScheduleRequest(before, { ...before, includedNamespaces: 'shop web', schedule: ' 0 3 * * * ' }),
      { request: {} },
    );
  });

  it('sends only the fields changed', () => {
    const result = editScheduleRequest(before, {
      ...before,
      schedule: '30 4 * * *',
      paused: true,
      includedNamespaces: 'shop,web,api',
      ttl: '24h',
    });
    assert.deepEqual(result, {
      request: {
        schedule: '30 4 * * *',
        paused: true,
        includedNamespaces: ['shop', 'web', 'api'],
        ttl: '24h',
      },
    });
    assert.ok('request' in result);
    assert.deepEqual(changedFields(result.request), [
      'cron schedule',
      'paused',
      'namespaces to include',
      'keep each backup for (TTL)',
    ]);
    // The order of a list is part of it.
    assert.deepEqual(editScheduleRequest(before, { ...before, includedNamespaces: 'web, shop' }), {
      request: { includedNamespaces: ['web', 'shop'] },
    });
  });

  it('clears an emptied field with null', () => {
    const result = editScheduleRequest(before, {
      ...before,
      includedNamespaces: ' , ',
      excludedNamespaces: '',
      labelSelector: ' ',
      ttl: '',
      storageLocation: '',
    });
    assert.deepEqual(result, {
      request: {
        includedNamespaces: null,
        excludedNamespaces: null,
        labelSelector: null,
        ttl: null,
        storageLocation: null,
      },
    });
  });

  it('sets a field that was unset, and never sends the name', () => {
    const bare = scheduleFormOf({ ...nightly, spec: { schedule: '@daily', template: {} } });
    assert.deepEqual(editScheduleRequest(bare, { ...bare, name: 'renamed', labelSelector: 'tier=db' }), {
      request: { labelSelector: 'tier=db' },
    });
  });

  it('refuses an emptied cron schedule', () => {
    assert.deepEqual(editScheduleRequest(before, { ...before, schedule: ' ' }), {
      problems: ['give a cron schedule (for example 0 3 * * * or @daily)'],
    });
  });
});
