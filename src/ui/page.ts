// What every page shares: the API client and session it is given, the kinds of change that make it re-read,
// a loader that keeps the last answer on screen while a newer one comes, and small bits of markup.
import {
  html,
  LitElement,
  nothing,
  type PropertyDeclarations,
  type ReactiveController,
  type ReactiveControllerHost,
} from 'lit';
import type { DashboardChange, DashboardSession, ScheduleRow } from '../api/index.ts';
import type { DashboardApi } from './api.ts';

/**
 * A page of the dashboard. Pages render into the light DOM, not a shadow root: one stylesheet
 * (styles.css) then styles every table and form alike, and the browser's find-in-page sees all text.
 */
export abstract class PageElement extends LitElement {
  // Typed as Lit's own type, so that each page can declare properties of its own (Lit merges them).
  static override properties: PropertyDeclarations = {
    api: { attribute: false },
    session: { attribute: false },
  };
  declare api: DashboardApi;
  declare session: DashboardSession;

  /** Whether a change seen on the event stream concerns what this page shows. */
  abstract watches(change: DashboardChange): boolean;
  /** Re-reads what the page shows (after a change, or a reconnect of the event stream). */
  abstract refresh(): void;

  protected override createRenderRoot(): HTMLElement {
    return this;
  }
}

/**
 * One answer of the API the host renders: loaded on reload(), kept while the next one loads (so a live
 * update does not blank the page), and its error text kept beside it. A newer reload aborts an older one.
 */
export class Loader<T> implements ReactiveController {
  value: T | undefined;
  error: string | undefined;
  loading = false;
  readonly #host: ReactiveControllerHost;
  readonly #load: (signal: AbortSignal) => Promise<T>;
  #abort: AbortController | undefined;

  constructor(host: ReactiveControllerHost, load: (signal: AbortSignal) => Promise<T>) {
    this.#host = host;
    this.#load = load;
    host.addController(this);
  }

  reload(): void {
    this.#abort?.abort();
    const abort = new AbortController();
    this.#abort = abort;
    this.loading = true;
    this.#host.requestUpdate();
    this.#load(abort.signal).then(
      (value) => {
        if (abort.signal.aborted) return;
        this.value = value;
        this.error = undefined;
        this.loading = false;
        this.#host.requestUpdate();
      },
      (error: unknown) => {
        if (abort.signal.aborted) return;
        this.error = error instanceof Error ? error.message : String(error);
        this.loading = false;
        this.#host.requestUpdate();
      },
    );
  }

  /** Forgets the last answer: the next render shows "Loading" (a page that now shows another thing). */
  clear(): void {
    this.value = undefined;
    this.error = undefined;
  }

  hostDisconnected(): void {
    this.#abort?.abort();
  }
}

/** The state of a loader as the page's text: loading, or the error, or nothing when it has a value. */
export function loadState(loader: Loader<unknown>, what: string) {
  if (loader.error !== undefined)
    return html`<p class="error" role="alert">Could not load ${what}: ${loader.error}</p>`;
  if (loader.value === undefined) return html`<p class="muted" role="status">Loading ${what}…</p>`;
  return nothing;
}

const PHASE_TONE: Record<string, string> = {
  Completed: 'ok',
  PartiallyFailed: 'warn',
  Failed: 'bad',
  FailedValidation: 'bad',
  InProgress: 'info',
  New: 'neutral',
  Deleting: 'neutral',
  Available: 'ok',
  Unavailable: 'bad',
  Unknown: 'neutral',
};

/** A phase (of a backup, restore or location) as a badge: its name in words, the colour only repeating it. */
export function phaseBadge(phase: string) {
  return html`<span class="badge ${PHASE_TONE[phase] ?? 'neutral'}">${phase}</span>`;
}

/** Wraps a wide table so that it scrolls sideways on a narrow screen, reachable by keyboard. */
export function scrollRegion(label: string, content: unknown) {
  return html`<div class="scroll" role="region" aria-label=${label} tabindex="0">${content}</div>`;
}

/** A schedule's health in words (the row's red only repeats it). */
export function healthText(schedule: ScheduleRow) {
  if (!schedule.healthy)
    return html`<span class="badge bad">Unhealthy</span>
      ${schedule.problem ? html`<span class="problem">${schedule.problem}</span>` : nothing}`;
  return html`<span class="badge ok">Healthy</span>${
      schedule.paused ? html` <span class="badge neutral">Paused</span>` : nothing
    }`;
}
