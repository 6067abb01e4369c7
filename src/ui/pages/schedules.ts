// #/schedules — every schedule: its cron, state and health, last and next backup; pause, resume and run
// now for a session that may.
import { html, nothing } from 'lit';
import type { DashboardChange, DashboardOverview, ScheduleRow } from '../../api/index.ts';
import { formatAge, formatTime, formatUntil } from '../format.ts';
import { healthText, Loader, loadState, PageElement, phaseBadge, scrollRegion } from '../page.ts';
import { hrefOf } from '../routes.ts';

type Action = 'pause' | 'resume' | 'run';
const DONE: Record<Action, string> = { pause: 'Paused', resume: 'Resumed', run: 'Started a backup of' };

export class CairnSchedules extends PageElement {
  static override properties = {
    pending: { state: true },
    message: { state: true },
    actionError: { state: true },
  };
  /** The schedule whose action is under way. */
  declare pending: string | undefined;
  declare message: string | undefined;
  declare actionError: string | undefined;
  // The overview's answer holds every schedule with its health: one source for both pages.
  readonly #overview = new Loader<DashboardOverview>(this, (signal) => this.api.overview(signal));

  watches(change: DashboardChange): boolean {
    return change.kind === 'Schedule' || change.kind === 'Backup';
  }

  refresh(): void {
    this.#overview.reload();
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.refresh();
  }

  async #act(schedule: string, action: Action): Promise<void> {
    this.pending = schedule;
    this.message = undefined;
    this.actionError = undefined;
    try {
      await this.api.scheduleAction(schedule, action);
      this.message = `${DONE[action]} ${schedule}.`;
    } catch (error) {
      this.actionError = `Could not ${action === 'run' ? 'run' : action} ${schedule}: ${
        error instanceof Error ? error.message : String(error)
      }`;
    } finally {
      this.pending = undefined;
    }
  }

  override render() {
    const schedules = this.#overview.value?.schedules;
    return html`
      <h1>Schedules</h1>
      ${loadState(this.#overview, 'the schedules')}
      ${this.message ? html`<p class="success" role="status">${this.message}</p>` : nothing}
      ${this.actionError ? html`<p class="error" role="alert">${this.actionError}</p>` : nothing}
      ${
        schedules === undefined
          ? nothing
          : schedules.length === 0
            ? html`<p class="muted">No schedules.</p>`
            : this.#table(schedules)
      }
    `;
  }

  #table(schedules: ScheduleRow[]) {
    const can = this.session.can;
    const actions = can.patchSchedules || can.createBackups;
    const now = Date.now();
    return scrollRegion(
      'Schedules',
      html`<table>
        <thead>
          <tr>
            <th scope="col">Schedule</th>
            <th scope="col">Cron</th>
            <th scope="col">Health</th>
            <th scope="col">Last backup</th>
            <th scope="col">Last success</th>
            <th scope="col">Next run</th>
            ${actions ? html`<th scope="col">Actions</th>` : nothing}
          </tr>
        </thead>
        <tbody>
          ${schedules.map(
            (s) =>
              html`<tr class=${s.healthy ? '' : 'unhealthy'}>
                <th scope="row">${s.name}</th>
                <td><code>${s.schedule}</code></td>
                <td>${healthText(s)}</td>
                <td>
                  ${
                    s.lastBackup
                      ? html`<a href=${hrefOf({ page: 'backup', name: s.lastBackup.name })}
                            >${s.lastBackup.name}</a
                          >
                          ${phaseBadge(s.lastBackup.phase)}`
                      : 'none yet'
                  }
                </td>
                <td>
                  <time datetime=${s.lastSuccess ?? ''} title=${formatTime(s.lastSuccess)}
                    >${s.lastSuccess ? `${formatAge(s.lastSuccess, now)} ago` : 'never'}</time
                  >
                </td>
                <td>${s.paused ? 'paused' : formatUntil(s.nextRun, now)}</td>
                ${actions ? html`<td class="row-actions">${this.#buttons(s)}</td>` : nothing}
              </tr>`,
          )}
        </tbody>
      </table>`,
    );
  }

  #buttons(s: ScheduleRow) {
    const can = this.session.can;
    const busy = this.pending === s.name;
    return html`
      ${
        can.patchSchedules
          ? html`<button
              type="button"
              class="secondary"
              ?disabled=${busy}
              aria-label="${s.paused ? 'Resume' : 'Pause'} ${s.name}"
              @click=${() => void this.#act(s.name, s.paused ? 'resume' : 'pause')}
            >
              ${s.paused ? 'Resume' : 'Pause'}
            </button>`
          : nothing
      }
      ${
        can.createBackups
          ? html`<button
              type="button"
              class="secondary"
              ?disabled=${busy}
              aria-label="Run ${s.name} now"
              @click=${() => void this.#act(s.name, 'run')}
            >
              Run now
            </button>`
          : nothing
      }
    `;
  }
}

customElements.define('cairn-schedules', CairnSchedules);
