// An HL7 v2 bot (contentType x-application/hl7-v2+er7): it gets an Hl7Message, reads the patient
// from its PID segment, and answers with the ACK. It imports nothing: Hl7Message is the input's
// own class.
interface Hl7Field {
  getComponent(index: number): string;
}
interface Hl7Segment {
  name: string;
  getField(index: number): Hl7Field;
}
interface Hl7Message {
  getSegment(name: string): Hl7Segment | undefined;
  buildAck(): Hl7Message;
  toString(): string;
}

export async function handler(_medplum: unknown, event: { input: Hl7Message; contentType: string }): Promise<Hl7Message> {
  if (event.contentType !== 'x-application/hl7-v2+er7') throw new Error(`hl7-ack: unexpected contentType ${event.contentType}`);
  const message = event.input;
  if (typeof message?.getSegment !== 'function') throw new Error(`hl7-ack: the input is not an Hl7Message: ${typeof message}`);
  const msh = message.getSegment('MSH');
  const pid = message.getSegment('PID');
  if (!msh || !pid) throw new Error('hl7-ack: the message needs MSH and PID segments');
  const type = `${msh.getField(9).getComponent(1)}^${msh.getField(9).getComponent(2)}`;
  if (type !== 'ADT^A01') throw new Error(`hl7-ack: expected an ADT^A01, got ${type}`);
  const family = pid.getField(5).getComponent(1);
  if (family !== 'Lovelace') throw new Error(`hl7-ack: PID-5.1 is "${family}", expected "Lovelace"`);
  const ack = message.buildAck();
  const msa = ack.getSegment('MSA');
  if (msa?.getField(1).toString() !== 'AA') throw new Error(`hl7-ack: the ACK is not AA: ${ack.toString()}`);
  return ack;
}
