// #/ — every schedule with its last backup and next run (a red, labelled row when it is unhealthy), the
// locations' health and storage, and charts of backup durations and sizes over time.
import { html, nothing } from 'lit';
import type { DashboardChange, DashboardOverview, LocationRow, ScheduleRow } from '../../api/index.ts';
import { chartData, type ChartData } from '../chart-data.ts';
import '../chart.ts';
import { formatAge, formatBytes, formatDuration, formatTime, formatUntil } from '../format.ts';
import { hrefOf } from '../routes.ts';
import { healthText, Loader, loadState, PageElement, phaseBadge, scrollRegion } from '../page.ts';

const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;

export class CairnOverview extends PageElement {
  readonly #overview = new Loader<DashboardOverview>(this, (signal) => this.api.overview(signal));
  /** The charts of each answer, computed once: a re-render with the same answer keeps the drawn charts. */
  readonly #charts = new WeakMap<DashboardOverview, { durations: ChartData; sizes: ChartData }>();

  watches(change: DashboardChange): boolean {
    return change.kind !== 'Restore';
  }

  refresh(): void {
    this.#overview.reload();
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.refresh();
  }

  override render() {
    const overview = this.#overview.value;
    const unhealthy = overview?.schedules.filter((s) => !s.healthy).length ?? 0;
    return html`
      <h1>Overview</h1>
      ${loadState(this.#overview, 'the overview')}
      ${
        overview
          ? html`
              <p class="summary" role="status">
                ${count(overview.schedules.length, 'schedule')},
                ${
                  unhealthy === 0
                    ? 'all healthy'
                    : html`<strong class="bad-text">${unhealthy} unhealthy</strong>`
                };
                ${count(overview.locations.length, 'location')}.
              </p>
              <section aria-labelledby="schedules-heading">
                <h2 id="schedules-heading">Schedules</h2>
                ${this.#schedules(overview.schedules)}
              </section>
              <section aria-labelledby="locations-heading">
                <h2 id="locations-heading">Locations</h2>
                ${this.#locations(overview.locations)}
              </section>
              <section aria-labelledby="history-heading">
                <h2 id="history-heading">Backups over time</h2>
                <div class="charts">
                  <figure>
                    <figcaption>Duration</figcaption>
                    <cairn-chart
                      label="Duration"
                      .data=${this.#chartsOf(overview).durations}
                      .format=${formatDuration}
                    ></cairn-chart>
                  </figure>
                  <figure>
                    <figcaption>Size stored</figcaption>
                    <cairn-chart
                      label="Size stored"
                      .data=${this.#chartsOf(overview).sizes}
                      .format=${formatBytes}
                    ></cairn-chart>
                  </figure>
                </div>
              </section>
            `
          : nothing
      }
    `;
  }

  #chartsOf(overview: DashboardOverview) {
    let charts = this.#charts.get(overview);
    if (!charts) {
      charts = {
        durations: chartData(overview.history, (r) => r.durationSeconds),
        sizes: chartData(overview.history, (r) => r.sizeBytes),
      };
      this.#charts.set(overview, charts);
    }
    return charts;
  }

  #schedules(schedules: ScheduleRow[]) {
    if (schedules.length === 0) return html`<p class="muted">No schedules.</p>`;
    const now = Date.now();
    return scrollRegion(
      'Schedules',
      html`<table>
        <thead>
          <tr>
            <th scope="col">Schedule</th>
            <th scope="col">Health</th>
            <th scope="col">Last backup</th>
            <th scope="col">Phase</th>
            <th scope="col">Age</th>
            <th scope="col">Duration</th>
            <th scope="col">Size</th>
            <th scope="col">Next run</th>
          </tr>
        </thead>
        <tbody>
          ${schedules.map((s) => {
            const last = s.lastBackup;
            return html`<tr class=${s.healthy ? '' : 'unhealthy'}>
              <th scope="row">${s.name}</th>
              <td>${healthText(s)}</td>
              <td>
                ${last ? html`<a href=${hrefOf({ page: 'backup', name: last.name })}>${last.name}</a>` : 'none yet'}
              </td>
              <td>${last ? phaseBadge(last.phase) : '—'}</td>
              <td>
                <time datetime=${last?.started ?? ''} title=${formatTime(last?.started)}
                  >${formatAge(last?.started, now)}</time
                >
              </td>
              <td>${formatDuration(last?.durationSeconds)}</td>
              <td>${formatBytes(last?.sizeBytes)}</td>
              <td>
                ${
                  s.paused
                    ? 'paused'
                    : html`<time datetime=${s.nextRun ?? ''} title=${formatTime(s.nextRun)}
                        >${formatUntil(s.nextRun, now)}</time
                      >`
                }
              </td>
            </tr>`;
          })}
        </tbody>
      </table>`,
    );
  }

  #locations(locations: LocationRow[]) {
    if (locations.length === 0) return html`<p class="muted">No backup locations.</p>`;
    return scrollRegion(
      'Locations',
      html`<table>
        <thead>
          <tr>
            <th scope="col">Location</th>
            <th scope="col">Availability</th>
            <th scope="col">Access</th>
            <th scope="col">Storage used</th>
            <th scope="col">Backups</th>
          </tr>
        </thead>
        <tbody>
          ${locations.map(
            (l) =>
              html`<tr class=${l.phase === 'Unavailable' ? 'unhealthy' : ''}>
                <th scope="row">${l.name}</th>
                <td>
                  ${phaseBadge(l.phase)}
                  ${l.message ? html`<span class="muted">${l.message}</span>` : nothing}
                </td>
                <td>${l.accessMode === 'ReadOnly' ? 'read-only' : 'read-write'}</td>
                <td>${formatBytes(l.usedBytes)}</td>
                <td>${l.backups}</td>
              </tr>`,
          )}
        </tbody>
      </table>`,
    );
  }
}

customElements.define('cairn-overview', CairnOverview);
