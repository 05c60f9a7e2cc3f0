// @ts-check

/**
 * Gives up the hard way: calls process.exit when the input says so, which would take down
 * any host that ran it in-process.
 * @param {import('@medplum/core').MedplumClient} _medplum
 * @param {import('@medplum/core').BotEvent<{ code?: number }>} event
 */
exports.handler = async function handler(_medplum, event) {
  const code = event.input?.code ?? 3;
  console.error(`Fatal: configuration missing, exiting with ${code}`);
  process.exit(code);
};
