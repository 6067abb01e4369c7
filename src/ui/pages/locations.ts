// #/locations — every backup location: where it stores, whether it is available, read-only or not, and the
// storage its backups use.
import { html, nothing } from 'lit';
import type { DashboardChange, DashboardOverview, LocationRow } from '../../api/index.ts';
import { formatAge, formatBytes, formatTime } from '../format.ts';
import { Loader, loadState, PageElement, phaseBadge, scrollRegion } from '../page.ts';

export class CairnLocations extends PageElement {
  // The overview's answer holds every location with its health and storage: one source for both pages.
  readonly #overview = new Loader<DashboardOverview>(this, (signal) => this.api.overview(signal));

  watches(change: DashboardChange): boolean {
    return change.kind === 'BackupLocation' || change.kind === 'Backup';
  }

  refresh(): void {
    this.#overview.reload();
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.refresh();
  }

  override render() {
    const locations = this.#overview.value?.locations;
    return html`
      <h1>Locations</h1>
      ${loadState(this.#overview, 'the locations')}
      ${
        locations === undefined
          ? nothing
          : locations.length === 0
            ? html`<p class="muted">No backup locations.</p>`
            : this.#table(locations)
      }
    `;
  }

  #table(locations: LocationRow[]) {
    const now = Date.now();
    return scrollRegion(
      'Locations',
      html`<table>
        <thead>
          <tr>
            <th scope="col">Location</th>
            <th scope="col">Provider</th>
            <th scope="col">Where</th>
            <th scope="col">Availability</th>
            <th scope="col">Access</th>
            <th scope="col">Last validated</th>
            <th scope="col">Storage used</th>
            <th scope="col">Backups</th>
          </tr>
        </thead>
        <tbody>
          ${locations.map(
            (l) =>
              html`<tr class=${l.phase === 'Unavailable' ? 'unhealthy' : ''}>
                <th scope="row">${l.name}</th>
                <td>${l.provider}</td>
                <td><code>${l.where}</code></td>
                <td>
                  ${phaseBadge(l.phase)}
                  ${l.message ? html`<span class="problem">${l.message}</span>` : nothing}
                </td>
                <td>
                  ${
                    l.accessMode === 'ReadOnly'
                      ? html`<span class="badge warn">Read-only</span>`
                      : html`<span class="badge neutral">Read-write</span>`
                  }
                </td>
                <td>
                  <time datetime=${l.lastValidation ?? ''} title=${formatTime(l.lastValidation)}
                    >${l.lastValidation ? `${formatAge(l.lastValidation, now)} ago` : 'never'}</time
                  >
                </td>
                <td>${formatBytes(l.usedBytes)}</td>
                <td class="num">${l.backups}</td>
              </tr>`,
          )}
        </tbody>
      </table>`,
    );
  }
}

customElements.define('cairn-locations', CairnLocations);
