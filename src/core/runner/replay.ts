// What a replay runs: a recorded run's input, exactly as the bot got it, or a clear refusal.
import { cutBytes } from '../store/row';

/** A recorded entry, enough to replay it. */
export interface ReplayableEntry {
  id: number;
  input?: string;
  contentType?: string;
}

export type ReplayInput = { ok: true; inputText?: string; contentType?: string } | { ok: false; reason: string };

/**
 * The input to replay entry `e` with. An input the store had to cut to its size cap (1 MiB by
 * default) is not what the bot got, so it is refused, never run as if it were whole.
 */
export function replayInput(e: ReplayableEntry): ReplayInput {
  const cut = cutBytes(e.input);
  if (cut > 0)
    return {
      ok: false,
      reason: `entry ${e.id}'s input was larger than the log keeps, and ${cut} bytes of it were cut when it was stored, so it cannot be replayed as it ran; run the bot with the original input instead`,
    };
  return { ok: true, inputText: e.input, contentType: e.contentType };
}

/** Thrown by `BotRunner.replay` for an entry that cannot be replayed. */
export class ReplayError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplayError';
  }
}
