// Results moved to src/api (backups and restores share them); re-exported for the backup engine's users.
export { Results, scopeOf, type Scope } from '../api/index.ts';
