// create, update, patch (JSON Patch) and delete, each checked by reading back.
import { getDisplayString } from '@medplum/core';
import type { BotEvent, MedplumClient } from '@medplum/core';
import type { Patient } from '@medplum/fhirtypes';
import { check, expectEqual, expectFailure, runTag, tagged } from './lib/helpers';

export async function handler(medplum: MedplumClient, event: BotEvent): Promise<unknown> {
  const tag = runTag(event);
  const created = await medplum.createResource<Patient>(tagged(tag, { resourceType: 'Patient', name: [{ family: 'Crud', given: ['Carla'] }], active: true }));
  check(created.id && created.meta?.lastUpdated, `createResource: no id or meta.lastUpdated in ${JSON.stringify(created)}`);
  expectEqual(getDisplayString(created), 'Carla Crud', 'getDisplayString of the created Patient');

  const updated = await medplum.updateResource<Patient>({ ...created, name: [{ family: 'Crud', given: ['Carla', 'Maria'] }] });
  expectEqual(updated.name?.[0]?.given, ['Carla', 'Maria'], 'updateResource: the new given names');
  expectEqual((await medplum.readResource('Patient', created.id)).name?.[0]?.given, ['Carla', 'Maria'], 'readResource after update');

  const patched = await medplum.patchResource('Patient', created.id, [
    { op: 'test', path: '/active', value: true },
    { op: 'add', path: '/gender', value: 'female' },
    { op: 'replace', path: '/name/0/family', value: 'Patched' },
    { op: 'remove', path: '/active' },
  ]);
  expectEqual([patched.gender, patched.name?.[0]?.family, patched.active], ['female', 'Patched', undefined], 'patchResource: gender, family, active');
  check(patched.meta?.versionId !== updated.meta?.versionId, 'patchResource: expected a new version');

  await expectFailure(
    'patchResource whose test op fails',
    () => medplum.patchResource('Patient', created.id, [{ op: 'test', path: '/gender', value: 'male' }]),
    400,
  );
  expectEqual((await medplum.readResource('Patient', created.id)).gender, 'female', 'a failed patch changes nothing');

  await medplum.deleteResource('Patient', created.id);
  await expectFailure('readResource after deleteResource', () => medplum.readResource('Patient', created.id), 410);
  return { ok: true, id: created.id };
}
