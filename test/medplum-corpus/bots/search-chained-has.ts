// Chained search (subject:Patient.name=..., patient.identifier=...) and reverse chains (_has).
import { createReference } from '@medplum/core';
import type { BotEvent, MedplumClient } from '@medplum/core';
import type { Patient } from '@medplum/fhirtypes';
import { LOINC, MRN, expectSameSet, idsOf, runTag, tagged, tokenOf } from './lib/helpers';

export async function handler(medplum: MedplumClient, event: BotEvent): Promise<unknown> {
  const tag = runTag(event);
  const t = tokenOf(tag);
  const family = `Zebrafield${tag.code?.replace(/[^a-z0-9]/gi, '').slice(0, 8)}`;
  const zed = await medplum.createResource(tagged(tag, { resourceType: 'Patient', name: [{ family }], identifier: [{ system: MRN, value: `Z-${tag.code}` }] }));
  const other = await medplum.createResource(tagged(tag, { resourceType: 'Patient', name: [{ family: 'Quagga' }] }));
  const obs = (p: Patient, code: string) =>
    medplum.createResource(tagged(tag, { resourceType: 'Observation', status: 'final', code: { coding: [{ system: LOINC, code }] }, subject: createReference(p) }));
  const zHr = await obs(zed, '8867-4');
  const zBp = await obs(zed, '85354-9');
  const oBp = await obs(other, '85354-9');
  const observations = async (query: Record<string, string>) => idsOf(await medplum.searchResources('Observation', { _tag: t, ...query }));
  const patients = async (query: Record<string, string>) => idsOf(await medplum.searchResources('Patient', { _tag: t, ...query }));

  expectSameSet(await observations({ 'subject:Patient.name': family }), [zHr.id, zBp.id], 'subject:Patient.name=<family>');
  expectSameSet(await observations({ 'patient.identifier': `${MRN}|Z-${tag.code}` }), [zHr.id, zBp.id], 'patient.identifier=system|value');
  expectSameSet(await observations({ 'subject:Patient.name': 'Quagga', code: `${LOINC}|85354-9` }), [oBp.id], 'a chain and a code');

  expectSameSet(await patients({ '_has:Observation:subject:code': `${LOINC}|8867-4` }), [zed.id], '_has:Observation:subject:code=heart rate');
  expectSameSet(await patients({ '_has:Observation:subject:code': `${LOINC}|85354-9` }), [zed.id, other.id], '_has:Observation:subject:code=blood pressure');
  expectSameSet(await patients({ '_has:Observation:subject:code': `${LOINC}|0000-0` }), [], '_has with no such Observation');
  return { ok: true };
}
