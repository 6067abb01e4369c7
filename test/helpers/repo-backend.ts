// A repository Backend with some methods replaced (to slow, fail or spy on calls); the others go to
// `backend` unchanged.
import type { Backend } from '../../src/repo/index.ts';

export function wrapBackend(backend: Backend, overrides: Partial<Backend>): Backend {
  return {
    description: backend.description,
    save: (handle, bytes, options) => backend.save(handle, bytes, options),
    load: (handle, options) => backend.load(handle, options),
    stat: (handle, options) => backend.stat(handle, options),
    list: (type, options) => backend.list(type, options),
    remove: (handle, options) => backend.remove(handle, options),
    ...overrides,
  };
}
