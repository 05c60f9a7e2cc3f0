// Imported first by the modules that import @medplum/core or @medplum/fhir-router statically, so
// that what @medplum/core 5 needs of the platform is in place before its module body runs.
import { ensureWebSocket } from './platform';

ensureWebSocket();
