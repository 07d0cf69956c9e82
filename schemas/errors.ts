/** Why a message could not be decoded: the sink puts this reason on its dead-letter entry. */
export type DecodeFailure =
  | 'not-avro' // no Avro Object Container File magic
  | 'truncated' // the bytes end inside the header or a block
  | 'corrupt' // a sync marker mismatch, a bad codec stream, or record bytes that do not parse
  | 'unsupported-codec'
  | 'too-large' // more records, or more bytes once decompressed, than the reader's limits allow
  | 'unknown-schema' // a well-formed writer schema of no staas record type
  | 'incompatible-schema' // a staas record type whose writer schema cannot be resolved to ours
  | 'unsupported-branch'; // a value of a union branch a newer writer added and this reader lacks

export class AvroDecodeError extends Error {
  constructor(
    readonly failure: DecodeFailure,
    detail: string,
  ) {
    super(`${failure}: ${detail}`);
    this.name = 'AvroDecodeError';
  }
}
