// Every id the manifest and the code share lives here, once.

export const EXTENSION_ID = 'bot-audit.bot-audit';
export const OUTPUT_CHANNEL_NAME = 'Bot Audit';

export const Commands = {
  openAuditLog: 'botAudit.openAuditLog',
  refreshBots: 'botAudit.refreshBots',
  openBotSource: 'botAudit.openBotSource',
  createSampleBot: 'botAudit.createSampleBot',
  showEvent: 'botAudit.showEvent',
  showMoreEvents: 'botAudit.showMoreEvents',
  openBotSettings: 'botAudit.openBotSettings',
  runBot: 'botAudit.runBot',
  runBotWithInput: 'botAudit.runBotWithInput',
  runCurrentFile: 'botAudit.runCurrentFile',
  replayEvent: 'botAudit.replayEvent',
  debugBot: 'botAudit.debugBot',
  debugCurrentFile: 'botAudit.debugCurrentFile',
  debugReplay: 'botAudit.debugReplay',
  cancelRuns: 'botAudit.cancelRuns',
  verifyIntegrity: 'botAudit.verifyIntegrity',
  exportAuditLog: 'botAudit.exportAuditLog',
  copyEventJson: 'botAudit.copyEventJson',
  showBotEvents: 'botAudit.showBotEvents',
  showEntityHistory: 'botAudit.showEntityHistory',
  showTeamLogStatus: 'botAudit.showTeamLogStatus',
  shipToTeamLog: 'botAudit.shipToTeamLog',
  setTeamLogPassword: 'botAudit.setTeamLogPassword',
  showTeamLogInTree: 'botAudit.showTeamLogInTree',
  showLocalLogInTree: 'botAudit.showLocalLogInTree',
} as const;

export const Views = {
  container: 'botAudit',
  bots: 'botAudit.bots',
} as const;

export const ContextKeys = {
  trusted: 'botAudit.trusted',
  hasBots: 'botAudit.hasBots',
  botsLoaded: 'botAudit.botsLoaded',
  /** Which log the Bots view reads: 'local' or 'team'. */
  treeLog: 'botAudit.treeLog',
} as const;

/** `contextValue` of tree items, for `view/item/context` menus. */
export enum NodeKind {
  Bot = 'bot',
  UnreadableBot = 'bot.unreadable',
  Folder = 'folder',
  Event = 'event',
  /** An entry of the team log (no local event document, no replay). */
  TeamEvent = 'event.team',
  MoreEvents = 'moreEvents',
  Notice = 'notice',
}

export const Settings = {
  section: 'botAudit',
  botGlob: 'botAudit.botGlob',
} as const;

export const WebviewTypes = {
  auditLog: 'botAudit.auditLog',
} as const;
