import { randomUUID } from 'node:crypto';
import { expect, test } from '../fixtures';

test('an Admin creates an API client, sees its token once, and revokes it', async ({ pageAs }) => {
  const page = await pageAs('admin');
  const name = `Lab feed ${randomUUID().slice(0, 8)}`;

  await page.getByRole('link', { name: 'Administration' }).click();
  await page.getByRole('link', { name: 'API clients' }).click();
  await expect(page.getByRole('heading', { name: 'API clients' })).toBeVisible();

  await page.getByRole('button', { name: 'New API client' }).click();
  const dialog = page.getByRole('dialog', { name: 'New API client' });
  await expect(dialog.getByLabel('Name')).toBeFocused();

  // Nothing chosen: the form says so and sends nothing.
  await dialog.getByLabel('Name').fill(name);
  await dialog.getByRole('button', { name: 'Create client' }).click();
  await expect(dialog.getByText('Choose at least one scope')).toBeVisible();

  await dialog.getByRole('checkbox', { name: 'Patient', exact: true }).check();
  await dialog.getByRole('checkbox', { name: 'Encounter', exact: true }).check();
  await dialog.getByRole('checkbox', { name: /Create patients/ }).check();
  await dialog.getByRole('button', { name: 'Create client' }).click();

  await expect(dialog.getByRole('status')).toContainText('you will not see it again');
  const tokenField = dialog.getByRole('textbox', { name: 'Token' });
  await expect(tokenField).toBeFocused();
  const token = await tokenField.inputValue();
  expect(token).toMatch(/^phos_[A-Za-z0-9_-]{43}$/);
  await dialog.getByRole('button', { name: 'Done' }).click();
  await expect(dialog).toBeHidden();

  const table = page.getByRole('table', { name: 'API clients' });
  const row = table.getByRole('row').filter({ hasText: name });
  await expect(row).toContainText('system/Patient.rs');
  await expect(row).toContainText('system/Encounter.rs');
  await expect(row).toContainText('system/Patient.c');
  await expect(row).toContainText(token.slice(0, 11));
  await expect(row).toContainText('Active');
  // Once the dialog is closed, the token is nowhere on the page.
  await expect(page.locator('body')).not.toContainText(token);

  await row.getByRole('button', { name: `Revoke ${name}` }).click();
  const confirm = page.getByRole('dialog', { name: `Revoke ${name}?` });
  await expect(confirm.getByRole('button', { name: 'Cancel' })).toBeFocused();
  await confirm.getByRole('button', { name: 'Revoke client' }).click();
  await expect(confirm).toBeHidden();
  await expect(row).toContainText('Revoked');
  await expect(row.getByRole('button', { name: `Revoke ${name}` })).toHaveCount(0);
});
