import vscode = require('vscode');
import { OUTPUT_CHANNEL_NAME } from './constants';

/** The "Bot Audit" log channel; created once on activation. */
let channel: vscode.LogOutputChannel | undefined;

export function initLogger(context: vscode.ExtensionContext): vscode.LogOutputChannel {
  channel = vscode.window.createOutputChannel(OUTPUT_CHANNEL_NAME, { log: true });
  context.subscriptions.push(channel);
  return channel;
}

function fmt(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}

export const log = {
  trace: (msg: string) => channel?.trace(msg),
  debug: (msg: string) => channel?.debug(msg),
  info: (msg: string) => channel?.info(msg),
  warn: (msg: string) => channel?.warn(msg),
  error: (msg: string, err?: unknown) => channel?.error(err === undefined ? msg : `${msg}: ${fmt(err)}`),
  show: () => channel?.show(true),
};
