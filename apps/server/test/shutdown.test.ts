import { Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createShutdown } from '../src/shutdown.js';

function recordingLogger() {
  const lines: { level: number; msg: string; step?: string }[] = [];
  const log = pino(
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as (typeof lines)[number]);
        done();
      },
    }),
  );
  return { log, lines };
}

describe('shutdown steps', () => {
  it('run once, in reverse order, past a failing step, and name a step that is slow', async () => {
    const { log, lines } = recordingLogger();
    const shutdown = createShutdown(log, 20);
    const ran: string[] = [];
    shutdown.add('database', () => ran.push('database'));
    shutdown.add('relay', () => {
      ran.push('relay');
      throw new Error('relay would not stop');
    });
    shutdown.add('workers', async () => {
      ran.push('workers');
      await delay(200);
    });

    await shutdown.run();
    await shutdown.run();

    expect(ran).toEqual(['workers', 'relay', 'database']);
    expect(lines.filter((line) => line.level === 40).map((line) => line.step)).toEqual(['workers']);
    expect(lines.filter((line) => line.level === 50).map((line) => [line.step, line.msg])).toEqual([['relay', 'shutdown step failed']]);
  });
});
