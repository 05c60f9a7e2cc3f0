// The child bot that execute-child runs with executeBot: doubles `n`. It imports nothing.
export async function handler(_medplum: unknown, event: { input: { n?: unknown }; bot: { reference?: string } }): Promise<unknown> {
  const n = event.input?.n;
  if (typeof n !== 'number') throw new Error(`child-double: input.n must be a number, got ${JSON.stringify(event.input)}`);
  return { doubled: n * 2, bot: event.bot.reference };
}
