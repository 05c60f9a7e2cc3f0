// Search by number (RiskAssessment probability), quantity (Observation value-quantity) and uri (Questionnaire url).
import { createReference } from '@medplum/core';
import type { BotEvent, MedplumClient } from '@medplum/core';
import { CORPUS, UCUM, expectSameSet, idsOf, runTag, tagged, tokenOf } from './lib/helpers';

export async function handler(medplum: MedplumClient, event: BotEvent): Promise<unknown> {
  const tag = runTag(event);
  const t = tokenOf(tag);
  const patient = await medplum.createResource(tagged(tag, { resourceType: 'Patient', name: [{ family: 'Numbers' }] }));
  const subject = createReference(patient);

  const risk = (p: number) => medplum.createResource(tagged(tag, { resourceType: 'RiskAssessment', status: 'final', subject, prediction: [{ probabilityDecimal: p }] }));
  const low = await risk(0.2);
  const mid = await risk(0.5);
  const high = await risk(0.8);
  const risks = async (probability: string) => idsOf(await medplum.searchResources('RiskAssessment', { _tag: t, probability }));
  expectSameSet(await risks('gt0.4'), [mid.id, high.id], 'probability=gt0.4');
  expectSameSet(await risks('le0.5'), [low.id, mid.id], 'probability=le0.5');
  expectSameSet(await risks('0.5'), [mid.id], 'probability=0.5');
  expectSameSet(await risks('ne0.5'), [low.id, high.id], 'probability=ne0.5');

  const vital = (value: number, code: string) =>
    medplum.createResource(tagged(tag, { resourceType: 'Observation', status: 'final', code: { text: 'vital' }, subject, valueQuantity: { value, unit: code, system: UCUM, code } }));
  const glucose = await vital(5.4, 'mmol/L');
  const systolic = await vital(120, 'mm[Hg]');
  const values = async (q: string) => idsOf(await medplum.searchResources('Observation', { _tag: t, 'value-quantity': q }));
  expectSameSet(await values('gt100'), [systolic.id], 'value-quantity=gt100');
  expectSameSet(await values('lt10'), [glucose.id], 'value-quantity=lt10');
  expectSameSet(await values(`5.4|${UCUM}|mmol/L`), [glucose.id], 'value-quantity=5.4|ucum|mmol/L');
  expectSameSet(await values(`120|${UCUM}|mmol/L`), [], 'value-quantity=120 in the wrong unit');

  const base = `${CORPUS}/questionnaires/${tag.code}`;
  const intake = await medplum.createResource(tagged(tag, { resourceType: 'Questionnaire', status: 'active', url: `${base}/intake` }));
  const exit = await medplum.createResource(tagged(tag, { resourceType: 'Questionnaire', status: 'active', url: `${base}/exit` }));
  const byUrl = async (query: Record<string, string>) => idsOf(await medplum.searchResources('Questionnaire', { _tag: t, ...query }));
  expectSameSet(await byUrl({ url: `${base}/intake` }), [intake.id], 'url=<exact>');
  expectSameSet(await byUrl({ url: base }), [], 'url=<a prefix> (uri is exact)');
  expectSameSet(await byUrl({ 'url:below': base }), [intake.id, exit.id], 'url:below=<prefix>');
  return { ok: true };
}
