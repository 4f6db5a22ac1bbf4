/** The entries of a jar (a zip file) the generator reads: the message schemas under common/message/. */
import { readFileSync } from 'node:fs';
import { unzipSync } from 'fflate';

/** The entries of `jarPath` whose names pass `wanted`, decompressed, by name. */
export function readJarEntries(jarPath: string, wanted: (name: string) => boolean): Map<string, Buffer> {
  const entries = unzipSync(readFileSync(jarPath), { filter: (file) => wanted(file.name) });
  return new Map(Object.entries(entries).map(([name, bytes]) => [name, Buffer.from(bytes)]));
}
