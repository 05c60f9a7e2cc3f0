import type { BotEvent, MedplumClient } from '@medplum/core';

interface Order {
  items?: { sku: string; quantity: number }[];
}

/** Totals an order, but has a bug: it forgets that `items` may be missing. Throws a TypeError. */
export async function handler(_medplum: MedplumClient, event: BotEvent<Order>): Promise<number> {
  console.log('Totalling order');
  const order = event.input;
  // Bug on purpose: `items` is optional.
  const total = order.items!.reduce((sum, item) => sum + item.quantity, 0);
  return total;
}
