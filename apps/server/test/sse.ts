/** Test support: reading a tRPC SSE stream over plain HTTP, as EventSource would. */

export interface ServerSentEvent {
  event: string;
  data: string;
  id: string | undefined;
}

/**
 * Reads server-sent events off a response as they come; ends when the response does. A `retry:`
 * field goes to `onRetry`; a block with nothing else dispatches nothing (as in EventSource).
 */
export async function* serverSentEvents(
  body: ReadableStream<Uint8Array>,
  onRetry: (ms: number) => void = () => undefined,
): AsyncGenerator<ServerSentEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const lines = buffer.slice(0, end).split('\n');
      buffer = buffer.slice(end + 2);
      const field = (name: string) => {
        const values = lines.filter((line) => line.startsWith(`${name}:`)).map((line) => line.slice(name.length + 1).trimStart());
        return values.length > 0 ? values.join('\n') : undefined;
      };
      const retry = field('retry');
      if (retry !== undefined) onRetry(Number(retry));
      if (field('data') === undefined && field('event') === undefined) continue;
      yield { event: field('event') ?? 'message', data: field('data') ?? '', id: field('id') };
    }
  }
}
