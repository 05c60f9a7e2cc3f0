// executeBatch with a batch bundle: each entry on its own, a failing one does not stop the others.
import { generateId, getReferenceString } from '@medplum/core';
import type { BotEvent, MedplumClient } from '@medplum/core';
import type { Patient } from '@medplum/fhirtypes';
import { MRN, check, expectEqual, expectFailure, runTag, tagged, tokenOf } from './lib/helpers';

export async function handler(medplum: MedplumClient, event: BotEvent): Promise<unknown> {
  const tag = runTag(event);
  const existing = await medplum.createResource<Patient>(tagged(tag, { resourceType: 'Patient', name: [{ family: 'Existing' }] }));
  const doomed = await medplum.createResource<Patient>(tagged(tag, { resourceType: 'Patient', name: [{ family: 'Doomed' }] }));
  const response = await medplum.executeBatch({
    resourceType: 'Bundle',
    type: 'batch',
    entry: [
      { request: { method: 'POST', url: 'Patient' }, resource: tagged(tag, { resourceType: 'Patient', name: [{ family: 'Batched' }], identifier: [{ system: MRN, value: `BATCH-${tag.code}` }] }) },
      { request: { method: 'PUT', url: getReferenceString(existing) }, resource: { ...existing, gender: 'unknown' } },
      { request: { method: 'DELETE', url: getReferenceString(doomed) } },
      { request: { method: 'GET', url: `Patient/${generateId()}` } },
      { request: { method: 'GET', url: `Patient?_tag=${encodeURIComponent(tokenOf(tag))}&family=Existing` } },
    ],
  });
  expectEqual(response.type, 'batch-response', 'executeBatch: Bundle.type');
  const statuses = (response.entry ?? []).map((e) => e.response?.status?.split(' ')[0]);
  expectEqual(statuses, ['201', '200', '200', '404', '200'], 'executeBatch: the status of each entry');
  const created = response.entry?.[0]?.resource as Patient | undefined;
  check(created?.id, `the created Patient is in the response: ${JSON.stringify(response.entry?.[0])}`);
  expectEqual((await medplum.readResource('Patient', created.id)).name?.[0]?.family, 'Batched', 'the POSTed Patient');
  expectEqual((await medplum.readResource('Patient', existing.id)).gender, 'unknown', 'the PUT Patient');
  await expectFailure('the DELETEd Patient', () => medplum.readResource('Patient', doomed.id), 410);
  const searched = response.entry?.[4]?.resource;
  check(searched?.resourceType === 'Bundle' && searched.entry?.length === 1, `the GET search entry: ${JSON.stringify(searched)?.slice(0, 200)}`);
  return { ok: true, statuses };
}
