// FHIR definitions for the local FHIR server's search (src/core/fhir), loaded once per process.
export { ensureSearchDefinitions, writeSearchDefinitions, trimStructureDefinitions, defaultDefinitionsDir, SEARCH_PARAMETER_FILES, SEARCH_TYPES_FILE } from './definitions';
