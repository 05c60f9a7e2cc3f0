// Search by reference (subject=Patient/id, patient=id) and by date (ge, lt, sa, eb, and a range).
import { createReference } from '@medplum/core';
import type { BotEvent, MedplumClient } from '@medplum/core';
import type { Patient } from '@medplum/fhirtypes';
import { expectSameSet, idsOf, runTag, tagged, tokenOf } from './lib/helpers';

export async function handler(medplum: MedplumClient, event: BotEvent): Promise<unknown> {
  const tag = runTag(event);
  const t = tokenOf(tag);
  const ada = await medplum.createResource<Patient>(tagged(tag, { resourceType: 'Patient', name: [{ family: 'Dated' }] }));
  const bob = await medplum.createResource<Patient>(tagged(tag, { resourceType: 'Patient', name: [{ family: 'Other' }] }));
  const obs = (p: Patient, date: string) =>
    medplum.createResource(tagged(tag, { resourceType: 'Observation', status: 'final', code: { text: 'weight' }, subject: createReference(p), effectiveDateTime: date }));
  const a2020 = await obs(ada, '2020-01-15');
  const a2021 = await obs(ada, '2021-06-30T10:00:00Z');
  const a2022 = await obs(ada, '2022-12-31');
  const b2021 = await obs(bob, '2021-03-01');

  const find = async (query: Record<string, string | string[]>) => {
    const params = new URLSearchParams({ _tag: t });
    for (const [k, v] of Object.entries(query)) for (const x of Array.isArray(v) ? v : [v]) params.append(k, x);
    return idsOf(await medplum.searchResources('Observation', params));
  };

  expectSameSet(await find({ subject: `Patient/${ada.id}` }), [a2020.id, a2021.id, a2022.id], 'subject=Patient/<id>');
  expectSameSet(await find({ patient: bob.id }), [b2021.id], 'patient=<id>');
  expectSameSet(await find({ subject: `Patient/${ada.id},Patient/${bob.id}` }), [a2020.id, a2021.id, a2022.id, b2021.id], 'subject=a,b (or)');

  expectSameSet(await find({ date: 'ge2021-01-01' }), [a2021.id, a2022.id, b2021.id], 'date=ge2021-01-01');
  expectSameSet(await find({ date: 'lt2021-01-01' }), [a2020.id], 'date=lt2021-01-01');
  expectSameSet(await find({ date: 'sa2021-03-01' }), [a2021.id, a2022.id], 'date=sa2021-03-01 (starts after)');
  expectSameSet(await find({ date: 'eb2021-03-01' }), [a2020.id], 'date=eb2021-03-01 (ends before)');
  expectSameSet(await find({ date: '2021' }), [a2021.id, b2021.id], 'date=2021 (the year)');
  expectSameSet(await find({ date: ['ge2021-01-01', 'lt2022-01-01'], subject: `Patient/${ada.id}` }), [a2021.id], 'date=ge2021-01-01&date=lt2022-01-01&subject=...');
  return { ok: true };
}
