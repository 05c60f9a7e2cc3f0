// A search that the server does not understand is a 400 OperationOutcome that names it, never
// an empty list.
import type { BotEvent, MedplumClient } from '@medplum/core';
import { expectFailure, runTag, tagged, tokenOf } from './lib/helpers';

export async function handler(medplum: MedplumClient, event: BotEvent): Promise<unknown> {
  const tag = runTag(event);
  await medplum.createResource(tagged(tag, { resourceType: 'Patient', name: [{ family: 'Known' }] }));
  const t = tokenOf(tag);
  await expectFailure('an unknown parameter', () => medplum.searchResources('Patient', { _tag: t, 'favourite-colour': 'blue' }), 400, /favourite-colour/);
  await expectFailure('an unknown modifier', () => medplum.searchResources('Patient', { _tag: t, 'name:sounds-like': 'Known' }), 400, /sounds-like/);
  await expectFailure('a date that does not parse', () => medplum.searchResources('Patient', { _tag: t, birthdate: 'ge-yesterday' }), 400);
  await expectFailure('a chain through a parameter that is not a reference', () => medplum.searchResources('Observation', { 'code.name': 'x' }), 400);
  return { ok: true };
}
