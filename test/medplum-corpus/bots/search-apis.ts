// The client's search methods: search (record, URLSearchParams, string), searchResources,
// searchOne and searchResourcePages (async iteration over the pages).
import type { BotEvent, MedplumClient } from '@medplum/core';
import type { Patient } from '@medplum/fhirtypes';
import { MRN, check, expectEqual, runTag, tagged, tokenOf } from './lib/helpers';

export async function handler(medplum: MedplumClient, event: BotEvent): Promise<unknown> {
  const tag = runTag(event);
  const t = tokenOf(tag);
  const families = ['Ash', 'Birch', 'Cedar', 'Date', 'Elm'];
  for (const family of families) {
    await medplum.createResource(tagged(tag, { resourceType: 'Patient', name: [{ family }], identifier: [{ system: MRN, value: `${family}-${tag.code}` }] }));
  }
  const fam = (ps: readonly Patient[] | undefined) => (ps ?? []).map((p) => p.name?.[0]?.family);

  const viaRecord = await medplum.search('Patient', { _tag: t, _sort: 'family' });
  expectEqual(viaRecord.resourceType, 'Bundle', 'search: a Bundle');
  expectEqual(fam(viaRecord.entry?.map((e) => e.resource as Patient)), families, 'search with a record');

  const viaParams = await medplum.search('Patient', new URLSearchParams([['_tag', t], ['family', 'Cedar']]));
  expectEqual(fam(viaParams.entry?.map((e) => e.resource as Patient)), ['Cedar'], 'search with URLSearchParams');

  const viaString = await medplum.search('Patient', `_tag=${encodeURIComponent(t)}&family=Elm,Ash&_sort=-family`);
  expectEqual(fam(viaString.entry?.map((e) => e.resource as Patient)), ['Elm', 'Ash'], 'search with a query string');

  const list = await medplum.searchResources('Patient', { _tag: t, _sort: '-family', _count: '3' });
  expectEqual(fam(list), ['Elm', 'Date', 'Cedar'], 'searchResources');
  check(list.bundle?.resourceType === 'Bundle', 'searchResources: the array carries its bundle');

  const one = await medplum.searchOne('Patient', { identifier: `${MRN}|Birch-${tag.code}` });
  expectEqual(one?.name?.[0]?.family, 'Birch', 'searchOne');
  const none = await medplum.searchOne('Patient', { identifier: `${MRN}|Nobody-${tag.code}` });
  expectEqual(none, undefined, 'searchOne with no match');

  const pages: string[][] = [];
  for await (const page of medplum.searchResourcePages('Patient', { _tag: t, _sort: 'family', _count: '2' })) {
    pages.push(fam(page) as string[]);
    check(pages.length <= 5, 'searchResourcePages: more pages than there can be');
  }
  expectEqual(pages, [['Ash', 'Birch'], ['Cedar', 'Date'], ['Elm']], 'searchResourcePages: three pages of 2, 2 and 1');
  return { ok: true, pages: pages.length };
}
