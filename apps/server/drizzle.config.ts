import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: ['./src/identity/schema.ts', './src/events/schema.ts', './src/patients/schema.ts', './src/queue/schema.ts'],
  out: '../../drizzle',
});
