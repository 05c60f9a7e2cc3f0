// createResourceIfNoneExist and upsertResource: the identifier decides create or reuse.
import { getIdentifier } from '@medplum/core';
import type { BotEvent, MedplumClient } from '@medplum/core';
import type { Patient } from '@medplum/fhirtypes';
import { MRN, check, expectEqual, runTag, tagged, tokenOf } from './lib/helpers';

export async function handler(medplum: MedplumClient, event: BotEvent): Promise<unknown> {
  const tag = runTag(event);
  const mrn = `IFNE-${tag.code}`;
  const patient: Patient = tagged(tag, { resourceType: 'Patient', identifier: [{ system: MRN, value: mrn }], name: [{ family: 'Once' }] });

  const first = await medplum.createResourceIfNoneExist(patient, `identifier=${MRN}|${mrn}`);
  const second = await medplum.createResourceIfNoneExist({ ...patient, name: [{ family: 'Twice' }] }, `identifier=${MRN}|${mrn}`);
  expectEqual(second.id, first.id, 'createResourceIfNoneExist twice: the same Patient');
  expectEqual(second.name?.[0]?.family, 'Once', 'createResourceIfNoneExist: the existing Patient is returned unchanged');
  expectEqual(getIdentifier(second, MRN), mrn, 'getIdentifier');
  const all = await medplum.searchResources('Patient', { _tag: tokenOf(tag), identifier: `${MRN}|${mrn}` });
  expectEqual(all.length, 1, 'one Patient with that identifier');

  const upMrn = `UPSERT-${tag.code}`;
  const query = { identifier: `${MRN}|${upMrn}` };
  const made = await medplum.upsertResource<Patient>(tagged(tag, { resourceType: 'Patient', identifier: [{ system: MRN, value: upMrn }], name: [{ family: 'Upsert' }] }), query);
  check(made.id, 'upsertResource (none yet): no id');
  const changed = await medplum.upsertResource<Patient>(
    tagged(tag, { resourceType: 'Patient', identifier: [{ system: MRN, value: upMrn }], name: [{ family: 'Upsert' }], birthDate: '2001-01-01' }),
    query,
  );
  expectEqual([changed.id, changed.birthDate], [made.id, '2001-01-01'], 'upsertResource (one exists): the same Patient, updated');
  const history = await medplum.readHistory('Patient', made.id);
  expectEqual(history.entry?.length, 2, 'upsertResource: the history has the create and the update');
  return { ok: true };
}
