// GraphQL: a read by id with variables, a list by search parameters, a reference followed, and a
// mutation.
import { createReference } from '@medplum/core';
import type { BotEvent, MedplumClient } from '@medplum/core';
import { MRN, check, expectEqual, runTag, tagged } from './lib/helpers';

export async function handler(medplum: MedplumClient, event: BotEvent): Promise<unknown> {
  const tag = runTag(event);
  const mrn = `GQL-${tag.code}`;
  const patient = await medplum.createResource(tagged(tag, { resourceType: 'Patient', name: [{ family: 'Graph', given: ['Quill'] }], identifier: [{ system: MRN, value: mrn }] }));
  const obs = await medplum.createResource(tagged(tag, { resourceType: 'Observation', status: 'final', code: { text: 'mood' }, subject: createReference(patient), valueString: 'curious' }));

  const byId = await medplum.graphql('query GetPatient($id: ID!) { Patient(id: $id) { id name { family given } } }', 'GetPatient', { id: patient.id });
  check(!byId.errors, `graphql by id: ${JSON.stringify(byId.errors)}`);
  expectEqual(byId.data?.Patient, { id: patient.id, name: [{ family: 'Graph', given: ['Quill'] }] }, 'graphql Patient(id)');

  const list = await medplum.graphql(`{ PatientList(identifier: "${MRN}|${mrn}") { id } }`);
  check(!list.errors, `graphql list: ${JSON.stringify(list.errors)}`);
  expectEqual(list.data?.PatientList, [{ id: patient.id }], 'graphql PatientList(identifier)');

  const nested = await medplum.graphql(`{ Observation(id: "${obs.id}") { valueString subject { reference resource { ... on Patient { name { family } } } } } }`);
  check(!nested.errors, `graphql nested: ${JSON.stringify(nested.errors)}`);
  expectEqual(nested.data?.Observation?.subject?.resource?.name?.[0]?.family, 'Graph', 'graphql: the subject reference followed');

  const revs = await medplum.graphql(`{ Patient(id: "${patient.id}") { ObservationList(_reference: subject) { valueString } } }`);
  check(!revs.errors, `graphql reverse list: ${JSON.stringify(revs.errors)}`);
  expectEqual(revs.data?.Patient?.ObservationList, [{ valueString: 'curious' }], 'graphql: ObservationList(_reference: subject)');

  const created = await medplum.graphql(
    'mutation Make($res: PatientCreate!) { PatientCreate(res: $res) { id name { family } } }',
    'Make',
    { res: { resourceType: 'Patient', name: [{ family: 'Mutated' }], meta: { tag: [tag] } } },
  );
  check(!created.errors && created.data?.PatientCreate?.id, `graphql mutation: ${JSON.stringify(created.errors ?? created.data)}`);
  expectEqual((await medplum.readResource('Patient', created.data.PatientCreate.id)).name?.[0]?.family, 'Mutated', 'the Patient the mutation created');
  return { ok: true };
}
