// The team log: where replication stands, ship now, its password.
import { Commands } from '../constants';
import type { CommandContext, CommandTable } from './context';

export function teamLogCommands(c: CommandContext): CommandTable {
  return {
    [Commands.showTeamLogStatus]: () => c.team?.showStatus(),
    [Commands.shipToTeamLog]: () => c.team?.shipNow(),
    [Commands.setTeamLogPassword]: () => c.team?.setPassword(),
  };
}
