// The dashboard's hash routes, parsed and built in one place. Pure (no DOM), so Node's tests import it.
//
//   #/                       overview
//   #/backups?phase=Failed   backups, with the table's filters in the query (so a filtered view is a link)
//   #/backups/<name>         one backup
//   #/restore?backup=<name>  the restore wizard
//   #/restores/<name>        a restore's progress
//   #/schedules, #/locations

export const BACKUP_FILTER_KEYS = ['phase', 'schedule', 'namespace', 'location', 'age'] as const;
export type BackupFilterKey = (typeof BACKUP_FILTER_KEYS)[number];
/** The backups table's filters; an absent key does not filter. */
export type BackupFilter = Partial<Record<BackupFilterKey, string>>;

export type Route =
  | { page: 'overview' }
  | { page: 'backups'; filter: BackupFilter }
  | { page: 'backup'; name: string }
  | { page: 'restore'; backup?: string }
  | { page: 'restore-progress'; name: string }
  | { page: 'schedules' }
  | { page: 'locations' }
  | { page: 'not-found'; path: string };

function decode(part: string): string | undefined {
  try {
    return decodeURIComponent(part);
  } catch {
    return undefined;
  }
}

/** The route of a location.hash ("#/backups/nightly-1"); an empty hash is the overview. */
export function parseRoute(hash: string): Route {
  const text = hash.replace(/^#/, '');
  const [rawPath = '', rawQuery = ''] = text.split(/\?(.*)/s, 2);
  const path = rawPath.replace(/\/+$/, '') || '/';
  const query = new URLSearchParams(rawQuery);
  const segments = path.split('/').slice(1);
  const [first, second, ...rest] = segments;
  const notFound: Route = { page: 'not-found', path };
  if (rest.length > 0) return notFound;

  if (path === '/') return { page: 'overview' };
  if (first === 'schedules' && second === undefined) return { page: 'schedules' };
  if (first === 'locations' && second === undefined) return { page: 'locations' };
  if (first === 'backups' && second === undefined) {
    const filter: BackupFilter = {};
    for (const key of BACKUP_FILTER_KEYS) {
      const value = query.get(key);
      if (value) filter[key] = value;
    }
    return { page: 'backups', filter };
  }
  if (first === 'restore' && second === undefined) {
    const backup = query.get('backup');
    return backup ? { page: 'restore', backup } : { page: 'restore' };
  }
  const name = second === undefined || second === '' ? undefined : decode(second);
  if (name === undefined) return notFound;
  if (first === 'backups') return { page: 'backup', name };
  if (first === 'restores') return { page: 'restore-progress', name };
  return notFound;
}

/** The hash of a route: parseRoute(hrefOf(route)) gives the route back. */
export function hrefOf(route: Route): string {
  switch (route.page) {
    case 'overview':
      return '#/';
    case 'backups': {
      const query = new URLSearchParams();
      for (const key of BACKUP_FILTER_KEYS) {
        const value = route.filter[key];
        if (value) query.set(key, value);
      }
      const text = query.toString();
      return text ? `#/backups?${text}` : '#/backups';
    }
    case 'backup':
      return `#/backups/${encodeURIComponent(route.name)}`;
    case 'restore':
      return route.backup
        ? `#/restore?${new URLSearchParams({ backup: route.backup }).toString()}`
        : '#/restore';
    case 'restore-progress':
      return `#/restores/${encodeURIComponent(route.name)}`;
    case 'schedules':
      return '#/schedules';
    case 'locations':
      return '#/locations';
    case 'not-found':
      return `#${route.path}`;
  }
}
