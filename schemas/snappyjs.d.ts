/** Types of snappyjs 0.7 (pure JavaScript Snappy, no bundled types): the two functions staas uses. */
declare module 'snappyjs' {
  /** Decompresses raw Snappy data; throws when the announced length exceeds `maxLength` (checked before allocating). */
  export function uncompress<T extends Uint8Array>(compressed: T, maxLength?: number): T;
  export function compress<T extends Uint8Array>(uncompressed: T): T;
}
