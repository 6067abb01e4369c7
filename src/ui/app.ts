// <cairn-app>: the dashboard's shell. Finds out who is looking (GET /ui/api/session: first without a token,
// which works behind `cairn dashboard`'s proxy; on 401 it asks for a bearer token, kept for the tab's life
// in sessionStorage), shows the page of the hash route, and follows the event stream so that each page
// re-reads what it shows when something it shows changes.
import { html, LitElement, nothing, type TemplateResult } from 'lit';
import type { DashboardChange, DashboardSession } from '../api/index.ts';
import { ApiError, DashboardApi } from './api.ts';
import { followEvents, type LiveStatus } from './live.ts';
import { PageElement } from './page.ts';
import './pages/backup-detail.ts';
import './pages/backups.ts';
import './pages/locations.ts';
import './pages/overview.ts';
import './pages/restore-progress.ts';
import './pages/restore.ts';
import './pages/schedules.ts';
import { hrefOf, parseRoute, type Route } from './routes.ts';
import './sign-in.ts';

const TOKEN_KEY = 'cairn.dashboard.token';
/** Changes come in bursts (a backup's status is patched many times): one re-read per burst. */
const REFRESH_DELAY_MS = 300;
/** Ages ("3m") on the page are redrawn this often. */
const CLOCK_MS = 30_000;

type Phase =
  | { name: 'starting' }
  | { name: 'signed-in'; session: DashboardSession }
  | { name: 'sign-in'; problem?: string }
  | { name: 'unreachable'; problem: string };

const LIVE_TEXT: Record<LiveStatus, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  retrying: 'Reconnecting…',
  unauthorized: 'Signed out',
};

const NAV: { label: string; route: Route; pages: Route['page'][] }[] = [
  { label: 'Overview', route: { page: 'overview' }, pages: ['overview'] },
  { label: 'Backups', route: { page: 'backups', filter: {} }, pages: ['backups', 'backup'] },
  { label: 'Restore', route: { page: 'restore' }, pages: ['restore', 'restore-progress'] },
  { label: 'Schedules', route: { page: 'schedules' }, pages: ['schedules'] },
  { label: 'Locations', route: { page: 'locations' }, pages: ['locations'] },
];

function titleOf(route: Route): string {
  switch (route.page) {
    case 'overview':
      return 'Overview';
    case 'backups':
      return 'Backups';
    case 'backup':
      return `Backup ${route.name}`;
    case 'restore':
      return 'Restore';
    case 'restore-progress':
      return `Restore ${route.name}`;
    case 'schedules':
      return 'Schedules';
    case 'locations':
      return 'Locations';
    case 'not-found':
      return 'Not found';
  }
}

export class CairnApp extends LitElement {
  static override properties = {
    route: { state: true },
    phase: { state: true },
    live: { state: true },
    failure: { state: true },
  };
  declare route: Route;
  declare phase: Phase;
  declare live: LiveStatus | undefined;
  /** An error nothing else caught: shown above the page rather than leaving it blank. */
  declare failure: string | undefined;
  #token: string | undefined;
  readonly #api: DashboardApi;
  #following: AbortController | undefined;
  #refreshTimer: ReturnType<typeof setTimeout> | undefined;
  #clock: ReturnType<typeof setInterval> | undefined;
  /** The first page shown keeps the browser's focus where it is; later ones move it to the new page. */
  #navigated = false;

  constructor() {
    super();
    this.route = parseRoute(location.hash);
    this.phase = { name: 'starting' };
    this.#token = sessionStorage.getItem(TOKEN_KEY) ?? undefined;
    this.#api = new DashboardApi({
      base: `${import.meta.env.BASE_URL}api/`,
      token: () => this.#token,
      onUnauthorized: () => this.#unauthorized(),
    });
  }

  protected override createRenderRoot(): HTMLElement {
    return this;
  }

  readonly #onHashChange = () => {
    this.route = parseRoute(location.hash);
    this.#navigated = true;
  };

  override connectedCallback(): void {
    super.connectedCallback();
    window.addEventListener('hashchange', this.#onHashChange);
    this.#clock = setInterval(() => this.#page()?.requestUpdate(), CLOCK_MS);
    void this.#start();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    window.removeEventListener('hashchange', this.#onHashChange);
    clearInterval(this.#clock);
    this.#stopFollowing();
  }

  /** Shows an error that escaped every page (index.ts hands over the window's error events). */
  showFailure(message: string): void {
    this.failure = message;
  }

  async #start(): Promise<void> {
    this.#stopFollowing();
    try {
      const session = await this.#api.session();
      this.phase = { name: 'signed-in', session };
      this.#follow();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        const hadToken = this.#token !== undefined;
        this.#forgetToken();
        this.phase = {
          name: 'sign-in',
          ...(hadToken ? { problem: `The token was not accepted: ${error.message}` } : {}),
        };
      } else {
        this.phase = { name: 'unreachable', problem: error instanceof Error ? error.message : String(error) };
      }
    }
  }

  #unauthorized(): void {
    if (this.phase.name !== 'signed-in') return;
    this.#stopFollowing();
    this.#forgetToken();
    this.phase = { name: 'sign-in', problem: 'Your token is no longer accepted: sign in again.' };
  }

  #signIn(token: string): void {
    this.#token = token;
    sessionStorage.setItem(TOKEN_KEY, token);
    this.phase = { name: 'starting' };
    void this.#start();
  }

  #signOut(): void {
    this.#stopFollowing();
    this.#forgetToken();
    this.phase = { name: 'sign-in' };
  }

  #forgetToken(): void {
    this.#token = undefined;
    sessionStorage.removeItem(TOKEN_KEY);
  }

  #follow(): void {
    const following = new AbortController();
    this.#following = following;
    let wasLive = false;
    void followEvents({
      url: this.#api.url('events'),
      headers: () => this.#api.headers(),
      signal: following.signal,
      onChange: (change) => this.#changed(change),
      onStatus: (status) => {
        this.live = status;
        // Back after a gap: whatever changed meanwhile was not seen, so read the page afresh.
        if (status === 'live' && wasLive) this.#refreshSoon();
        if (status === 'live') wasLive = true;
        if (status === 'unauthorized') void this.#start();
      },
    });
  }

  #stopFollowing(): void {
    this.#following?.abort();
    this.#following = undefined;
    this.live = undefined;
  }

  #page(): PageElement | undefined {
    const page = this.querySelector('main')?.firstElementChild;
    return page instanceof PageElement ? page : undefined;
  }

  #changed(change: DashboardChange): void {
    if (this.#page()?.watches(change)) this.#refreshSoon();
  }

  #refreshSoon(): void {
    if (this.#refreshTimer !== undefined) return;
    this.#refreshTimer = setTimeout(() => {
      this.#refreshTimer = undefined;
      this.#page()?.refresh();
    }, REFRESH_DELAY_MS);
  }

  protected override updated(): void {
    document.title = `${this.phase.name === 'signed-in' ? titleOf(this.route) : 'Sign in'} — Cairn`;
    if (this.#navigated) {
      this.#navigated = false;
      this.querySelector<HTMLElement>('main')?.focus();
    }
  }

  override render() {
    const session = this.phase.name === 'signed-in' ? this.phase.session : undefined;
    return html`
      <a
        class="skip"
        href="#main"
        @click=${(e: Event) => {
          // The hash is the router's: move focus without navigating.
          e.preventDefault();
          this.querySelector<HTMLElement>('main')?.focus();
        }}
        >Skip to the page</a
      >
      <header class="top">
        <a class="brand" href=${hrefOf({ page: 'overview' })}>Cairn</a>
        ${session ? this.#nav(session) : nothing} ${session ? this.#who(session) : nothing}
      </header>
      ${
        this.failure
          ? html`<div class="banner error" role="alert">
              Something went wrong: ${this.failure}
              <button type="button" class="secondary" @click=${() => (this.failure = undefined)}>
                Dismiss
              </button>
            </div>`
          : nothing
      }
      <main id="main" tabindex="-1">${this.#main(session)}</main>
    `;
  }

  #nav(session: DashboardSession) {
    const items = NAV.filter((item) => item.route.page !== 'restore' || session.can.createRestore);
    return html`<nav aria-label="Main">
      <ul>
        ${items.map(
          (item) =>
            html`<li>
              <a
                href=${hrefOf(item.route)}
                aria-current=${item.pages.includes(this.route.page) ? 'page' : 'false'}
                >${item.label}</a
              >
            </li>`,
        )}
      </ul>
    </nav>`;
  }

  #who(session: DashboardSession) {
    return html`<div class="who">
      <span
        >${session.user}${session.namespaces ? ` · namespaces: ${session.namespaces.join(', ')}` : ''}</span
      >
      ${this.live ? html`<span class="live ${this.live}" role="status">${LIVE_TEXT[this.live]}</span>` : nothing}
      ${
        this.#token !== undefined
          ? html`<button type="button" class="link" @click=${() => this.#signOut()}>Sign out</button>`
          : nothing
      }
    </div>`;
  }

  #main(session: DashboardSession | undefined): TemplateResult {
    switch (this.phase.name) {
      case 'starting':
        return html`<p class="muted" role="status">Connecting to the Cairn server…</p>`;
      case 'unreachable':
        return html`<h1>Cannot reach the Cairn server</h1>
          <p class="error" role="alert">${this.phase.problem}</p>
          <button type="button" @click=${() => void this.#start()}>Try again</button>`;
      case 'sign-in':
        return html`<cairn-sign-in
          .problem=${this.phase.problem}
          @sign-in=${(e: CustomEvent<string>) => this.#signIn(e.detail)}
        ></cairn-sign-in>`;
      case 'signed-in':
        return session ? this.#pageOf(this.route, session) : html``;
    }
  }

  #pageOf(route: Route, session: DashboardSession): TemplateResult {
    const api = this.#api;
    switch (route.page) {
      case 'overview':
        return html`<cairn-overview .api=${api} .session=${session}></cairn-overview>`;
      case 'backups':
        return html`<cairn-backups .api=${api} .session=${session} .filter=${route.filter}></cairn-backups>`;
      case 'backup':
        return html`<cairn-backup-detail
          .api=${api}
          .session=${session}
          .name=${route.name}
        ></cairn-backup-detail>`;
      case 'restore':
        return html`<cairn-restore .api=${api} .session=${session} .backup=${route.backup}></cairn-restore>`;
      case 'restore-progress':
        return html`<cairn-restore-progress
          .api=${api}
          .session=${session}
          .name=${route.name}
        ></cairn-restore-progress>`;
      case 'schedules':
        return html`<cairn-schedules .api=${api} .session=${session}></cairn-schedules>`;
      case 'locations':
        return html`<cairn-locations .api=${api} .session=${session}></cairn-locations>`;
      case 'not-found':
        return html`<h1>Not found</h1>
          <p>There is no page at <code>${route.path}</code>.</p>
          <p><a href=${hrefOf({ page: 'overview' })}>Go to the overview</a></p>`;
    }
  }
}

customElements.define('cairn-app', CairnApp);
