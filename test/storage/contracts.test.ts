import { describe } from 'vitest';
import { embedded, memory } from '../support/stores.js';
import { metadataStoreContract } from './metadata-store.contract.js';
import { objectStoreContract } from './object-store.contract.js';

for (const kind of [memory, embedded]) {
  describe(kind.name, () => {
    metadataStoreContract(() => kind);
    objectStoreContract(() => kind);
  });
}
