// readPatientEverything: the patient and what its compartment holds, nobody else's.
import { getReferenceString } from '@medplum/core';
import type { BotEvent, MedplumClient } from '@medplum/core';
import { LOINC, expectSameSet, runTag, tagged } from './lib/helpers';

export async function handler(medplum: MedplumClient, event: BotEvent): Promise<unknown> {
  const tag = runTag(event);
  const patient = await medplum.createResource(tagged(tag, { resourceType: 'Patient', name: [{ family: 'Everything', given: ['Eve'] }] }));
  const other = await medplum.createResource(tagged(tag, { resourceType: 'Patient', name: [{ family: 'Elsewhere' }] }));
  const subject = { reference: getReferenceString(patient) };
  const mine = [
    await medplum.createResource(tagged(tag, { resourceType: 'Observation', status: 'final', code: { coding: [{ system: LOINC, code: '8867-4' }] }, subject, valueQuantity: { value: 72 } })),
    await medplum.createResource(tagged(tag, { resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, subject })),
    await medplum.createResource(tagged(tag, { resourceType: 'Condition', subject, code: { text: 'Seasonal allergy' } })),
  ];
  await medplum.createResource(tagged(tag, { resourceType: 'Observation', status: 'final', code: { text: 'not hers' }, subject: { reference: getReferenceString(other) } }));

  const bundle = await medplum.readPatientEverything(patient.id);
  const refs = (bundle.entry ?? []).map((e) => (e.resource ? getReferenceString(e.resource) ?? '?' : '?'));
  expectSameSet(refs, [patient, ...mine].map((r) => getReferenceString(r) ?? '?'), 'readPatientEverything: the entries');
  return { ok: true, entries: refs.length };
}
