// executeBatch with a transaction bundle: urn:uuid references become the new ids; a transaction
// with a failing entry fails as a whole and leaves nothing behind.
import { getReferenceString } from '@medplum/core';
import type { BotEvent, MedplumClient } from '@medplum/core';
import type { Observation, Patient } from '@medplum/fhirtypes';
import { MRN, check, expectEqual, expectFailure, runTag, tagged, tokenOf } from './lib/helpers';

export async function handler(medplum: MedplumClient, event: BotEvent): Promise<unknown> {
  const tag = runTag(event);
  const patientUrn = 'urn:uuid:7a1c3b52-6f0e-4d7e-9a8b-1c2d3e4f5a6b';
  const response = await medplum.executeBatch({
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      { fullUrl: patientUrn, request: { method: 'POST', url: 'Patient' }, resource: tagged(tag, { resourceType: 'Patient', name: [{ family: 'Transacted' }] }) },
      {
        request: { method: 'POST', url: 'Observation' },
        resource: tagged(tag, { resourceType: 'Observation', status: 'final', code: { text: 'weight' }, subject: { reference: patientUrn }, valueQuantity: { value: 61 } }),
      },
    ],
  });
  expectEqual(response.type, 'transaction-response', 'executeBatch: Bundle.type');
  const patient = response.entry?.map((e) => e.resource).find((r): r is Patient => r?.resourceType === 'Patient');
  const obs = response.entry?.map((e) => e.resource).find((r): r is Observation => r?.resourceType === 'Observation');
  check(patient?.id && obs?.id, `the transaction response has the Patient and the Observation: ${JSON.stringify(response.entry)?.slice(0, 300)}`);
  const stored = await medplum.readResource('Observation', obs.id);
  expectEqual(stored.subject?.reference, getReferenceString(patient), 'the urn:uuid reference is resolved to the new Patient');
  check(stored.subject, 'the stored Observation has no subject');
  expectEqual((await medplum.readReference(stored.subject)).id, patient.id, 'readReference of the resolved subject');

  // A transaction whose second entry fails (a stale If-Match): nothing of it is kept.
  const locked = await medplum.createResource<Patient>(tagged(tag, { resourceType: 'Patient', name: [{ family: 'Locked' }] }));
  const mrn = `TX-${tag.code}`;
  await expectFailure('a transaction with a failing entry', () =>
    medplum.executeBatch({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { request: { method: 'POST', url: 'Patient' }, resource: tagged(tag, { resourceType: 'Patient', name: [{ family: 'Never' }], identifier: [{ system: MRN, value: mrn }] }) },
        { request: { method: 'PUT', url: getReferenceString(locked), ifMatch: 'W/"00000000-0000-0000-0000-000000000000"' }, resource: { ...locked, gender: 'male' } },
      ],
    }),
  );
  const leftover = await medplum.searchResources('Patient', { _tag: tokenOf(tag), identifier: `${MRN}|${mrn}` });
  expectEqual(leftover.length, 0, 'the failed transaction created nothing');
  expectEqual((await medplum.readResource('Patient', locked.id)).gender, undefined, 'the failed transaction changed nothing');
  return { ok: true };
}
