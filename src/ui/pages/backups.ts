// #/backups — every backup the user sees, filtered by phase, schedule, namespace, location and age. The
// filters live in the URL (#/backups?phase=Failed), so a filtered view can be bookmarked and shared.
import { html } from 'lit';
import type { BackupList, BackupRow, DashboardChange } from '../../api/index.ts';
import { AGE_CHOICES, filterBackups, filterChoices, NO_SCHEDULE } from '../backup-filter.ts';
import { formatAge, formatBytes, formatDuration, formatNamespaces, formatTime } from '../format.ts';
import { hrefOf, type BackupFilter, type BackupFilterKey } from '../routes.ts';
import { Loader, loadState, PageElement, phaseBadge, scrollRegion } from '../page.ts';

export class CairnBackups extends PageElement {
  static override properties = { filter: { attribute: false } };
  declare filter: BackupFilter;
  readonly #backups = new Loader<BackupList>(this, (signal) => this.api.backups(signal));

  constructor() {
    super();
    this.filter = {};
  }

  watches(change: DashboardChange): boolean {
    return change.kind === 'Backup';
  }

  refresh(): void {
    this.#backups.reload();
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.refresh();
  }

  #setFilter(key: BackupFilterKey, value: string): void {
    const filter = { ...this.filter, [key]: value || undefined };
    // replace: each choice of a filter is not a step back in the browser's history.
    location.replace(hrefOf({ page: 'backups', filter }));
  }

  override render() {
    const rows = this.#backups.value?.backups;
    return html`
      <h1>Backups</h1>
      ${loadState(this.#backups, 'the backups')} ${rows ? this.#filters(rows) : ''}
      ${rows ? this.#table(rows, filterBackups(rows, this.filter, Date.now())) : ''}
    `;
  }

  #filters(rows: BackupRow[]) {
    const choices = filterChoices(rows);
    const select = (key: BackupFilterKey, label: string, options: { value: string; label: string }[]) => html`
      <div class="field">
        <label for="filter-${key}">${label}</label>
        <select
          id="filter-${key}"
          .value=${this.filter[key] ?? ''}
          @change=${(e: Event) => this.#setFilter(key, (e.target as HTMLSelectElement).value)}
        >
          <option value="">any</option>
          ${options.map(
            (o) =>
              html`<option value=${o.value} ?selected=${this.filter[key] === o.value}>${o.label}</option>`,
          )}
        </select>
      </div>
    `;
    const plain = (values: string[]) => values.map((value) => ({ value, label: value }));
    const anyFilter = Object.values(this.filter).some((v) => v);
    return html`
      <form class="filters" aria-label="Filter backups" @submit=${(e: Event) => e.preventDefault()}>
        ${select('phase', 'Phase', plain(choices.phases))}
        ${select('schedule', 'Schedule', [
          ...plain(choices.schedules),
          { value: NO_SCHEDULE, label: '(made by hand)' },
        ])}
        ${select('namespace', 'Namespace', plain(choices.namespaces))}
        ${select('location', 'Location', plain(choices.locations))}
        ${select(
          'age',
          'Started',
          AGE_CHOICES.map((c) => ({ value: c.value, label: `in the ${c.label}` })),
        )}
        <button
          type="button"
          class="secondary"
          ?disabled=${!anyFilter}
          @click=${() => location.replace(hrefOf({ page: 'backups', filter: {} }))}
        >
          Clear filters
        </button>
      </form>
    `;
  }

  #table(all: BackupRow[], rows: BackupRow[]) {
    const now = Date.now();
    return html`
      <p role="status">
        ${rows.length === all.length ? `${all.length} backups` : `${rows.length} of ${all.length} backups`}
      </p>
      ${
        rows.length === 0
          ? html`<p class="muted">No backup matches.</p>`
          : scrollRegion(
              'Backups',
              html`<table>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Phase</th>
                    <th scope="col">Schedule</th>
                    <th scope="col">Namespaces</th>
                    <th scope="col">Locations</th>
                    <th scope="col">Age</th>
                    <th scope="col">Duration</th>
                    <th scope="col">Size</th>
                    <th scope="col">Items</th>
                    <th scope="col">Warnings</th>
                    <th scope="col">Errors</th>
                  </tr>
                </thead>
                <tbody>
                  ${rows.map(
                    (r) =>
                      html`<tr>
                        <th scope="row"><a href=${hrefOf({ page: 'backup', name: r.name })}>${r.name}</a></th>
                        <td>${phaseBadge(r.phase)}</td>
                        <td>${r.schedule || html`<span class="muted">by hand</span>`}</td>
                        <td>${formatNamespaces(r.namespaces)}</td>
                        <td>${r.locations.join(', ')}</td>
                        <td>
                          <time datetime=${r.started ?? ''} title=${formatTime(r.started)}
                            >${formatAge(r.started, now)}</time
                          >
                        </td>
                        <td>${formatDuration(r.durationSeconds)}</td>
                        <td>${formatBytes(r.sizeBytes)}</td>
                        <td class="num">${r.items ?? '—'}</td>
                        <td class="num">${r.warnings}</td>
                        <td class="num">${r.errors}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>`,
            )
      }
    `;
  }
}

customElements.define('cairn-backups', CairnBackups);
