// read, vread (readVersion), readHistory and readReference on a Patient that has two versions.
import { createReference, generateId, getReferenceString } from '@medplum/core';
import type { BotEvent, MedplumClient } from '@medplum/core';
import type { Patient } from '@medplum/fhirtypes';
import { check, expectEqual, expectFailure, runTag, tagged } from './lib/helpers';

export async function handler(medplum: MedplumClient, event: BotEvent): Promise<unknown> {
  const tag = runTag(event);
  const v1 = await medplum.createResource<Patient>(tagged(tag, { resourceType: 'Patient', name: [{ family: 'Versioned', given: ['Vera'] }] }));
  const v1Id = v1.meta?.versionId;
  check(v1Id, `createResource: the new Patient has no meta.versionId: ${JSON.stringify(v1.meta)}`);
  const v2 = await medplum.updateResource({ ...v1, birthDate: '1990-02-03' });
  const v2Id = v2.meta?.versionId;
  check(v2Id && v2Id !== v1Id, `updateResource: expected a new versionId, got ${v2Id} (first was ${v1Id})`);

  const read = await medplum.readResource('Patient', v1.id);
  expectEqual([read.birthDate, read.meta?.versionId], ['1990-02-03', v2Id], 'readResource: birthDate and versionId of the latest version');

  const old = await medplum.readVersion('Patient', v1.id, v1Id);
  expectEqual([old.id, old.meta?.versionId, old.birthDate], [v1.id, v1Id, undefined], 'readVersion of the first version');

  const history = await medplum.readHistory('Patient', v1.id);
  expectEqual(history.type, 'history', 'readHistory: Bundle.type');
  expectEqual(
    history.entry?.map((e) => e.resource?.meta?.versionId),
    [v2Id, v1Id],
    'readHistory: the versions, newest first',
  );

  const ref = createReference(v2);
  expectEqual(ref.reference, `Patient/${v1.id}`, 'createReference');
  const viaRef = await medplum.readReference(ref);
  expectEqual(getReferenceString(viaRef), getReferenceString(v2), 'readReference');

  await expectFailure('readResource of an id that does not exist', () => medplum.readResource('Patient', generateId()), 404);
  await expectFailure('readVersion of a version that does not exist', () => medplum.readVersion('Patient', v1.id, generateId()), 404);
  return { ok: true, versions: history.entry?.length };
}
