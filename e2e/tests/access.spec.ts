import { expect, registerPatient, test, uniquePerson } from '../fixtures';

test('a signed-out visitor is sent to sign in', async ({ page }) => {
  await page.goto('/dashboard');
  await expect(page).toHaveURL(/\/login\?from=%2Fdashboard$/);
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeVisible();
});

test('a Patient cannot open the dashboard, the admin page or the queue API', async ({ page }) => {
  await registerPatient(page, uniquePerson('Pat'));
  await expect(page).toHaveURL(/\/me$/);

  await page.goto('/dashboard');
  await expect(page.getByRole('heading', { name: 'Not allowed' })).toBeVisible();
  await expect(page.getByRole('table', { name: 'Patient queue' })).toHaveCount(0);

  await page.goto('/admin');
  await expect(page.getByRole('heading', { name: 'Not allowed' })).toBeVisible();

  // The server denies it too, not only the page.
  const response = await page.request.post('/trpc/queue.list', { data: {} });
  expect(response.status()).toBe(403);
});
