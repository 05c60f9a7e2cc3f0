// Optimistic locking: updateResource with If-Match of the current version succeeds; with an old
// version it fails with 412 Precondition Failed and changes nothing.
import type { BotEvent, MedplumClient } from '@medplum/core';
import type { Patient } from '@medplum/fhirtypes';
import { check, expectEqual, expectFailure, runTag, tagged } from './lib/helpers';

export async function handler(medplum: MedplumClient, event: BotEvent): Promise<unknown> {
  const tag = runTag(event);
  const v1 = await medplum.createResource<Patient>(tagged(tag, { resourceType: 'Patient', name: [{ family: 'Locked' }] }));
  const old = v1.meta?.versionId;
  check(old, 'createResource: no versionId');
  const v2 = await medplum.updateResource<Patient>({ ...v1, gender: 'female' }, { headers: { 'If-Match': `W/"${old}"` } });
  check(v2.meta?.versionId && v2.meta.versionId !== old, 'updateResource with the current version in If-Match: expected a new version');

  const f = await expectFailure(
    'updateResource with a stale If-Match',
    () => medplum.updateResource<Patient>({ ...v1, gender: 'male' }, { headers: { 'If-Match': `W/"${old}"` } }),
    412,
  );
  const now = await medplum.readResource('Patient', v1.id);
  expectEqual([now.gender, now.meta?.versionId], ['female', v2.meta.versionId], 'the stale update changed nothing');
  return { ok: true, status: f.status };
}
