// <cairn-sign-in>: asks for a bearer token when the server answered 401 (the page was opened without
// `cairn dashboard`'s proxy, which would have signed the requests itself). Fires `sign-in` with the token.
import { html, LitElement, nothing } from 'lit';

export class CairnSignIn extends LitElement {
  static override properties = { problem: { attribute: false } };
  /** Why the last token was refused, if it was. */
  declare problem: string | undefined;

  protected override createRenderRoot(): HTMLElement {
    return this;
  }

  #submit(event: SubmitEvent): void {
    event.preventDefault();
    const input = this.querySelector<HTMLInputElement>('#token');
    const token = input?.value.trim() ?? '';
    if (token === '') {
      input?.focus();
      return;
    }
    this.dispatchEvent(new CustomEvent<string>('sign-in', { detail: token, bubbles: true }));
  }

  override render() {
    return html`
      <h1>Sign in</h1>
      <p>
        The Cairn server acts with your Kubernetes identity: it shows and does only what your token may do in
        the cluster.
      </p>
      ${this.problem ? html`<p class="error" role="alert">${this.problem}</p>` : nothing}
      <form class="sign-in" @submit=${(e: SubmitEvent) => this.#submit(e)}>
        <div class="field">
          <label for="token">Bearer token</label>
          <input
            id="token"
            type="password"
            autocomplete="off"
            spellcheck="false"
            required
            aria-describedby="token-help"
          />
          <p id="token-help" class="help">
            A token of your user or ServiceAccount, for example from
            <code>kubectl create token &lt;service-account&gt;</code>. It is kept in this tab only, and sent
            to the Cairn server alone. Or run <code>cairn dashboard</code>, which signs in with your
            kubeconfig.
          </p>
        </div>
        <button type="submit">Sign in</button>
      </form>
    `;
  }
}

customElements.define('cairn-sign-in', CairnSignIn);
