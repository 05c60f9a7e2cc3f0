// The local Medplum-compatible client: host side (LocalMedplum, sql.js + audited changes) and
// worker side (createWorkerMedplumClient, forwarding to the host; search in the worker).
export { LocalMedplum, FhirError, type ChangeContext, type ChangeSink, type FhirResource, type LocalMedplumOptions, type Stored } from './local';
export { applyJsonPatch, PatchError, type PatchOperation } from './jsonPatch';
export { createWorkerMedplumClient, queryToRecord, runSearch, searchEntries, type RpcCall, type SearchEntry, type WorkerMedplumClient } from './workerClient';
export { ensureSearchDefinitions, writeSearchDefinitions, trimStructureDefinitions, defaultDefinitionsDir, SEARCH_PARAMETER_FILES, SEARCH_TYPES_FILE } from './definitions';
