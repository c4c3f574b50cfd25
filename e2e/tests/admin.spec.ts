import type { Page } from '@playwright/test';
import { expect, liveIndicator, queueTable, test as base, uniquePerson } from '../fixtures';

/** Every test here starts as the Admin. */
const test = base.extend<{ page: Page }>({
  page: async ({ pageAs }, use) => {
    await use(await pageAs('admin'));
  },
});

test.describe('administration', () => {
  test.beforeEach(async ({ page }) => {
    await page.getByRole('link', { name: 'Administration' }).click();
    await expect(page.getByRole('heading', { name: 'Create an account' })).toBeVisible();
  });

  test('an admin creates a Provider who can then sign in to the dashboard', async ({ page, pageAs }) => {
    const person = uniquePerson('Grace');
    await page.getByLabel('First name').fill(person.firstName);
    await page.getByLabel('Last name').fill(person.lastName);
    await page.getByLabel('Email').fill(person.email);
    await page.getByRole('textbox', { name: 'Password', exact: true }).fill(person.password);
    await page.getByLabel('Role').selectOption('Provider');
    await page.getByRole('button', { name: 'Create account' }).click();
    await expect(page.getByRole('status').filter({ hasText: 'Account created' })).toContainText(`${person.firstName} ${person.lastName}`);

    // Signed in through the API: the sign-in form itself is session.spec.ts's subject.
    const provider = await pageAs(person);
    await expect(provider).toHaveURL(/\/dashboard$/);
    await expect(queueTable(provider)).toBeVisible();
    await expect(provider.getByText('Provider', { exact: true })).toBeVisible();
  });

  test('an admin creates a Patient who then appears in the queue', async ({ page }) => {
    const person = uniquePerson('Alan');
    await page.getByLabel('Role').selectOption('Patient');
    await page.getByLabel('First name').fill(person.firstName);
    await page.getByLabel('Last name').fill(person.lastName);
    await page.getByLabel('Email').fill(person.email);
    await page.getByRole('textbox', { name: 'Password', exact: true }).fill(person.password);
    await page.getByLabel('Date of birth').fill(person.dateOfBirth);
    await page.getByRole('button', { name: 'Create account' }).click();
    await expect(page.getByRole('status').filter({ hasText: 'Account created' })).toBeVisible();

    await page.getByRole('link', { name: 'Patient queue' }).click();
    await expect(liveIndicator(page)).toHaveText('Live');
    await expect(queueTable(page).getByRole('link', { name: `${person.firstName} ${person.lastName}` })).toBeVisible();
  });

  test('a Patient account needs a date of birth', async ({ page }) => {
    const person = uniquePerson('NoBirth');
    await page.getByLabel('Role').selectOption('Patient');
    await page.getByLabel('First name').fill(person.firstName);
    await page.getByLabel('Last name').fill(person.lastName);
    await page.getByLabel('Email').fill(person.email);
    await page.getByRole('textbox', { name: 'Password', exact: true }).fill(person.password);
    await page.getByRole('button', { name: 'Create account' }).click();
    await expect(page.getByText('Required for a Patient').last()).toBeVisible();
    await expect(page.getByLabel('Date of birth')).toHaveAttribute('aria-invalid', 'true');
  });
});
