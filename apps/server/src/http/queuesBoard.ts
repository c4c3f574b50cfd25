import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { User } from '@phos/shared';

type App = FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>;

export const QUEUES_BOARD_PATH = '/admin/queues';

/**
 * BullMQ's own view of the job queues (`@bull-board/fastify`), for an Admin signed in to Phos:
 * the raw view beside the Operations page. Read-only: a retry or a removal goes through Phos,
 * where it is checked and recorded. Job data holds ids only, and failure reasons are redacted
 * before BullMQ stores them, so the board shows no patient's data.
 */
export async function mountQueuesBoard(
  app: App,
  options: { queues: readonly Queue[]; userOf: (request: FastifyRequest) => Promise<User | null> },
): Promise<void> {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(QUEUES_BOARD_PATH);
  createBullBoard({
    queues: options.queues.map((queue) => new BullMQAdapter(queue, { readOnlyMode: true })),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Phos queues' } },
  });
  await app.register(
    async (board) => {
      board.addHook('onRequest', async (request, reply) => {
        const user = await options.userOf(request);
        if (user?.role !== 'Admin') await reply.code(user ? 403 : 401).send({ error: { message: 'Admins only' } });
      });
      // The board's page names its scripts relative to a <base> element, which Phos's policy refuses elsewhere.
      board.addHook('onSend', async (_request, reply, payload) => {
        const policy = reply.getHeader('content-security-policy');
        if (typeof policy === 'string') void reply.header('content-security-policy', policy.replace("base-uri 'none'", "base-uri 'self'"));
        return payload;
      });
      await board.register(serverAdapter.registerPlugin());
    },
    { prefix: QUEUES_BOARD_PATH },
  );
}
