// Search by token (system|code, bare code, |code) and string (default starts-with, :exact, :contains).
import type { BotEvent, MedplumClient } from '@medplum/core';
import { LOINC, MRN, expectSameSet, idsOf, runTag, tagged, tokenOf } from './lib/helpers';

export async function handler(medplum: MedplumClient, event: BotEvent): Promise<unknown> {
  const tag = runTag(event);
  const t = tokenOf(tag);
  const mk = (family: string, given: string, mrn: string, gender: 'male' | 'female') =>
    medplum.createResource(tagged(tag, { resourceType: 'Patient', name: [{ family, given: [given] }], gender, identifier: [{ system: MRN, value: `${mrn}-${tag.code}` }] }));
  const smithson = await mk('Smithson', 'Anna', 'A1', 'female');
  const smith = await mk('Smith', 'Bob', 'B2', 'male');
  const goldsmith = await mk('Goldsmith', 'Carl', 'C3', 'male');
  const hr = await medplum.createResource(tagged(tag, { resourceType: 'Observation', status: 'final', code: { coding: [{ system: LOINC, code: '8867-4', display: 'Heart rate' }] } }));
  const bw = await medplum.createResource(tagged(tag, { resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://snomed.info/sct', code: '27113001' }] } }));

  const patients = async (query: Record<string, string>) => idsOf(await medplum.searchResources('Patient', { _tag: t, ...query }));
  const observations = async (query: Record<string, string>) => idsOf(await medplum.searchResources('Observation', { _tag: t, ...query }));

  // token
  expectSameSet(await patients({ identifier: `${MRN}|A1-${tag.code}` }), [smithson.id], 'identifier=system|value');
  expectSameSet(await patients({ identifier: `A1-${tag.code}` }), [smithson.id], 'identifier=value');
  expectSameSet(await patients({ identifier: `http://other.example|A1-${tag.code}` }), [], 'identifier with another system');
  expectSameSet(await patients({ gender: 'male' }), [smith.id, goldsmith.id], 'gender=male');
  expectSameSet(await patients({ gender: 'male,female' }), [smith.id, goldsmith.id, smithson.id], 'gender=male,female (or)');
  expectSameSet(await observations({ code: `${LOINC}|8867-4` }), [hr.id], 'code=loinc|8867-4');
  expectSameSet(await observations({ code: `${LOINC}|27113001` }), [], 'code with the wrong system');
  expectSameSet(await observations({ code: '27113001' }), [bw.id], 'code=27113001 (any system)');

  // string
  expectSameSet(await patients({ name: 'smith' }), [smithson.id, smith.id], 'name=smith (starts with, any case)');
  expectSameSet(await patients({ family: 'SMITH' }), [smithson.id, smith.id], 'family=SMITH');
  expectSameSet(await patients({ 'name:exact': 'Smith' }), [smith.id], 'name:exact=Smith');
  expectSameSet(await patients({ 'name:exact': 'smith' }), [], 'name:exact=smith (case matters)');
  expectSameSet(await patients({ 'name:contains': 'mith' }), [smithson.id, smith.id, goldsmith.id], 'name:contains=mith');
  expectSameSet(await patients({ given: 'an' }), [smithson.id], 'given=an');
  return { ok: true };
}
