// #/restore?backup=<name> — the restore wizard: choose a backup, its namespaces, mappings and a conflict
// policy; preview the dry run's plan with its diffs; then restore, which leads to #/restores/<name>.
import { html, nothing, type PropertyValues } from 'lit';
import type {
  BackupList,
  BackupRow,
  DashboardChange,
  NamespacedConflictPolicy,
  PreviewEntry,
  RestorePreview,
  RestoreRequest,
} from '../../api/index.ts';
import { formatAge, formatNamespaces } from '../format.ts';
import { Loader, loadState, PageElement, scrollRegion } from '../page.ts';
import { CONFLICT_POLICIES, parseNamespaceList, restoreRequest } from '../restore-form.ts';
import { hrefOf } from '../routes.ts';

const RESTORABLE = new Set(['Completed', 'PartiallyFailed']);
/** Past this many items the plan's table shows a part: a namespace of many objects stays usable. */
const SHOWN_ENTRIES = 500;
/** Outcomes that change the cluster, shown first in the counts. */
const OUTCOME_ORDER = ['created', 'updated', 'recreated', 'deleted', 'failed', 'skipped', 'unchanged'];

export class CairnRestore extends PageElement {
  static override properties = {
    backup: {},
    backupName: { state: true },
    excluded: { state: true },
    namespacesText: { state: true },
    mappings: { state: true },
    policy: { state: true },
    problems: { state: true },
    preview: { state: true },
    previewed: { state: true },
    busy: { state: true },
    actionError: { state: true },
    outcomeShown: { state: true },
  };
  /** The backup the route names, if any. */
  declare backup: string | undefined;
  declare backupName: string;
  /** Namespaces of the chosen backup left unticked. */
  declare excluded: ReadonlySet<string>;
  /** The namespaces typed, for a backup of every namespace. */
  declare namespacesText: string;
  declare mappings: { from: string; to: string }[];
  declare policy: NamespacedConflictPolicy;
  declare problems: string[];
  declare preview: RestorePreview | undefined;
  /** The request the preview answered: the Restore button sends exactly this. */
  declare previewed: RestoreRequest | undefined;
  declare busy: 'preview' | 'restore' | undefined;
  declare actionError: string | undefined;
  declare outcomeShown: string;
  readonly #backups = new Loader<BackupList>(this, (signal) => this.api.backups(signal));

  constructor() {
    super();
    this.backupName = '';
    this.excluded = new Set();
    this.namespacesText = '';
    this.mappings = [{ from: '', to: '' }];
    this.policy = 'skip-on-conflict';
    this.problems = [];
    this.outcomeShown = '';
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

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('backup') && this.backup !== undefined) this.#choose(this.backup);
  }

  #choose(name: string): void {
    this.backupName = name;
    this.excluded = new Set();
    this.namespacesText = '';
    this.#edited();
  }

  /** Any change of the form makes the preview stale: the user previews again before restoring. */
  #edited(): void {
    this.preview = undefined;
    this.previewed = undefined;
    this.problems = [];
    this.actionError = undefined;
  }

  #chosenRow(): BackupRow | undefined {
    return this.#backups.value?.backups.find((b) => b.name === this.backupName);
  }

  #request(): RestoreRequest | undefined {
    const row = this.#chosenRow();
    const everyNamespace = row === undefined || row.namespaces.includes('*');
    const typed = parseNamespaceList(this.namespacesText);
    let namespaces: string[] | undefined;
    if (everyNamespace) namespaces = typed.length > 0 ? typed : undefined;
    else if (this.excluded.size > 0) namespaces = row.namespaces.filter((n) => !this.excluded.has(n));
    const result = restoreRequest({
      backupName: this.backupName,
      namespaces,
      mappings: this.mappings,
      policy: this.policy,
    });
    if ('problems' in result) {
      this.problems = result.problems;
      return undefined;
    }
    this.problems = [];
    return result.request;
  }

  async #preview(): Promise<void> {
    const request = this.#request();
    if (!request) return;
    this.busy = 'preview';
    this.actionError = undefined;
    try {
      this.preview = await this.api.previewRestore(request);
      this.previewed = request;
      this.outcomeShown = '';
      // Take the reader to the plan it asked for.
      await this.updateComplete;
      this.querySelector<HTMLElement>('#preview-heading')?.focus();
    } catch (error) {
      this.actionError = `Could not preview: ${error instanceof Error ? error.message : String(error)}`;
    } finally {
      this.busy = undefined;
    }
  }

  async #restore(): Promise<void> {
    if (!this.previewed) return;
    this.busy = 'restore';
    this.actionError = undefined;
    try {
      const restore = await this.api.createRestore(this.previewed);
      location.assign(hrefOf({ page: 'restore-progress', name: restore.name }));
    } catch (error) {
      this.actionError = `Could not restore: ${error instanceof Error ? error.message : String(error)}`;
    } finally {
      this.busy = undefined;
    }
  }

  override render() {
    if (!this.session.can.createRestore)
      return html`<h1>Restore</h1>
        <p class="note">
          You may not restore: that needs permission to create Restores (or, in your own namespaces, to create
          what a restore brings back). Ask your cluster's administrator.
        </p>`;
    return html`
      <h1>Restore</h1>
      ${loadState(this.#backups, 'the backups')}
      ${this.#backups.value ? this.#form(this.#backups.value) : nothing}
      ${this.preview ? this.#plan(this.preview) : nothing}
    `;
  }

  #form(list: BackupList) {
    const restorable = list.backups.filter((b) => RESTORABLE.has(b.phase));
    const row = this.#chosenRow();
    const now = Date.now();
    return html`
      <form class="wizard" @submit=${(e: Event) => (e.preventDefault(), void this.#preview())}>
        <div class="field">
          <label for="restore-backup">Backup</label>
          <select
            id="restore-backup"
            required
            @change=${(e: Event) => this.#choose((e.target as HTMLSelectElement).value)}
          >
            <option value="" ?selected=${this.backupName === ''}>Choose a backup…</option>
            ${restorable.map(
              (b) =>
                html`<option value=${b.name} ?selected=${b.name === this.backupName}>
                  ${b.name} (${b.phase}, ${formatAge(b.started, now)} old, ${formatNamespaces(b.namespaces)})
                </option>`,
            )}
          </select>
          ${
            this.backupName !== '' && row === undefined
              ? html`<p class="error" role="alert">
                  No restorable backup named ${this.backupName}: it failed, is still running, or you may not
                  see it.
                </p>`
              : nothing
          }
        </div>
        ${row ? this.#namespaces(row) : nothing} ${this.#mappingFields()} ${this.#policyFields()}
        ${
          this.problems.length > 0
            ? html`<div class="error" role="alert">
                <p>Please fix:</p>
                <ul>
                  ${this.problems.map((p) => html`<li>${p}</li>`)}
                </ul>
              </div>`
            : nothing
        }
        ${this.actionError ? html`<p class="error" role="alert">${this.actionError}</p>` : nothing}
        <div class="actions">
          <button type="submit" ?disabled=${this.busy !== undefined || this.backupName === ''}>
            ${this.busy === 'preview' ? 'Previewing…' : 'Preview'}
          </button>
        </div>
      </form>
    `;
  }

  #namespaces(row: BackupRow) {
    if (row.namespaces.includes('*'))
      return html`<div class="field">
        <label for="restore-namespaces">Namespaces to restore</label>
        <input
          id="restore-namespaces"
          aria-describedby="restore-namespaces-help"
          .value=${this.namespacesText}
          @input=${(e: Event) => {
            this.namespacesText = (e.target as HTMLInputElement).value;
            this.#edited();
          }}
        />
        <p id="restore-namespaces-help" class="help">
          Separated by commas or spaces. Left empty, every namespace in the backup is restored.
        </p>
      </div>`;
    return html`<fieldset>
      <legend>Namespaces to restore</legend>
      ${row.namespaces.map(
        (n) =>
          html`<label class="check">
            <input
              type="checkbox"
              .checked=${!this.excluded.has(n)}
              @change=${(e: Event) => {
                const excluded = new Set(this.excluded);
                if ((e.target as HTMLInputElement).checked) excluded.delete(n);
                else excluded.add(n);
                this.excluded = excluded;
                this.#edited();
              }}
            />
            ${n}
          </label>`,
      )}
    </fieldset>`;
  }

  #mappingFields() {
    const set = (i: number, side: 'from' | 'to', value: string) => {
      this.mappings = this.mappings.map((m, j) => (j === i ? { ...m, [side]: value } : m));
      this.#edited();
    };
    return html`<fieldset>
      <legend>Namespace mappings (optional)</legend>
      <p class="help">Restore a namespace of the backup under another name.</p>
      ${this.mappings.map(
        (m, i) =>
          html`<div class="mapping">
            <div class="field">
              <label for="map-from-${i}">From namespace</label>
              <input
                id="map-from-${i}"
                .value=${m.from}
                @input=${(e: Event) => set(i, 'from', (e.target as HTMLInputElement).value)}
              />
            </div>
            <span aria-hidden="true">→</span>
            <div class="field">
              <label for="map-to-${i}">To namespace</label>
              <input
                id="map-to-${i}"
                .value=${m.to}
                @input=${(e: Event) => set(i, 'to', (e.target as HTMLInputElement).value)}
              />
            </div>
            <button
              type="button"
              class="secondary"
              aria-label="Remove mapping ${i + 1}"
              @click=${() => {
                const rest = this.mappings.filter((_, j) => j !== i);
                this.mappings = rest.length > 0 ? rest : [{ from: '', to: '' }];
                this.#edited();
              }}
            >
              Remove
            </button>
          </div>`,
      )}
      <button
        type="button"
        class="secondary"
        @click=${() => {
          this.mappings = [...this.mappings, { from: '', to: '' }];
        }}
      >
        Add a mapping
      </button>
    </fieldset>`;
  }

  #policyFields() {
    return html`<fieldset>
      <legend>When an object already exists</legend>
      ${CONFLICT_POLICIES.map(
        (p) =>
          html`<label class="check">
            <input
              type="radio"
              name="policy"
              value=${p.value}
              aria-describedby="policy-${p.value}"
              .checked=${this.policy === p.value}
              @change=${() => {
                this.policy = p.value;
                this.#edited();
              }}
            />
            ${p.label}
            <span id="policy-${p.value}" class="help">${p.help}</span>
          </label>`,
      )}
    </fieldset>`;
  }

  #plan(preview: RestorePreview) {
    const rank = (outcome: string) => {
      const i = OUTCOME_ORDER.indexOf(outcome);
      return i === -1 ? OUTCOME_ORDER.length : i;
    };
    const counts = Object.entries(preview.counts).sort(([a], [b]) => rank(a) - rank(b));
    const entries = this.outcomeShown
      ? preview.entries.filter((e) => e.outcome === this.outcomeShown)
      : preview.entries;
    return html`
      <section aria-labelledby="preview-heading" class="preview">
        <h2 id="preview-heading" tabindex="-1">Preview: what the restore would do</h2>
        <p>Nothing has changed yet. Restoring applies this plan (the cluster may have moved on meanwhile).</p>
        ${scrollRegion(
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
                  html`<tr class=${outcome === 'failed' && count > 0 ? 'unhealthy' : ''}>
                    <th scope="row">${outcome}</th>
                    <td class="num">${count}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`,
        )}
        ${
          preview.warnings.length > 0
            ? html`<h3>Warnings</h3>
                <ul class="messages">
                  ${preview.warnings.map((w) => html`<li>${w}</li>`)}
                </ul>`
            : nothing
        }
        <h3>Items</h3>
        <div class="field">
          <label for="preview-outcome">Show</label>
          <select
            id="preview-outcome"
            @change=${(e: Event) => (this.outcomeShown = (e.target as HTMLSelectElement).value)}
          >
            <option value="">every outcome</option>
            ${counts.map(([o]) => html`<option value=${o} ?selected=${o === this.outcomeShown}>${o}</option>`)}
          </select>
        </div>
        ${this.#entries(entries)}
        ${this.actionError ? html`<p class="error" role="alert">${this.actionError}</p>` : nothing}
        <div class="actions">
          <button type="button" ?disabled=${this.busy !== undefined} @click=${() => void this.#restore()}>
            ${this.busy === 'restore' ? 'Starting the restore…' : 'Restore'}
          </button>
          <button type="button" class="secondary" @click=${() => this.#edited()}>Change the choices</button>
        </div>
      </section>
    `;
  }

  #entries(entries: PreviewEntry[]) {
    if (entries.length === 0) return html`<p class="muted">No items.</p>`;
    const shown = entries.slice(0, SHOWN_ENTRIES);
    return html`
      ${
        entries.length > shown.length
          ? html`<p class="note">Showing the first ${shown.length} of ${entries.length} items.</p>`
          : nothing
      }
      ${scrollRegion(
        'Planned items',
        html`<table>
          <thead>
            <tr>
              <th scope="col">Outcome</th>
              <th scope="col">Resource</th>
              <th scope="col">Namespace</th>
              <th scope="col">Name</th>
              <th scope="col">Why, and the difference</th>
            </tr>
          </thead>
          <tbody>
            ${shown.map(
              (e) =>
                html`<tr class=${e.outcome === 'failed' ? 'unhealthy' : ''}>
                  <td>${e.outcome}</td>
                  <td>${e.groupResource}</td>
                  <td>${e.namespace ?? html`<span class="muted">cluster</span>`}</td>
                  <th scope="row">${e.name}</th>
                  <td>
                    ${e.reason ?? ''}
                    ${
                      e.diff?.length
                        ? html`<details>
                            <summary>Difference (${e.diff.length} lines)</summary>
                            <pre class="diff">${e.diff.join('\n')}</pre>
                          </details>`
                        : nothing
                    }
                  </td>
                </tr>`,
            )}
          </tbody>
        </table>`,
      )}
    `;
  }
}

customElements.define('cairn-restore', CairnRestore);
