import type { Logger } from 'pino';
import type { Db } from './db/client.js';
import type { EventHub } from './events/hub.js';
import type { SessionPolicy } from './identity/sessions.js';
import type { SignInGuard } from './identity/throttle.js';
import type { Operations } from './ops/operations.js';
import type { VisitBoard } from './queue/board.js';
// The registry of open streams is the one transport piece here: it ends SSE streams when their session ends.
import type { StreamRegistry } from './trpc/streams.js';

/** What procedures reach beyond the request: built once per process. */
export interface Services {
  db: Db;
  /** Moves committed outbox rows to the job queue now rather than on the next tick. */
  kickRelay: () => void;
  hub: EventHub;
  /** Every patient's visit, computed once per batch of queue events for all who watch their own. */
  visits: VisitBoard;
  /** Tells every api instance that events up to this id are committed. Never throws. */
  announce: (lastEventId: bigint) => void;
  log: Logger;
  /** Counts sign-in failures and registrations per account and address, across api instances. */
  signIn: SignInGuard;
  /** Idle timeouts by role and the absolute session lifetime. */
  sessionPolicy: SessionPolicy;
  /** This instance's open streams, each ended when its session ends. */
  streams: StreamRegistry;
  /** The pipeline's health and the failed registrations an Admin retries or discards. */
  operations: Operations;
  /** After sessions were deleted or their user disabled or re-roled: every api instance ends their streams now. Never throws. */
  sessionsRevoked: () => void;
}
