// :missing, :not, _id and _lastUpdated (as a filter and as a sort).
import type { BotEvent, MedplumClient } from '@medplum/core';
import type { Patient } from '@medplum/fhirtypes';
import { check, expectEqual, expectSameSet, idsOf, pause, runTag, tagged, tokenOf } from './lib/helpers';

export async function handler(medplum: MedplumClient, event: BotEvent): Promise<unknown> {
  const tag = runTag(event);
  const t = tokenOf(tag);
  const ann = await medplum.createResource<Patient>(tagged(tag, { resourceType: 'Patient', name: [{ family: 'Ann' }], gender: 'female', birthDate: '1980-05-05' }));
  await pause(20);
  const ben = await medplum.createResource<Patient>(tagged(tag, { resourceType: 'Patient', name: [{ family: 'Ben' }], gender: 'male' }));
  await pause(20);
  const cat = await medplum.createResource<Patient>(tagged(tag, { resourceType: 'Patient', name: [{ family: 'Cat' }] }));
  const find = async (query: Record<string, string>) => idsOf(await medplum.searchResources('Patient', { _tag: t, ...query }));

  expectSameSet(await find({ 'birthdate:missing': 'true' }), [ben.id, cat.id], 'birthdate:missing=true');
  expectSameSet(await find({ 'birthdate:missing': 'false' }), [ann.id], 'birthdate:missing=false');
  expectSameSet(await find({ 'gender:missing': 'true' }), [cat.id], 'gender:missing=true');
  expectSameSet(await find({ 'gender:not': 'male' }), [ann.id, cat.id], 'gender:not=male (also those without a gender)');
  expectSameSet(await find({ 'gender:not': 'male,female' }), [cat.id], 'gender:not=male,female');

  expectSameSet(await find({ _id: ann.id }), [ann.id], '_id=<one>');
  expectSameSet(await find({ _id: `${ann.id},${cat.id}` }), [ann.id, cat.id], '_id=<two>');

  const benUpdated = ben.meta?.lastUpdated;
  check(benUpdated, 'no meta.lastUpdated');
  expectSameSet(await find({ _lastUpdated: `gt${benUpdated}` }), [cat.id], `_lastUpdated=gt<Ben's>`);
  expectSameSet(await find({ _lastUpdated: `lt${benUpdated}` }), [ann.id], `_lastUpdated=lt<Ben's>`);
  expectSameSet(await find({ _lastUpdated: `ge${benUpdated}` }), [ben.id, cat.id], `_lastUpdated=ge<Ben's>`);
  expectSameSet(await find({ _lastUpdated: 'lt2000-01-01' }), [], '_lastUpdated=lt2000-01-01');
  expectEqual(idsOf(await medplum.searchResources('Patient', { _tag: t, _sort: '-_lastUpdated' })), [cat.id, ben.id, ann.id], '_sort=-_lastUpdated');
  expectEqual(idsOf(await medplum.searchResources('Patient', { _tag: t, _sort: '_lastUpdated' })), [ann.id, ben.id, cat.id], '_sort=_lastUpdated');
  return { ok: true };
}
