// _filter (and, or, parentheses) and _compartment=Patient/<id>.
import { createReference, getReferenceString } from '@medplum/core';
import type { BotEvent, MedplumClient } from '@medplum/core';
import { LOINC, expectSameSet, idsOf, runTag, tagged, tokenOf } from './lib/helpers';

export async function handler(medplum: MedplumClient, event: BotEvent): Promise<unknown> {
  const tag = runTag(event);
  const t = tokenOf(tag);
  const pat = await medplum.createResource(tagged(tag, { resourceType: 'Patient', name: [{ family: 'Filtered' }] }));
  const other = await medplum.createResource(tagged(tag, { resourceType: 'Patient', name: [{ family: 'Unfiltered' }] }));
  const obs = (p: typeof pat, code: string, date: string) =>
    medplum.createResource(tagged(tag, { resourceType: 'Observation', status: 'final', code: { coding: [{ system: LOINC, code }] }, subject: createReference(p), effectiveDateTime: date }));
  const h2020 = await obs(pat, '8302-2', '2020-06-01');
  const h2021 = await obs(pat, '8302-2', '2021-06-01');
  const w2021 = await obs(pat, '29463-7', '2021-09-01');
  const o2021 = await obs(other, '8302-2', '2021-02-01');
  const encounter = await medplum.createResource(tagged(tag, { resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, subject: createReference(pat) }));
  const find = async (type: 'Observation' | 'Encounter', query: Record<string, string>) => idsOf(await medplum.searchResources(type, { _tag: t, ...query }));

  expectSameSet(await find('Observation', { _filter: 'date ge 2021-01-01 and date lt 2022-01-01' }), [h2021.id, w2021.id, o2021.id], '_filter=date ge 2021-01-01 and date lt 2022-01-01');
  expectSameSet(
    await find('Observation', { _filter: `code eq ${LOINC}|29463-7 or (date lt 2021-01-01 and code eq ${LOINC}|8302-2)` }),
    [w2021.id, h2020.id],
    '_filter with or and parentheses',
  );
  expectSameSet(await find('Observation', { _filter: `subject eq ${getReferenceString(other)}` }), [o2021.id], '_filter=subject eq Patient/<id>');

  expectSameSet(await find('Observation', { _compartment: getReferenceString(pat) }), [h2020.id, h2021.id, w2021.id], '_compartment=Patient/<id> on Observation');
  expectSameSet(await find('Encounter', { _compartment: getReferenceString(pat) }), [encounter.id], '_compartment=Patient/<id> on Encounter');
  expectSameSet(await find('Encounter', { _compartment: getReferenceString(other) }), [], '_compartment of a patient without encounters');
  return { ok: true };
}
