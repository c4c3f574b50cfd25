// The one spec that signs in through the form throughout: the others sign in through the API (fixtures.ts `pageAs`).
import { expect, fullName, pageLive, queueTable, signIn, test } from '../fixtures';

test('an idle session is warned a minute ahead, kept by "Stay signed in", then signed out with nothing left on screen', async ({
  page,
  provider,
  createAccount,
}) => {
  const patient = await createAccount('Patient');
  // The browser's clock, not the server's: the app times the idle sign-out itself.
  await page.clock.install();
  await signIn(page, provider);
  await page.goto(`/dashboard?q=${encodeURIComponent(patient.lastName)}`);
  await expect(pageLive(page)).toHaveText('Live');
  const row = queueTable(page).getByRole('link', { name: fullName(patient) });
  await expect(row).toBeVisible();

  // Staff idle out after 15 minutes; the warning comes a minute before the app signs out.
  await page.clock.fastForward('14:00');
  const warning = page.getByRole('dialog', { name: 'Are you still there?' });
  await expect(warning).toBeVisible();
  await expect(warning).toContainText(/You will be signed out in 0:\d\d/);
  await expect(warning.getByRole('button', { name: 'Stay signed in' })).toBeFocused();
  await warning.getByRole('button', { name: 'Stay signed in' }).click();
  await expect(warning).toBeHidden();

  // Kept: just short of the new deadline the warning is back, but the dashboard is still there.
  await page.clock.fastForward('14:00');
  await expect(warning).toBeVisible();
  await expect(page).toHaveURL(/\/dashboard/);
  await expect(row).toBeVisible();

  // Past it, the app signs out by itself.
  await page.clock.fastForward('01:00');
  await expect(page).toHaveURL(/\/login/);
  await expect(page.getByRole('status').filter({ hasText: 'Signed out' })).toContainText(
    'You were signed out after 15 minutes without activity',
  );
  await expect(page.getByText(fullName(patient))).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Sign out' })).toHaveCount(0);

  // The session is over on the server too: the dashboard sends to sign-in, it shows nothing cached.
  await page.goto('/dashboard');
  await expect(page).toHaveURL(/\/login\?from=%2Fdashboard$/);
  await expect(page.getByText(patient.lastName)).toHaveCount(0);
});

test("an Admin disabling an account ends that clinician's open dashboard; re-enabled, they sign in again", async ({
  page,
  pageAs,
  provider,
}) => {
  await signIn(page, provider);
  await expect(pageLive(page)).toHaveText('Live');
  await expect(queueTable(page)).toBeVisible();

  const admin = await pageAs('admin');
  await admin.goto('/admin/accounts');
  await admin.getByLabel('Search').fill(provider.email);
  const accounts = admin.getByRole('table', { name: 'Accounts' });
  await expect(accounts.getByRole('row').filter({ hasText: provider.email })).toContainText('Active');
  await admin.getByRole('button', { name: `Actions for ${fullName(provider)}` }).click();
  await admin.getByRole('menuitem', { name: 'Disable account' }).click();
  const confirm = admin.getByRole('dialog', { name: `Disable ${fullName(provider)}?` });
  await confirm.getByRole('button', { name: 'Disable account' }).click();
  await expect(confirm).toBeHidden();
  await expect(accounts.getByRole('row').filter({ hasText: provider.email })).toContainText('Disabled');

  // The server ends the clinician's streams within seconds; the page follows to sign-in.
  await expect(page).toHaveURL(/\/login/, { timeout: 30_000 });
  await expect(page.getByRole('status').filter({ hasText: 'Signed out' })).toContainText('Your session ended');
  await expect(queueTable(page)).toHaveCount(0);

  // Disabled: the right password is refused with the reason.
  await page.getByLabel('Email').fill(provider.email);
  await page.getByRole('textbox', { name: 'Password', exact: true }).fill(provider.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toContainText('disabled');

  await admin.getByRole('button', { name: `Actions for ${fullName(provider)}` }).click();
  await admin.getByRole('menuitem', { name: 'Re-enable account' }).click();
  await admin
    .getByRole('dialog', { name: `Re-enable ${fullName(provider)}?` })
    .getByRole('button', { name: 'Re-enable account' })
    .click();
  await expect(accounts.getByRole('row').filter({ hasText: provider.email })).toContainText('Active');
  await signIn(page, provider);
  await expect(queueTable(page)).toBeVisible();
});

test('signing out everywhere ends the other sessions of the account too', async ({ pageAs, page, provider }) => {
  await signIn(page, provider);
  await expect(pageLive(page)).toHaveText('Live');
  const other = await pageAs(provider);

  await other.getByRole('link', { name: /Your account/ }).click();
  await other.getByRole('button', { name: 'Sign out everywhere' }).click();
  await expect(other).toHaveURL(/\/login/);
  await expect(other.getByRole('status').filter({ hasText: 'Signed out' })).toContainText('signed out on every device');

  await expect(page).toHaveURL(/\/login/, { timeout: 30_000 });
  await expect(queueTable(page)).toHaveCount(0);
});
