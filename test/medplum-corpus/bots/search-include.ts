// _include, _include:iterate and _revinclude: the extra entries with search.mode "include".
import { createReference, getReferenceString } from '@medplum/core';
import type { BotEvent, MedplumClient } from '@medplum/core';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { expectSameSet, runTag, tagged, tokenOf } from './lib/helpers';

export async function handler(medplum: MedplumClient, event: BotEvent): Promise<unknown> {
  const tag = runTag(event);
  const t = tokenOf(tag);
  const org = await medplum.createResource(tagged(tag, { resourceType: 'Organization', name: 'Corpus Clinic' }));
  const patient = await medplum.createResource(tagged(tag, { resourceType: 'Patient', name: [{ family: 'Included' }], managingOrganization: createReference(org) }));
  const obs = [];
  for (const value of [70, 75]) {
    obs.push(await medplum.createResource(tagged(tag, { resourceType: 'Observation', status: 'final', code: { text: 'pulse' }, subject: createReference(patient), valueQuantity: { value } })));
  }
  const ref = (r: Resource | undefined): string => (r ? getReferenceString(r) ?? '?' : '?');
  const P = ref(patient);
  const O = ref(org);
  const [o1, o2] = obs.map(ref);
  const byMode = (b: Bundle, mode: string) => (b.entry ?? []).filter((e) => e.search?.mode === mode).map((e) => ref(e.resource));

  const inc = await medplum.search('Observation', { _tag: t, _include: 'Observation:subject' });
  expectSameSet(byMode(inc, 'match'), [o1, o2], '_include=Observation:subject: the matches');
  expectSameSet(byMode(inc, 'include'), [P], '_include=Observation:subject: the included Patient, once');

  const iter = await medplum.search('Observation', new URLSearchParams([['_tag', t], ['_include', 'Observation:subject'], ['_include:iterate', 'Patient:organization']]));
  expectSameSet(byMode(iter, 'include'), [P, O], '_include:iterate=Patient:organization: the Patient and its Organization');

  const rev = await medplum.search('Patient', { _id: patient.id, _revinclude: 'Observation:subject' });
  expectSameSet(byMode(rev, 'match'), [P], '_revinclude: the match');
  expectSameSet(byMode(rev, 'include'), [o1, o2], '_revinclude=Observation:subject: the Observations');

  const both = await medplum.search('Patient', { _id: patient.id, _include: 'Patient:organization', _revinclude: 'Observation:patient' });
  expectSameSet(byMode(both, 'include'), [O, o1, o2], '_include and _revinclude together');
  return { ok: true };
}
