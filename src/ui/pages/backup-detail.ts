// #/backups/<name> — one backup: summary, spec, status in each location, items per resource, volume and
// hook results, warnings and errors, and its log. Restore and Delete buttons when the session may use them.
import { html, nothing, type PropertyValues } from 'lit';
import type { BackupDetail, DashboardChange } from '../../api/index.ts';
import { ApiError } from '../api.ts';
import { formatAge, formatBytes, formatDuration, formatNamespaces, formatTime } from '../format.ts';
import { formatLogLine, parseLog, type LogLine } from '../log.ts';
import { hrefOf } from '../routes.ts';
import { Loader, loadState, PageElement, phaseBadge, scrollRegion } from '../page.ts';

const RESTORABLE = new Set(['Completed', 'PartiallyFailed']);

export class CairnBackupDetail extends PageElement {
  static override properties = {
    name: {},
    confirmingDelete: { state: true },
    deleteMessage: { state: true },
    deleteError: { state: true },
    deleting: { state: true },
  };
  declare name: string;
  declare confirmingDelete: boolean;
  declare deleteMessage: string | undefined;
  declare deleteError: string | undefined;
  declare deleting: boolean;
  readonly #detail = new Loader<BackupDetail>(this, (signal) => this.api.backup(this.name, signal));
  readonly #log = new Loader<string>(this, (signal) => this.api.backupLogs(this.name, signal));

  constructor() {
    super();
    this.confirmingDelete = false;
    this.deleting = false;
  }

  watches(change: DashboardChange): boolean {
    return change.kind === 'Backup' && change.name === this.name;
  }

  refresh(): void {
    this.#detail.reload();
    // The log is written once, when the backup ends: read it again only while the backup still runs.
    const phase = this.#detail.value?.row.phase;
    if (phase === undefined || phase === 'New' || phase === 'InProgress' || this.#log.error !== undefined)
      this.#log.reload();
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('name')) {
      this.#detail.clear();
      this.#log.clear();
      this.confirmingDelete = false;
      this.deleteMessage = undefined;
      this.deleteError = undefined;
      this.refresh();
    }
  }

  async #delete(): Promise<void> {
    this.deleting = true;
    this.deleteError = undefined;
    try {
      await this.api.deleteBackup(this.name);
      this.deleteMessage = `Deletion of ${this.name} requested: the backup and its stored data are being removed.`;
      this.confirmingDelete = false;
    } catch (error) {
      // A 409 is the delete lock: the server's text says until when.
      this.deleteError =
        error instanceof ApiError && error.status === 409
          ? `Cannot delete: ${error.message}`
          : `Could not delete: ${error instanceof Error ? error.message : String(error)}`;
    } finally {
      this.deleting = false;
    }
  }

  override render() {
    const detail = this.#detail.value;
    return html`
      <p class="crumbs"><a href=${hrefOf({ page: 'backups', filter: {} })}>Backups</a> /</p>
      <h1>Backup ${this.name}</h1>
      ${loadState(this.#detail, 'the backup')}
      ${
        detail
          ? html`${this.#actions(detail)} ${this.#summary(detail)} ${this.#problems(detail)}
            ${this.#results(detail)} ${this.#resources(detail)} ${this.#volumes(detail)} ${this.#spec(detail)}
            ${this.#logSection()}`
          : nothing
      }
    `;
  }

  #actions(detail: BackupDetail) {
    const { row } = detail;
    const can = this.session.can;
    const locked = row.deleteLockUntil !== undefined && Date.parse(row.deleteLockUntil) > Date.now();
    return html`
      <div class="actions">
        ${
          can.createRestore && RESTORABLE.has(row.phase)
            ? html`<a class="button" href=${hrefOf({ page: 'restore', backup: row.name })}>Restore…</a>`
            : nothing
        }
        ${
          can.deleteBackups && !this.confirmingDelete && row.phase !== 'Deleting'
            ? html`<button type="button" class="danger" @click=${() => (this.confirmingDelete = true)}>
                Delete…
              </button>`
            : nothing
        }
      </div>
      ${
        locked
          ? html`<p class="note">
              Delete-locked until ${formatTime(row.deleteLockUntil)}: it cannot be deleted before.
            </p>`
          : nothing
      }
      ${
        this.confirmingDelete
          ? html`<div class="confirm" role="group" aria-labelledby="confirm-delete">
              <p id="confirm-delete">
                Delete backup <strong>${row.name}</strong> and its stored data? This cannot be undone.
              </p>
              <button
                type="button"
                class="danger"
                ?disabled=${this.deleting}
                @click=${() => void this.#delete()}
              >
                Delete backup
              </button>
              <button type="button" class="secondary" @click=${() => (this.confirmingDelete = false)}>
                Cancel
              </button>
            </div>`
          : nothing
      }
      ${this.deleteError ? html`<p class="error" role="alert">${this.deleteError}</p>` : nothing}
      ${this.deleteMessage ? html`<p class="success" role="status">${this.deleteMessage}</p>` : nothing}
    `;
  }

  #summary(detail: BackupDetail) {
    const { row, backup } = detail;
    const status = backup.status ?? {};
    const now = Date.now();
    return html`
      <section aria-labelledby="summary-heading">
        <h2 id="summary-heading">Summary</h2>
        <dl class="facts">
          <dt>Phase</dt>
          <dd>${phaseBadge(row.phase)}</dd>
          ${
            row.failureReason
              ? html`<dt>Failure</dt>
                  <dd class="bad-text">${row.failureReason}</dd>`
              : nothing
          }
          <dt>Schedule</dt>
          <dd>${row.schedule || 'made by hand'}</dd>
          <dt>Namespaces</dt>
          <dd>${formatNamespaces(row.namespaces)}</dd>
          <dt>Locations</dt>
          <dd>${row.locations.join(', ') || '—'}</dd>
          <dt>Started</dt>
          <dd>${formatTime(row.started)} (${formatAge(row.started, now)} ago)</dd>
          <dt>Completed</dt>
          <dd>${formatTime(row.completed)}</dd>
          <dt>Duration</dt>
          <dd>${formatDuration(row.durationSeconds)}</dd>
          <dt>Size stored</dt>
          <dd>${formatBytes(row.sizeBytes)}</dd>
          <dt>Items</dt>
          <dd>
            ${row.items ?? '—'}${
              status.progress?.totalItems !== undefined ? ` of ${status.progress.totalItems}` : ''
            }
          </dd>
          <dt>Warnings</dt>
          <dd>${row.warnings}</dd>
          <dt>Errors</dt>
          <dd class=${row.errors > 0 ? 'bad-text' : ''}>${row.errors}</dd>
          <dt>Expires</dt>
          <dd>${formatTime(row.expires)}</dd>
          ${
            status.consistency
              ? html`<dt>Consistency</dt>
                  <dd>${status.consistency.mode}</dd>`
              : nothing
          }
          ${
            status.encryption
              ? html`<dt>Encryption</dt>
                  <dd>${status.encryption.algorithm}</dd>`
              : nothing
          }
        </dl>
        ${
          status.validationErrors?.length
            ? html`<h3>Validation errors</h3>
                <ul class="messages">
                  ${status.validationErrors.map((m) => html`<li>${m}</li>`)}
                </ul>`
            : nothing
        }
      </section>
    `;
  }

  #results(detail: BackupDetail) {
    const locations = detail.backup.status?.locations ?? [];
    if (locations.length === 0) return nothing;
    return html`
      <section aria-labelledby="locations-heading">
        <h2 id="locations-heading">In each location</h2>
        ${scrollRegion(
          'Results per location',
          html`<table>
            <thead>
              <tr>
                <th scope="col">Location</th>
                <th scope="col">Outcome</th>
                <th scope="col">Stored</th>
                <th scope="col">Message</th>
              </tr>
            </thead>
            <tbody>
              ${locations.map(
                (l) =>
                  html`<tr>
                    <th scope="row">${l.name}</th>
                    <td>${phaseBadge(l.phase)}</td>
                    <td>${formatBytes(l.bytes)}</td>
                    <td>${l.message ?? ''}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`,
        )}
      </section>
    `;
  }

  #resources(detail: BackupDetail) {
    const resources = Object.entries(detail.resources ?? {}).sort(([a], [b]) => a.localeCompare(b));
    return html`
      <section aria-labelledby="resources-heading">
        <h2 id="resources-heading">Items per resource</h2>
        ${
          detail.hidden
            ? html`<p class="note">Hidden: ${detail.hidden}</p>`
            : resources.length === 0
              ? html`<p class="muted">No item list (the backup has not written one).</p>`
              : scrollRegion(
                  'Items per resource',
                  html`<table class="narrow">
                    <thead>
                      <tr>
                        <th scope="col">Resource</th>
                        <th scope="col">Items</th>
                      </tr>
                    </thead>
                    <tbody>
                      ${resources.map(
                        ([resource, count]) =>
                          html`<tr>
                            <th scope="row">${resource}</th>
                            <td class="num">${count}</td>
                          </tr>`,
                      )}
                    </tbody>
                  </table>`,
                )
        }
      </section>
    `;
  }

  #volumes(detail: BackupDetail) {
    const status = detail.backup.status ?? {};
    const fs = status.podVolumeBackups;
    const moves = status.snapshotDataMoves;
    const hooks = status.hookStatus;
    const csi = status.csiVolumeSnapshotsAttempted;
    const rows: { what: string; attempted: number; completed?: number; failed?: number; extra?: string }[] =
      [];
    if (fs)
      rows.push({
        what: 'Pod volume file backups',
        attempted: fs.attempted,
        completed: fs.completed,
        failed: fs.failed,
        extra: [
          fs.skipped ? `${fs.skipped} skipped` : '',
          fs.bytes !== undefined ? `${formatBytes(fs.bytes)} read` : '',
          fs.bytesUploaded !== undefined ? `${formatBytes(fs.bytesUploaded)} stored anew` : '',
        ]
          .filter(Boolean)
          .join(', '),
      });
    if (csi !== undefined)
      rows.push({
        what: 'CSI volume snapshots',
        attempted: csi,
        completed: status.csiVolumeSnapshotsCompleted ?? 0,
        failed: csi - (status.csiVolumeSnapshotsCompleted ?? 0),
      });
    if (moves)
      rows.push({
        what: 'Snapshot data moves',
        attempted: moves.attempted,
        completed: moves.completed,
        failed: moves.failed,
        extra: `${formatBytes(moves.bytes)} moved${moves.seconds !== undefined ? ` in ${formatDuration(moves.seconds)}` : ''}`,
      });
    if (hooks)
      rows.push({
        what: 'Backup hooks',
        attempted: hooks.hooksAttempted,
        completed: hooks.hooksAttempted - hooks.hooksFailed,
        failed: hooks.hooksFailed,
      });
    return html`
      <section aria-labelledby="volumes-heading">
        <h2 id="volumes-heading">Volumes and hooks</h2>
        ${
          rows.length === 0
            ? html`<p class="muted">No volume data and no hooks in this backup.</p>`
            : scrollRegion(
                'Volumes and hooks',
                html`<table>
                  <thead>
                    <tr>
                      <th scope="col">What</th>
                      <th scope="col">Attempted</th>
                      <th scope="col">Succeeded</th>
                      <th scope="col">Failed</th>
                      <th scope="col">Details</th>
                    </tr>
                  </thead>
                  <tbody>
                    ${rows.map(
                      (r) =>
                        html`<tr class=${r.failed ? 'unhealthy' : ''}>
                          <th scope="row">${r.what}</th>
                          <td class="num">${r.attempted}</td>
                          <td class="num">${r.completed ?? '—'}</td>
                          <td class="num">${r.failed ?? '—'}</td>
                          <td>${r.extra ?? ''}</td>
                        </tr>`,
                    )}
                  </tbody>
                </table>`,
              )
        }
      </section>
    `;
  }

  #spec(detail: BackupDetail) {
    return html`
      <section aria-labelledby="spec-heading">
        <h2 id="spec-heading">Spec and status</h2>
        <details>
          <summary>The Backup resource's spec</summary>
          <pre tabindex="0">${JSON.stringify(detail.backup.spec, null, 2)}</pre>
        </details>
        <details>
          <summary>The Backup resource's status</summary>
          <pre tabindex="0">${JSON.stringify(detail.backup.status ?? {}, null, 2)}</pre>
        </details>
      </section>
    `;
  }

  /** The log's lines, parsed once per answer. */
  #lines(): LogLine[] | undefined {
    const log = this.#log.value;
    if (log === undefined) return undefined;
    if (this.#parsed?.text !== log) this.#parsed = { text: log, lines: parseLog(log) };
    return this.#parsed.lines;
  }
  #parsed: { text: string; lines: LogLine[] } | undefined;

  /** The warnings and errors, as the log tells them (the status only counts them). */
  #problems(detail: BackupDetail) {
    if (detail.row.warnings === 0 && detail.row.errors === 0) return nothing;
    const lines = this.#lines()?.filter((l) => l.level === 'warning' || l.level === 'error');
    return html`
      <section aria-labelledby="problems-heading">
        <h2 id="problems-heading">Warnings and errors</h2>
        ${
          lines === undefined
            ? html`<p class="muted">
                ${detail.row.warnings} warnings and ${detail.row.errors} errors; their messages are in the
                log${this.#log.error !== undefined ? ', which you may not read' : ''}.
              </p>`
            : html`<ul class="messages">
                ${lines.map(
                  (l) =>
                    html`<li>
                      <span class="badge ${l.level === 'error' ? 'bad' : 'warn'}">${l.level}</span>
                      ${l.message} ${l.fields ? html`<span class="muted">${l.fields}</span>` : nothing}
                    </li>`,
                )}
              </ul>`
        }
      </section>
    `;
  }

  #logSection() {
    const lines = this.#lines();
    return html`
      <section aria-labelledby="log-heading">
        <h2 id="log-heading">Log</h2>
        ${
          this.#log.error !== undefined
            ? html`<p class="note">No log: ${this.#log.error}</p>`
            : lines === undefined
              ? html`<p class="muted">Loading the log…</p>`
              : lines.length === 0
                ? html`<p class="muted">The log is empty.</p>`
                : html`<pre class="log" tabindex="0" aria-label="The backup's log">
${lines.map(formatLogLine).join('\n')}</pre>`
        }
      </section>
    `;
  }
}

customElements.define('cairn-backup-detail', CairnBackupDetail);
