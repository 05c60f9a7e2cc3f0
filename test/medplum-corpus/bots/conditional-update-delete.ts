// Conditional update (PUT Patient?identifier=...) and conditional delete (DELETE Patient?identifier=...).
import type { BotEvent, MedplumClient } from '@medplum/core';
import type { Patient } from '@medplum/fhirtypes';
import { MRN, check, expectEqual, runTag, tagged, tokenOf } from './lib/helpers';

export async function handler(medplum: MedplumClient, event: BotEvent): Promise<unknown> {
  const tag = runTag(event);
  const mrn = `COND-${tag.code}`;
  const url = medplum.fhirUrl('Patient');
  url.searchParams.set('identifier', `${MRN}|${mrn}`);
  const body: Patient = tagged(tag, { resourceType: 'Patient', identifier: [{ system: MRN, value: mrn }], name: [{ family: 'Conditional' }] });

  const created = (await medplum.put(url, body)) as Patient;
  check(created?.resourceType === 'Patient' && created.id, `conditional update with no match: expected a created Patient, got ${JSON.stringify(created)}`);
  const updated = (await medplum.put(url, { ...body, gender: 'other' })) as Patient;
  expectEqual([updated.id, updated.gender], [created.id, 'other'], 'conditional update with one match: the same Patient, updated');

  const found = await medplum.searchResources('Patient', { _tag: tokenOf(tag), identifier: `${MRN}|${mrn}` });
  expectEqual(found.map((p) => p.id), [created.id], 'one Patient after two conditional updates');

  await medplum.delete(url);
  const after = await medplum.searchResources('Patient', { _tag: tokenOf(tag), identifier: `${MRN}|${mrn}` });
  expectEqual(after.length, 0, 'conditional delete: no Patient left with that identifier');
  return { ok: true };
}
