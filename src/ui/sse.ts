// A Server-Sent Events parser (the WHATWG "event stream interpretation") for text that arrives in pieces.
// The dashboard reads /ui/api/events with fetch rather than EventSource, because EventSource cannot send
// an Authorization header and the token must never travel in a URL. Pure (no DOM).

export interface ServerSentEvent {
  /** The `event:` field; "message" when the event has none. */
  event: string;
  /** The `data:` lines, joined with "\n". */
  data: string;
  /** The `id:` field, when the event set one. */
  id?: string;
}

export class SseParser {
  #buffer = '';
  /** A chunk ended in "\r": a "\n" starting the next one belongs to the same line break. */
  #afterCr = false;
  #event = '';
  #data: string[] = [];
  #id: string | undefined;

  /** Takes the next piece of the stream; returns the events it completed, in order. */
  push(chunk: string): ServerSentEvent[] {
    let text = chunk;
    if (this.#afterCr && text.startsWith('\n')) text = text.slice(1);
    this.#afterCr = text.endsWith('\r');
    this.#buffer += text;
    const lines = this.#buffer.split(/\r\n|\r|\n/);
    // The last piece has no line break yet: keep it for the next chunk.
    this.#buffer = lines.pop() ?? '';
    const events: ServerSentEvent[] = [];
    for (const line of lines) {
      const event = this.#line(line);
      if (event) events.push(event);
    }
    return events;
  }

  #line(line: string): ServerSentEvent | undefined {
    if (line === '') return this.#dispatch();
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.#event = value;
    else if (field === 'data') this.#data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.#id = value;
    // `retry:` and unknown fields are ignored: the reader's own back-off decides when to reconnect.
    return undefined;
  }

  #dispatch(): ServerSentEvent | undefined {
    const data = this.#data;
    const event = this.#event || 'message';
    this.#data = [];
    this.#event = '';
    // An event without data lines is not dispatched (the spec's rule).
    if (data.length === 0) return undefined;
    return this.#id === undefined
      ? { event, data: data.join('\n') }
      : { event, data: data.join('\n'), id: this.#id };
  }
}
