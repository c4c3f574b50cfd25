import { adminRouter } from './routers/admin.js';
import { apiClientsRouter } from './routers/api-clients.js';
import { auditRouter } from './routers/audit.js';
import { authRouter } from './routers/auth.js';
import { carePlansRouter } from './routers/care-plans.js';
import { notificationsRouter } from './routers/notifications.js';
import { opsRouter } from './routers/ops.js';
import { patientsRouter } from './routers/patients.js';
import { queueRouter } from './routers/queue.js';
import { registrantRouter } from './routers/registrant.js';
import { visitRouter } from './routers/visit.js';
import { createCallerFactory, router } from './trpc.js';

export const appRouter = router({
  auth: authRouter,
  admin: adminRouter,
  /** System clients of the FHIR API, for Admins. */
  apiClients: apiClientsRouter,
  queue: queueRouter,
  patients: patientsRouter,
  carePlans: carePlansRouter,
  notifications: notificationsRouter,
  /** The registrant's own status: whether their patient record exists yet (registering itself is `auth.register`). */
  registrant: registrantRouter,
  visit: visitRouter,
  audit: auditRouter,
  ops: opsRouter,
});

export type AppRouter = typeof appRouter;
export const createCaller = createCallerFactory(appRouter);
