// The dashboard's entry (index.html loads it): its styles, its elements, and a last resort for errors
// that escape every page, so that the page says what went wrong instead of going blank.
import 'uplot/dist/uPlot.min.css';
import './styles.css';
import './app.ts';
import type { CairnApp } from './app.ts';

function showFailure(message: string): void {
  const app = document.querySelector<CairnApp>('cairn-app');
  if (app) app.showFailure(message);
}

// Only errors thrown by code: the browser also reports notices (a ResizeObserver loop) with no error.
window.addEventListener('error', (event) => {
  if (event.error !== null && event.error !== undefined) showFailure(event.message);
});
window.addEventListener('unhandledrejection', (event: PromiseRejectionEvent) => {
  const reason: unknown = event.reason;
  showFailure(reason instanceof Error ? reason.message : String(reason));
});
