// createBinary, createAttachment and download: content goes up and comes back byte for byte.
import { ContentType } from '@medplum/core';
import type { BotEvent, MedplumClient } from '@medplum/core';
import { check, expectEqual } from './lib/helpers';

export async function handler(medplum: MedplumClient, _event: BotEvent): Promise<unknown> {
  const text = 'Bot Audit corpus: hello, Binary ✓\n';
  const binary = await medplum.createBinary({ data: text, contentType: ContentType.TEXT, filename: 'hello.txt' });
  check(binary.resourceType === 'Binary' && binary.id && binary.url, `createBinary: expected a Binary with id and url, got ${JSON.stringify(binary)}`);
  expectEqual(binary.contentType, ContentType.TEXT, 'createBinary: contentType');
  const blob = await medplum.download(binary.url);
  expectEqual(await blob.text(), text, 'download(binary.url): the text');
  const asResource = await medplum.readResource('Binary', binary.id);
  expectEqual([asResource.id, asResource.contentType], [binary.id, ContentType.TEXT], 'readResource(Binary)');

  const bytes = new Uint8Array(256);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7) & 0xff;
  const attachment = await medplum.createAttachment({ data: bytes, contentType: 'application/octet-stream', filename: 'bytes.bin' });
  check(attachment.url, `createAttachment: no url in ${JSON.stringify(attachment)}`);
  expectEqual([attachment.contentType, attachment.title], ['application/octet-stream', 'bytes.bin'], 'createAttachment: contentType and title');
  const back = new Uint8Array(await (await medplum.download(attachment.url)).arrayBuffer());
  expectEqual(Array.from(back), Array.from(bytes), 'download(attachment.url): the bytes');
  return { ok: true, textBytes: blob.size, binaryBytes: back.length };
}
