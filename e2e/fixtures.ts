import { randomUUID } from 'node:crypto';
import { test as base, expect, type APIRequestContext, type Browser, type BrowserContext, type Page } from '@playwright/test';
import { createTRPCClient, httpLink, type TRPCClient } from '@trpc/client';
import type { AppRouter } from '@phos/server/router';

export type Role = 'Patient' | 'Provider' | 'Admin';

export interface Account {
  email: string;
  password: string;
  firstName: string;
  lastName: string;
  role: Role;
  dateOfBirth?: string;
}

export interface PersonDetails {
  firstName: string;
  lastName: string;
  email: string;
  password: string;
  dateOfBirth: string;
}

/** A person nobody else in the run shares a name or email with, so specs never see each other. */
export function uniquePerson(firstName = 'Test'): PersonDetails {
  const id = randomUUID().slice(0, 8);
  return {
    firstName,
    lastName: `E2e-${id}`,
    email: `e2e-${id}@phos.test`,
    password: `correct-horse-${id}`,
    dateOfBirth: '1984-06-15',
  };
}

export function adminCredentials(): { email: string; password: string } {
  const email = process.env.E2E_ADMIN_EMAIL;
  const password = process.env.E2E_ADMIN_PASSWORD;
  if (!email || !password) throw new Error('Set E2E_ADMIN_EMAIL and E2E_ADMIN_PASSWORD for the server under test');
  return { email, password };
}

/** The server's own API, typed by its router. */
export type Api = TRPCClient<AppRouter>;

type StorageState = Awaited<ReturnType<APIRequestContext['storageState']>>;

/**
 * A typed tRPC client whose calls go through `request`, so that request context's cookie jar carries the session
 * cookie exactly as a browser's would. Queries travel as POST, as the web app sends them (the server refuses GET).
 */
export function apiOver(request: APIRequestContext): Api {
  return createTRPCClient<AppRouter>({
    links: [
      httpLink({
        // Relative to the request context's baseURL; the client only needs a string it can append the path to.
        url: '/trpc',
        methodOverride: 'POST',
        fetch: async (url, init) => {
          const headers = Object.fromEntries(new Headers(init?.headers));
          // The server takes JSON bodies only (415 otherwise), and httpLink sends none for a call without input.
          const body = typeof init?.body === 'string' ? init.body : '{}';
          const response = await request.fetch(String(url), {
            method: init?.method ?? 'GET',
            headers: { ...headers, 'content-type': 'application/json' },
            data: body,
          });
          return new Response(await response.body(), { status: response.status(), headers: response.headers() });
        },
      }),
    ],
  });
}

/** A request context of its own (never a browser's), signed in as `account` through `auth.login`, with its typed client. */
async function signedInRequest(
  newContext: () => Promise<APIRequestContext>,
  account: { email: string; password: string },
): Promise<{ request: APIRequestContext; api: Api }> {
  const request = await newContext();
  const api = apiOver(request);
  await api.auth.login.mutate({ email: account.email, password: account.password });
  return { request, api };
}

export async function signIn(page: Page, account: { email: string; password: string }): Promise<void> {
  await page.goto('/login');
  await page.getByLabel('Email').fill(account.email);
  await page.getByRole('textbox', { name: 'Password', exact: true }).fill(account.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('button', { name: 'Sign out' })).toBeVisible();
}

export async function registerPatient(page: Page, person: PersonDetails): Promise<void> {
  await page.goto('/register');
  await page.getByLabel('First name').fill(person.firstName);
  await page.getByLabel('Last name').fill(person.lastName);
  await page.getByLabel('Date of birth').fill(person.dateOfBirth);
  await page.getByLabel('Email').fill(person.email);
  await page.getByRole('textbox', { name: 'Password', exact: true }).fill(person.password);
  await page.getByRole('button', { name: 'Register' }).click();
}

export function fullName(person: { firstName: string; lastName: string }): string {
  return `${person.firstName} ${person.lastName}`;
}

/** The page's own live indicator, not the header's. */
export function pageLive(page: Page) {
  return page.getByRole('main').getByRole('status', { name: 'Live updates' });
}

export function queueTable(page: Page) {
  return page.getByRole('table', { name: 'Patient queue' });
}

export function liveIndicator(page: Page) {
  return page.getByRole('status', { name: 'Live updates' });
}

/** Who a browser context is signed in as: an account, the configured Admin, or nobody. */
export type Person = { email: string; password: string } | 'admin' | 'anonymous';

interface Fixtures {
  /** The Admin's typed API client, signed in once per worker. */
  adminApi: Api;
  /** A fresh Provider account, created through the admin API. */
  provider: Account;
  /** Creates more accounts through the admin API. */
  createAccount: (role: Role, person?: PersonDetails) => Promise<Account>;
  /** A typed API client signed in as `account`, in a request context of its own. */
  apiAs: (account: { email: string; password: string }) => Promise<Api>;
  /**
   * A page in a browser context of its own, signed in as `who` through the API (its cookie as storage state), and open
   * on that person's home page. Each person in a multi-person spec gets one; all are closed after the test.
   */
  pageAs: (who: Person) => Promise<Page>;
}

interface WorkerFixtures {
  /** The Admin's signed-in request context, shared by the worker's tests: one argon2id sign-in per worker, not per test. */
  adminRequest: APIRequestContext;
}

/** The worker's Admin client; a long run can leave that session idle past the staff timeout, so it signs in again then. */
async function stillSignedIn(adminRequest: APIRequestContext): Promise<Api> {
  const api = apiOver(adminRequest);
  if (!(await api.auth.me.query())) await api.auth.login.mutate(adminCredentials());
  return api;
}

/**
 * Opens a context signed in with `state`, on `/`, which sends a signed-in person to their home page; without a
 * state, a blank page for someone who has no account yet.
 */
async function openPage(
  browser: Browser,
  baseURL: string | undefined,
  state: StorageState | undefined,
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ baseURL, ...(state ? { storageState: state } : {}) });
  const page = await context.newPage();
  if (state) {
    await page.goto('/');
    await expect(page.getByRole('button', { name: 'Sign out' })).toBeVisible();
  }
  return { context, page };
}

export const test = base.extend<Fixtures, WorkerFixtures>({
  adminRequest: [
    async ({ playwright }, use, workerInfo) => {
      const baseURL = workerInfo.project.use.baseURL;
      const { request } = await signedInRequest(() => playwright.request.newContext({ baseURL }), adminCredentials());
      await use(request);
      await request.dispose();
    },
    { scope: 'worker' },
  ],
  adminApi: async ({ adminRequest }, use) => {
    await use(await stillSignedIn(adminRequest));
  },
  createAccount: async ({ adminApi }, use) => {
    await use(async (role, person = uniquePerson(role)) => {
      const account: Account = {
        role,
        email: person.email,
        password: person.password,
        firstName: person.firstName,
        lastName: person.lastName,
        ...(role === 'Patient' ? { dateOfBirth: person.dateOfBirth } : {}),
      };
      await adminApi.admin.createUser.mutate(account);
      return account;
    });
  },
  provider: async ({ createAccount: create }, use) => {
    await use(await create('Provider'));
  },
  apiAs: async ({ playwright, baseURL }, use) => {
    const opened: APIRequestContext[] = [];
    await use(async (account) => {
      const { request, api } = await signedInRequest(() => playwright.request.newContext({ baseURL }), account);
      opened.push(request);
      return api;
    });
    await Promise.all(opened.map((request) => request.dispose()));
  },
  pageAs: async ({ browser, baseURL, playwright, adminRequest }, use) => {
    const contexts: BrowserContext[] = [];
    await use(async (who) => {
      let state: StorageState | undefined;
      if (who === 'admin') {
        await stillSignedIn(adminRequest);
        state = await adminRequest.storageState();
      } else if (who !== 'anonymous') {
        const { request } = await signedInRequest(() => playwright.request.newContext({ baseURL }), who);
        state = await request.storageState();
        await request.dispose();
      }
      const { context, page } = await openPage(browser, baseURL, state);
      contexts.push(context);
      return page;
    });
    await Promise.all(contexts.map((context) => context.close()));
  },
});

export { expect };
