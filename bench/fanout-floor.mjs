// The machine's own limit for live fan-out: the CPU a bare Node HTTP server spends writing one
// event to each of N open event streams on loopback, with no framework, no tRPC and no database.
// bench/live.mjs runs it in the same run and reports Phos's cost per event per dashboard beside it.
//
//   node bench/fanout-floor.mjs [STREAMS=1000] [EVENTS=200]      prints one JSON line
import { fork } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

const self = fileURLToPath(import.meta.url);

/** A queue change's SSE block, about the size Phos sends for one (`data:` JSON, `id:`). */
function sampleBlock(id) {
  const change = {
    type: 'updated',
    entry: {
      id: '0a8c5d1e-3f0b-4c59-9d1e-6b1c0b9e2a41',
      patientId: '5f0b6a2c-8d7e-4e1a-9c3b-2a1d0e9f8c7b',
      patientName: 'Amara Okafor',
      status: 'with_clinician',
      acuity: 3,
      room: { id: 'b3c1d2e4-5f60-4a7b-8c9d-0e1f2a3b4c5d', name: 'Room 4' },
      clinician: { id: 'c4d5e6f7-0819-4a2b-9c3d-4e5f60718293', name: 'Dr Lena Hartmann' },
      arrivedAt: '2026-11-23T09:14:03.120Z',
      updatedAt: '2026-11-23T09:41:55.402Z',
      waitedMinutes: 27,
    },
  };
  return Buffer.from(`data: ${JSON.stringify(change)}\nid: ${id}\n\n`);
}

/**
 * Opens `streams` event streams from a child process, writes `events` events to all of them
 * (`spacingMs` apart, so each is its own write, as paced queue events are), and returns the
 * server's CPU per event per stream. Each stream is a chunked HTTP/1.1 response, as Phos's are.
 */
export async function measureFanoutFloor({ streams = 1000, events = 200, spacingMs = 10 } = {}) {
  const responses = [];
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
    res.flushHeaders();
    responses.push(res);
  });
  server.keepAliveTimeout = 0;
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const child = fork(self, ['--client', String(server.address().port), String(streams)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    await new Promise((resolve, reject) => {
      child.once('message', resolve);
      child.once('exit', (code) => reject(new Error(`the fan-out client exited with ${code}`)));
    });
    const before = process.cpuUsage();
    for (let i = 0; i < events; i++) {
      const block = sampleBlock(1_000_000 + i);
      for (const res of responses) res.write(block);
      await new Promise((resolve) => setTimeout(resolve, spacingMs));
    }
    const used = process.cpuUsage(before);
    const expected = streams * events * sampleBlock(1_000_000).length;
    let received = 0;
    for (const deadline = Date.now() + 30_000; received < expected && Date.now() < deadline;) {
      received = await new Promise((resolve) => {
        child.once('message', resolve);
        child.send('count');
      });
      if (received < expected) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const cpuMs = (used.user + used.system) / 1000;
    return {
      streams,
      events,
      bytes_per_event: sampleBlock(1_000_000).length,
      cpu_ms: Number(cpuMs.toFixed(1)),
      system_share: Number((used.system / (used.user + used.system)).toFixed(2)),
      cpu_ms_per_event_per_stream: Number((cpuMs / events / streams).toFixed(4)),
      client_received_all: received >= expected,
    };
  } finally {
    child.kill();
    for (const res of responses) res.destroy();
    server.close();
  }
}

async function client(port, streams) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  let bytes = 0;
  let open = 0;
  await new Promise((resolve, reject) => {
    for (let i = 0; i < streams; i++) {
      http
        .get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
          res.on('data', (chunk) => (bytes += chunk.length));
          if (++open === streams) resolve();
        })
        .on('error', reject);
    }
  });
  process.send('open');
  process.on('message', () => process.send(bytes));
}

if (process.argv[2] === '--client') {
  await client(Number(process.argv[3]), Number(process.argv[4]));
} else if (process.argv[1] === self) {
  const streams = Number(process.argv[2] ?? 1000);
  const events = Number(process.argv[3] ?? 200);
  console.log(JSON.stringify(await measureFanoutFloor({ streams, events })));
}
