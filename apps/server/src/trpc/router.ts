import { adminRouter } from './routers/admin.js';
import { authRouter } from './routers/auth.js';
import { carePlansRouter } from './routers/carePlans.js';
import { patientsRouter } from './routers/patients.js';
import { queueRouter } from './routers/queue.js';
import { registrationRouter } from './routers/registration.js';
import { createCallerFactory, router } from './trpc.js';

export const appRouter = router({
  auth: authRouter,
  admin: adminRouter,
  queue: queueRouter,
  patients: patientsRouter,
  carePlans: carePlansRouter,
  registration: registrationRouter,
});

export type AppRouter = typeof appRouter;
export const createCaller = createCallerFactory(appRouter);
