// #/schedules — every schedule: its cron, state and health, last and next backup; pause, resume and run
// now for a session that may; a form to make a schedule, and the same form to edit one.
import { html, nothing } from 'lit';
import { keyed } from 'lit/directives/keyed.js';
import type { DashboardChange, DashboardOverview, LocationRow, ScheduleRow } from '../../api/index.ts';
import { ApiError } from '../api.ts';
import { formatAge, formatTime, formatUntil } from '../format.ts';
import { healthText, Loader, loadState, PageElement, phaseBadge, scrollRegion } from '../page.ts';
import { hrefOf } from '../routes.ts';
import {
  changedFields,
  editScheduleRequest,
  EMPTY_SCHEDULE_FORM,
  FIELD_LABELS,
  newScheduleRequest,
  scheduleFormOf,
  type ScheduleForm,
} from '../schedule-form.ts';

type Action = 'pause' | 'resume' | 'run';
const DONE: Record<Action, string> = { pause: 'Paused', resume: 'Resumed', run: 'Started a backup of' };

/** The form shown: a new schedule, or an edit of one (`before` undefined while its spec loads). */
type Editing = { kind: 'new' } | { kind: 'edit'; name: string; before?: ScheduleForm | undefined };
type TextField = Exclude<keyof ScheduleForm, 'paused'>;
/** The form's fields in order: the server's "<field>: …" answer marks the one it names. */
const FIELD_IDS: Record<keyof ScheduleForm, string> = {
  name: 'schedule-name',
  schedule: 'schedule-cron',
  paused: 'schedule-paused',
  includedNamespaces: 'schedule-include',
  excludedNamespaces: 'schedule-exclude',
  labelSelector: 'schedule-selector',
  ttl: 'schedule-ttl',
  storageLocation: 'schedule-location',
};

export class CairnSchedules extends PageElement {
  static override properties = {
    pending: { state: true },
    message: { state: true },
    actionError: { state: true },
    editing: { state: true },
    form: { state: true },
    problems: { state: true },
    formError: { state: true },
    saving: { state: true },
  };
  /** The schedule whose action is under way. */
  declare pending: string | undefined;
  declare message: string | undefined;
  declare actionError: string | undefined;
  declare editing: Editing | undefined;
  declare form: ScheduleForm;
  /** What is plainly missing, found before asking the server. */
  declare problems: string[];
  /** The server's answer to the form (its own text), or why the schedule could not be read. */
  declare formError: { text: string; field?: keyof ScheduleForm | undefined } | undefined;
  declare saving: boolean;
  /** The button that opened the form: Cancel gives it the focus back. */
  #opener: HTMLElement | undefined;
  /** Where the focus goes once the page has rendered. */
  #focusNext: (() => HTMLElement | null | undefined) | undefined;
  // The overview's answer holds every schedule with its health: one source for both pages (and the
  // locations the form offers).
  readonly #overview = new Loader<DashboardOverview>(this, (signal) => this.api.overview(signal));
  /** Aborts the read of the schedule being opened for an edit, when another form opens meanwhile. */
  #loading: AbortController | undefined;

  constructor() {
    super();
    this.form = { ...EMPTY_SCHEDULE_FORM };
    this.problems = [];
    this.saving = false;
  }

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

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.#loading?.abort();
  }

  protected override updated(): void {
    const target = this.#focusNext?.();
    if (target) {
      this.#focusNext = undefined;
      target.focus();
    }
  }

  /** Opens the form: empty for a new schedule, or prefilled from the schedule `name` as the server has it. */
  #open(editing: Editing, opener: EventTarget | null): void {
    this.#loading?.abort();
    this.#opener = opener instanceof HTMLElement ? opener : undefined;
    this.editing = editing;
    this.problems = [];
    this.formError = undefined;
    this.message = undefined;
    this.form = { ...EMPTY_SCHEDULE_FORM };
    if (editing.kind === 'new') {
      this.#focusNext = () => this.#field('name');
      return;
    }
    this.#focusNext = () => this.querySelector<HTMLElement>('#schedule-form-heading');
    const abort = new AbortController();
    this.#loading = abort;
    this.api.schedule(editing.name, abort.signal).then(
      (detail) => {
        if (abort.signal.aborted) return;
        const before = scheduleFormOf(detail.schedule);
        this.editing = { kind: 'edit', name: editing.name, before };
        this.form = { ...before };
        this.#focusNext = () => this.#field('schedule');
      },
      (error: unknown) => {
        if (abort.signal.aborted) return;
        this.formError = { text: `Could not read schedule ${editing.name}: ${errorMessage(error)}` };
      },
    );
  }

  #close(focus: 'opener' | 'list'): void {
    this.#loading?.abort();
    this.editing = undefined;
    this.problems = [];
    this.formError = undefined;
    const opener = this.#opener;
    this.#opener = undefined;
    this.#focusNext = () =>
      // "New schedule" is hidden while its form is open, so its button is a new one once the form closes.
      (focus === 'opener'
        ? opener?.isConnected
          ? opener
          : this.querySelector<HTMLElement>('#new-schedule')
        : undefined) ??
      this.querySelector<HTMLElement>('[role="region"][aria-label="Schedules"]') ??
      this.querySelector<HTMLElement>('h1');
  }

  #field(field: keyof ScheduleForm): HTMLElement | null {
    return this.querySelector<HTMLElement>(`#${FIELD_IDS[field]}`);
  }

  #set(field: TextField, value: string): void {
    this.form = { ...this.form, [field]: value };
  }

  async #save(): Promise<void> {
    const editing = this.editing;
    if (!editing || this.saving) return;
    if (editing.kind === 'edit' && !editing.before) return;
    const result =
      editing.kind === 'new'
        ? newScheduleRequest(this.form)
        : editScheduleRequest(editing.before ?? this.form, this.form);
    this.formError = undefined;
    if ('problems' in result) {
      this.problems = result.problems;
      return;
    }
    const changed = changedFields(result.request);
    if (editing.kind === 'edit' && changed.length === 0) {
      this.problems = ['change a field first, or cancel'];
      return;
    }
    this.problems = [];
    this.saving = true;
    try {
      if (editing.kind === 'new') {
        const row = await this.api.createSchedule(result.request);
        this.message = `Created schedule ${row.name}.`;
      } else {
        await this.api.editSchedule(editing.name, result.request);
        this.message = `Saved schedule ${editing.name}: changed ${changed.join(', ')}.`;
      }
      this.#close('list');
      this.refresh();
    } catch (error) {
      // The server's 400 names the field it refuses ("schedule: …", "ttl: must be a duration …").
      const field = error instanceof ApiError && error.status === 400 ? fieldNamed(error.message) : undefined;
      const what = editing.kind === 'new' ? 'create the schedule' : `save schedule ${editing.name}`;
      let text = `Could not ${what}: ${errorMessage(error)}`;
      if (error instanceof ApiError && error.status === 409 && editing.kind === 'edit')
        text += ' Cancel and edit again to start from the schedule as it is now.';
      this.formError = { text, field };
    } finally {
      this.saving = false;
    }
  }

  override render() {
    const schedules = this.#overview.value?.schedules;
    const can = this.session.can;
    return html`
      <h1 tabindex="-1">Schedules</h1>
      ${loadState(this.#overview, 'the schedules')}
      ${this.message ? html`<p class="success" role="status">${this.message}</p>` : nothing}
      ${this.actionError ? html`<p class="error" role="alert">${this.actionError}</p>` : nothing}
      ${
        can.createSchedules && this.editing === undefined
          ? html`<div class="actions">
              <button
                id="new-schedule"
                type="button"
                @click=${(e: Event) => this.#open({ kind: 'new' }, e.currentTarget)}
              >
                New schedule
              </button>
            </div>`
          : nothing
      }
      ${this.editing ? this.#formSection(this.editing) : nothing}
      ${
        schedules === undefined
          ? nothing
          : schedules.length === 0
            ? html`<p class="muted">No schedules.</p>`
            : this.#table(schedules)
      }
    `;
  }

  #formSection(editing: Editing) {
    const loaded = editing.kind === 'new' || editing.before !== undefined;
    const title = editing.kind === 'new' ? 'New schedule' : `Edit schedule ${editing.name}`;
    return html`<section class="schedule-form" aria-labelledby="schedule-form-heading">
      <h2 id="schedule-form-heading" tabindex="-1">${title}</h2>
      ${
        loaded
          ? // A form of its own for each schedule opened: no field keeps what another form's user typed.
            keyed(editing.kind === 'new' ? '' : editing.name, this.#form(editing))
          : this.formError
            ? nothing
            : html`<p class="muted" role="status">Loading schedule ${editing.name}…</p>`
      }
      ${!loaded && this.formError ? this.#formErrors() : nothing}
      ${
        loaded
          ? nothing
          : html`<div class="actions">
              <button type="button" class="secondary" @click=${() => this.#close('opener')}>Cancel</button>
            </div>`
      }
    </section>`;
  }

  #form(editing: Editing) {
    const creating = editing.kind === 'new';
    return html`<form
      class="wizard"
      novalidate
      aria-labelledby="schedule-form-heading"
      @submit=${(e: Event) => (e.preventDefault(), void this.#save())}
      @keydown=${(e: KeyboardEvent) => {
        if (e.key === 'Escape' && !this.saving) {
          e.preventDefault();
          this.#close('opener');
        }
      }}
    >
      ${
        creating
          ? this.#text('name', 'Name', {
              help: 'Lower-case letters, digits and "-"; it names every backup the schedule makes.',
              required: true,
            })
          : nothing
      }
      <fieldset>
        <legend>When</legend>
        ${this.#text('schedule', FIELD_LABELS.schedule, {
          help: html`Five fields, minute hour day month weekday, in UTC: <code>0 3 * * *</code> is 03:00 every
            day. Or <code>@daily</code>, <code>@hourly</code>, <code>@every 6h</code>. Start with
            <code>CRON_TZ=Europe/Paris</code> for another time zone.`,
          required: true,
          mono: true,
        })}
        <label class="check">
          <input
            id=${FIELD_IDS.paused}
            type="checkbox"
            .checked=${this.form.paused}
            @change=${(e: Event) => {
              this.form = { ...this.form, paused: (e.target as HTMLInputElement).checked };
            }}
          />
          ${FIELD_LABELS.paused}
          <span class="help">No backups are made until it is resumed.</span>
        </label>
      </fieldset>
      <fieldset>
        <legend>What to back up</legend>
        ${this.#text('includedNamespaces', FIELD_LABELS.includedNamespaces, {
          help: 'Separated by commas or spaces; patterns such as app-* too. Empty: every namespace.',
        })}
        ${this.#text('excludedNamespaces', FIELD_LABELS.excludedNamespaces, {
          help: 'Separated by commas or spaces. Empty: none left out.',
        })}
        ${this.#text('labelSelector', FIELD_LABELS.labelSelector, {
          help: html`Only objects with these labels, such as <code>app=web,tier!=db</code>. Empty: every
            object.`,
          mono: true,
        })}
      </fieldset>
      <fieldset>
        <legend>Where, and for how long</legend>
        ${this.#location()}
        ${this.#text('ttl', FIELD_LABELS.ttl, {
          help: html`A duration such as <code>720h</code> (30 days) or <code>24h30m</code>. Empty: the
            server's default.`,
          mono: true,
        })}
      </fieldset>
      ${this.#formErrors()}
      <div class="actions">
        <button type="submit" ?disabled=${this.saving}>
          ${
            creating
              ? this.saving
                ? 'Creating…'
                : 'Create schedule'
              : this.saving
                ? 'Saving…'
                : 'Save changes'
          }
        </button>
        <button
          type="button"
          class="secondary"
          ?disabled=${this.saving}
          @click=${() => this.#close('opener')}
        >
          Cancel
        </button>
      </div>
    </form>`;
  }

  /** The problems found before sending, and the server's answer: beside the form, read out when they come. */
  #formErrors() {
    return html`${
      this.problems.length > 0
        ? html`<div class="error" role="alert">
            <p>Please fix:</p>
            <ul>
              ${this.problems.map((p) => html`<li>${p}</li>`)}
            </ul>
          </div>`
        : nothing
    }
    ${
      this.formError
        ? html`<p id="schedule-form-error" class="error" role="alert">${this.formError.text}</p>`
        : nothing
    }`;
  }

  #text(field: TextField, label: string, options: { help: unknown; required?: boolean; mono?: boolean }) {
    const id = FIELD_IDS[field];
    const invalid = this.formError?.field === field;
    return html`<div class="field">
      <label for=${id}
        >${label}${options.required ? html` <span class="muted">(required)</span>` : nothing}</label
      >
      <input
        id=${id}
        class=${options.mono ? 'mono' : ''}
        autocomplete="off"
        spellcheck="false"
        ?required=${options.required ?? false}
        aria-invalid=${invalid ? 'true' : 'false'}
        aria-describedby="${id}-help${invalid ? ' schedule-form-error' : ''}"
        .value=${this.form[field]}
        @input=${(e: Event) => this.#set(field, (e.target as HTMLInputElement).value)}
      />
      <p id="${id}-help" class="help">${options.help}</p>
    </div>`;
  }

  /** The locations the user sees, as a choice; a text field when it sees none. */
  #location() {
    const locations: LocationRow[] = this.#overview.value?.locations ?? [];
    if (locations.length === 0)
      return this.#text('storageLocation', FIELD_LABELS.storageLocation, {
        help: "A BackupLocation's name. Empty: the default location.",
      });
    const id = FIELD_IDS.storageLocation;
    const current = this.form.storageLocation;
    const invalid = this.formError?.field === 'storageLocation';
    // A schedule may name a location the list lacks (gone, or not yet made): it stays a choice.
    const names = locations.map((l) => l.name);
    if (current !== '' && !names.includes(current)) names.push(current);
    const row = (name: string) => locations.find((l) => l.name === name);
    return html`<div class="field">
      <label for=${id}>${FIELD_LABELS.storageLocation}</label>
      <select
        id=${id}
        aria-invalid=${invalid ? 'true' : 'false'}
        aria-describedby="${id}-help${invalid ? ' schedule-form-error' : ''}"
        @change=${(e: Event) => this.#set('storageLocation', (e.target as HTMLSelectElement).value)}
      >
        <option value="" ?selected=${current === ''}>The default location</option>
        ${names.map((name) => {
          const l = row(name);
          const note = !l ? 'not found' : l.accessMode === 'ReadOnly' ? 'read-only' : l.phase.toLowerCase();
          return html`<option value=${name} ?selected=${name === current}>${name} (${note})</option>`;
        })}
      </select>
      <p id="${id}-help" class="help">Where the backups are written.</p>
    </div>`;
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
                <td><code class="cron">${s.schedule}</code></td>
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
              aria-label="Edit ${s.name}"
              @click=${(e: Event) => this.#open({ kind: 'edit', name: s.name }, e.currentTarget)}
            >
              Edit
            </button>`
          : nothing
      }
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

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The form field a server's "<field>: …" answer names, if it names one. */
function fieldNamed(text: string): keyof ScheduleForm | undefined {
  const field = /^(\w+):/.exec(text)?.[1];
  return field !== undefined && field in FIELD_IDS ? (field as keyof ScheduleForm) : undefined;
}

customElements.define('cairn-schedules', CairnSchedules);
