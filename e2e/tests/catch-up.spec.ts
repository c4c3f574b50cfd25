import { expect, liveIndicator, queueTable, test } from '../fixtures';

test('the dashboard catches up on arrivals it missed while the clinician was on a patient page', async ({
  pageAs,
  provider,
  createAccount,
}) => {
  const first = await createAccount('Patient');
  const page = await pageAs(provider);
  await expect(liveIndicator(page)).toHaveText('Live');
  await queueTable(page)
    .getByRole('link', { name: `${first.firstName} ${first.lastName}` })
    .click();
  await expect(page.getByRole('heading', { name: `${first.firstName} ${first.lastName}` })).toBeVisible();

  // Arrives while no subscription is open; the dashboard resumes from the last event it applied.
  const second = await createAccount('Patient');
  await page.getByRole('link', { name: /Back to the queue/ }).click();
  await expect(liveIndicator(page)).toHaveText('Live');
  const links = queueTable(page).getByRole('link');
  await expect(links.filter({ hasText: `${second.firstName} ${second.lastName}` })).toHaveCount(1);
  await expect(links.filter({ hasText: `${first.firstName} ${first.lastName}` })).toHaveCount(1);
});
