// Every id the manifest and the code share lives here, once.

export const EXTENSION_ID = 'bot-audit.bot-audit';
export const OUTPUT_CHANNEL_NAME = 'Bot Audit';

export const Commands = {
  openAuditLog: 'botAudit.openAuditLog',
  refreshBots: 'botAudit.refreshBots',
  openBotSource: 'botAudit.openBotSource',
  createSampleBot: 'botAudit.createSampleBot',
} as const;

export const Views = {
  container: 'botAudit',
  bots: 'botAudit.bots',
} as const;

export const ContextKeys = {
  trusted: 'botAudit.trusted',
  hasBots: 'botAudit.hasBots',
  botsLoaded: 'botAudit.botsLoaded',
} as const;

/** `contextValue` of tree items, for `view/item/context` menus. */
export enum NodeKind {
  Bot = 'bot',
  UnreadableBot = 'bot.unreadable',
  Folder = 'folder',
}

export const Settings = {
  section: 'botAudit',
  botGlob: 'botAudit.botGlob',
} as const;

export const WebviewTypes = {
  auditLog: 'botAudit.auditLog',
} as const;
