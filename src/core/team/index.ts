// The team log: every member's local log replicated into one PostgreSQL database (issue 19).
// No `vscode`; the CLI uses it directly.
export { asTeamLogError, checkTeamLogUrl, connectTeamLog, isTeamLogUrl, redactSecrets, redactUrl, teamLogClient, TeamLogError, type ConnectOptions, type TeamLogErrorCode } from './connect';
export { compareHeads, headDisagreement, readTeamHead, type HeadComparison, type TeamHead } from './heads';
export { readTeamMark, TeamReplicator, writeTeamMark, type ReplicationState, type TeamMark, type ReplicationStatus, type TeamReplicatorOptions } from './replicator';
export { initTeamLog, READER_ROLE, TEAM_CHANNEL, TEAM_SCHEMA_VERSION, WRITER_ROLE, type InitResult } from './schema';
export { originOf, shipToTeam, type ShipOptions, type ShipResult } from './shipper';
export { verifyTeamLog, type TeamVerifyOptions, type TeamVerifyResult } from './verify';
export { TeamLogReader } from './reader';
