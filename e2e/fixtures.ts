import { randomUUID } from 'node:crypto';
import { test as base, expect, type APIRequestContext, type Page } from '@playwright/test';

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

/** tRPC over HTTP: POST /trpc/<path> with the input as the JSON body, answer in result.data. */
export async function trpcMutation<T>(request: APIRequestContext, procedure: string, input: unknown): Promise<T> {
  const response = await request.post(`/trpc/${procedure}`, { data: input });
  const body: unknown = await response.json();
  if (!response.ok()) throw new Error(`${procedure} failed with ${response.status()}: ${JSON.stringify(body)}`);
  return (body as { result: { data: T } }).result.data;
}

/** Creates an account through the admin API, in a request context of its own (not the browser's). */
async function createAccount(request: APIRequestContext, role: Role, person = uniquePerson(role)): Promise<Account> {
  await trpcMutation(request, 'auth.login', adminCredentials());
  const account: Account = {
    role,
    email: person.email,
    password: person.password,
    firstName: person.firstName,
    lastName: person.lastName,
    ...(role === 'Patient' ? { dateOfBirth: person.dateOfBirth } : {}),
  };
  await trpcMutation(request, 'admin.createUser', account);
  return account;
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

interface Fixtures {
  /** A fresh Provider account, created through the admin API. */
  provider: Account;
  /** Creates more accounts through the admin API. */
  createAccount: (role: Role, person?: PersonDetails) => Promise<Account>;
}

export const test = base.extend<Fixtures>({
  createAccount: async ({ playwright, baseURL }, use) => {
    // Its own cookie jar, so the admin session never leaks into a browser page.
    const request = await playwright.request.newContext({ baseURL });
    await use((role, person) => createAccount(request, role, person));
    await request.dispose();
  },
  provider: async ({ createAccount: create }, use) => {
    await use(await create('Provider'));
  },
});

export { expect };
