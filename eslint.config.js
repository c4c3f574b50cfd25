import path from 'node:path';
import js from '@eslint/js';
import boundaries from 'eslint-plugin-boundaries';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const server = 'apps/server/src';

/**
 * The server's modules, and what each may import (docs/decisions/011-module-seams.md). Domains sit
 * on db and the shared kernel; identity knows nothing of patients or the queue; only the edges
 * (jobs, trpc, app, http, the entry points) compose several domains.
 */
const serverModules = {
  kernel: [],
  env: [],
  db: ['kernel'],
  redis: ['kernel'],
  outbox: ['db', 'kernel'],
  events: ['db', 'kernel'],
  identity: ['db', 'outbox', 'kernel'],
  patients: ['db', 'outbox', 'kernel'],
  // events: the visit board (queue/board.ts) listens to the process's event hub.
  queue: ['db', 'events', 'kernel'],
  'care-plans': ['db', 'kernel'],
  notifications: ['db', 'events', 'kernel'],
  audit: ['db', 'redis', 'env', 'kernel'],
  // fhir: the bulk export worker (jobs/exports.ts) runs fhir/export.ts.
  jobs: ['db', 'redis', 'outbox', 'events', 'identity', 'patients', 'queue', 'notifications', 'fhir', 'kernel'],
  // FHIR R4: maps the domains' tables to resources and reads them for a session or a system client.
  fhir: ['db', 'outbox', 'events', 'identity', 'patients', 'queue', 'care-plans', 'audit', 'kernel'],
  // Metrics read the pipeline (outbox, queues, event consumers) and time requests; nothing imports
  // ops but the edges that serve it.
  ops: ['db', 'outbox', 'events', 'jobs', 'kernel'],
  // The process-wide services; the one transport type it names is the open-streams registry.
  services: ['db', 'events', 'identity', 'queue', 'ops', 'trpc', 'kernel'],
  trpc: ['db', 'events', 'identity', 'patients', 'queue', 'care-plans', 'notifications', 'audit', 'ops', 'services', 'kernel'],
  app: ['db', 'redis', 'outbox', 'events', 'identity', 'queue', 'jobs', 'ops', 'trpc', 'services', 'kernel'],
  http: ['app', 'trpc', 'identity', 'fhir', 'ops', 'env', 'kernel'],
  entry: ['app', 'http', 'identity', 'patients', 'ops', 'env', 'kernel'],
};
/** The modules that are single files at the root of src/ (the plugin's elements are folders). */
const singleFiles = {
  kernel: ['errors.ts', 'coalesce.ts', 'data-dir.ts', 'logging.ts', 'shutdown.ts', 'trace-context.ts'],
  env: ['env.ts'],
  services: ['services.ts'],
  app: ['app.ts'],
  entry: ['main.ts', 'seed.ts'],
};
/** Selects a module, a folder element or a root file alike. */
const moduleSelector = (name) => (singleFiles[name] ? { file: { categories: name } } : { element: { type: name } });

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'drizzle/**', '**/test-results/**', '**/playwright-report/**', 'bench/**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
      globals: { ...globals.node },
    },
    rules: {
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
    },
  },
  {
    files: ['apps/web/**/*.{ts,tsx}'],
    languageOptions: { globals: { ...globals.browser } },
    plugins: { 'react-hooks': reactHooks },
    rules: reactHooks.configs.recommended.rules,
  },
  {
    files: [`${server}/**/*.ts`],
    plugins: { boundaries },
    settings: {
      'import/resolver': { [path.resolve(import.meta.dirname, 'tools/eslint-resolve-ts.cjs')]: {}, node: {} },
      // Patterns below are from the repository root, whatever directory ESLint (or the editor) runs in.
      'boundaries/root-path': import.meta.dirname,
      'boundaries/include': [`${server}/**/*.ts`],
      'boundaries/elements': Object.keys(serverModules)
        .filter((type) => !singleFiles[type])
        .map((type) => ({ type, pattern: `${server}/${type}` })),
      'boundaries/files': Object.entries(singleFiles).flatMap(([category, files]) =>
        files.map((file) => ({ category, pattern: `${server}/${file}` })),
      ),
    },
    rules: {
      'boundaries/no-unknown-files': 'error',
      'boundaries/dependencies': [
        'error',
        {
          default: 'disallow',
          policies: Object.entries(serverModules).map(([name, allowed]) => ({
            from: moduleSelector(name),
            allow: [name, ...allowed].map((target) => ({ to: moduleSelector(target) })),
          })),
        },
      ],
      // Configuration is parsed once, with its field errors, in env.ts.
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'Read configuration through env.ts (loadEnv), not process.env.' },
      ],
    },
  },
  {
    files: [`${server}/env.ts`],
    rules: { 'no-restricted-properties': 'off' },
  },
  {
    files: ['**/*.test.ts', 'e2e/**/*.ts', 'apps/server/test/**/*.ts', 'apps/server/faults/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['eslint.config.js', '**/*.mjs', 'tools/**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // An import/resolver is loaded with require().
    files: ['tools/**/*.cjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
