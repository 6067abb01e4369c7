// <cairn-chart>: a uPlot line chart of backups over time, one line per schedule, sized to its container.
import { html, LitElement, type PropertyValues } from 'lit';
import uPlot from 'uplot';
import type { ChartData } from './chart-data.ts';
import { formatTime } from './format.ts';

/** Line colours, each at least 3:1 against the white plot (WCAG's contrast for graphics). */
const COLOURS = ['#0b57a4', '#b3261e', '#1b7a3a', '#8a3ffc', '#a85400', '#00758f', '#6b4e16', '#c2185b'];
const HEIGHT = 220;

export class CairnChart extends LitElement {
  static override properties = {
    data: { attribute: false },
    label: {},
    format: { attribute: false },
  };
  declare data: ChartData;
  /** What is drawn, for the chart's text alternative: "Duration", "Size". */
  declare label: string;
  declare format: (value: number) => string;
  #plot: uPlot | undefined;
  #resize: ResizeObserver | undefined;

  protected override createRenderRoot(): HTMLElement {
    return this;
  }

  override render() {
    return html`<div class="plot" role="img" aria-label=${this.#summary()}></div>`;
  }

  /** The chart in words, for those who cannot see it. */
  #summary(): string {
    const { x, lines, points } = this.data;
    const first = x[0];
    const last = x.at(-1);
    if (points === 0 || first === undefined || last === undefined)
      return `${this.label}: no backups to chart yet`;
    const values = lines.flatMap((l) => l.values.filter((v): v is number => v !== null));
    const range = (at: number) => formatTime(new Date(at * 1000).toISOString());
    return (
      `${this.label} of ${points} backups (${lines.map((l) => l.label).join(', ')}) from ${range(first)} ` +
      `to ${range(last)}: smallest ${this.format(Math.min(...values))}, largest ${this.format(Math.max(...values))}.`
    );
  }

  protected override updated(changed: PropertyValues<this>): void {
    if (!changed.has('data') && !changed.has('format')) return;
    const target = this.querySelector<HTMLElement>('.plot');
    if (!target) return;
    this.#plot?.destroy();
    const format = this.format;
    const value = (_: uPlot, v: number | null) => (v === null ? '—' : format(v));
    this.#plot = new uPlot(
      {
        width: Math.max(target.clientWidth, 200),
        height: HEIGHT,
        // The x values are seconds; uPlot shows them in the browser's time zone.
        series: [
          {},
          ...this.data.lines.map((line, i) => ({
            label: line.label,
            stroke: COLOURS[i % COLOURS.length] ?? '#0b57a4',
            width: 2,
            spanGaps: true,
            points: { show: true, size: 6 },
            value,
          })),
        ],
        axes: [{}, { values: (_: uPlot, splits: number[]) => splits.map(format), size: 70 }],
        scales: {
          // uPlot widens the span of a single time to years: one backup alone gets an hour either side.
          x: {
            range: (_: uPlot, min: number, max: number) => {
              const [only] = this.data.x;
              return this.data.x.length === 1 && only !== undefined ? [only - 3600, only + 3600] : [min, max];
            },
          },
          y: { range: (_: uPlot, _min: number, max: number) => [0, max > 0 ? max * 1.1 : 1] },
        },
      },
      [this.data.x, ...this.data.lines.map((l) => l.values)],
      target,
    );
  }

  override connectedCallback(): void {
    super.connectedCallback();
    // Resized in the next frame, not inside the observer's callback: resizing there would change the
    // observed size again in the same frame (the browser's "ResizeObserver loop" error).
    this.#resize = new ResizeObserver(() =>
      requestAnimationFrame(() => {
        const target = this.querySelector<HTMLElement>('.plot');
        if (this.#plot && target)
          this.#plot.setSize({ width: Math.max(target.clientWidth, 200), height: HEIGHT });
      }),
    );
    this.#resize.observe(this);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.#resize?.disconnect();
    this.#plot?.destroy();
    this.#plot = undefined;
  }
}

customElements.define('cairn-chart', CairnChart);
