// #/restores/<name> — a restore's phase and progress, followed live until it ends.
import { html, nothing, type PropertyValues } from 'lit';
import type { DashboardChange, RestoreState } from '../../api/index.ts';
import { Loader, loadState, PageElement, phaseBadge, scrollRegion } from '../page.ts';
import { hrefOf } from '../routes.ts';

const ENDED = new Set(['Completed', 'PartiallyFailed', 'Failed', 'FailedValidation']);

export class CairnRestoreProgress extends PageElement {
  static override properties = { name: {} };
  declare name: string;
  readonly #restore = new Loader<RestoreState>(this, (signal) => this.api.restore(this.name, signal));

  watches(change: DashboardChange): boolean {
    return change.kind === 'Restore' && change.name === this.name;
  }

  refresh(): void {
    this.#restore.reload();
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('name')) {
      this.#restore.clear();
      this.refresh();
    }
  }

  override render() {
    const state = this.#restore.value;
    return html`
      <h1>Restore ${this.name}</h1>
      ${loadState(this.#restore, 'the restore')} ${state ? this.#state(state) : nothing}
    `;
  }

  #state(state: RestoreState) {
    const ended = ENDED.has(state.phase);
    const total = state.totalItems;
    const done = state.itemsRestored ?? 0;
    const counts = Object.entries(state.counts ?? {}).sort(([a], [b]) => a.localeCompare(b));
    return html`
      <p role="status">
        ${phaseBadge(state.phase)}
        ${ended ? 'The restore has ended.' : 'Restoring; this page follows it as it goes.'}
      </p>
      <div class="field">
        <label for="restore-progress">Items restored</label>
        <progress
          id="restore-progress"
          max=${total ?? 1}
          value=${total === undefined ? (ended ? 1 : 0) : done}
        >
          ${done} of ${total ?? '?'}
        </progress>
        <span>${done} of ${total ?? '?'} items</span>
      </div>
      ${state.failureReason ? html`<p class="error" role="alert">${state.failureReason}</p>` : nothing}
      ${
        counts.length > 0
          ? scrollRegion(
              'Items per outcome',
              html`<table class="narrow">
                <thead>
                  <tr>
                    <th scope="col">Outcome</th>
                    <th scope="col">Items</th>
                  </tr>
                </thead>
                <tbody>
                  ${counts.map(
                    ([outcome, count]) =>
                      html`<tr>
                        <th scope="row">${outcome}</th>
                        <td class="num">${count}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>`,
            )
          : nothing
      }
      <p><a href=${hrefOf({ page: 'restore' })}>Start another restore</a></p>
    `;
  }
}

customElements.define('cairn-restore-progress', CairnRestoreProgress);
