import { expect, fullName, queueTable, signIn, test, uniquePerson } from '../fixtures';

test('the registration form shows the strength as the person types, and the server refuses a common password under the field', async ({
  page,
}) => {
  const person = uniquePerson('Strong');
  await page.goto('/register');
  await expect(page.getByText('At least 12 characters, not a common password')).toBeVisible();
  await page.getByLabel('First name').fill(person.firstName);
  await page.getByLabel('Last name').fill(person.lastName);
  await page.getByLabel('Date of birth').fill(person.dateOfBirth);
  await page.getByLabel('Email').fill(person.email);

  const password = page.getByRole('textbox', { name: 'Password', exact: true });
  const strength = page.getByTestId('password-strength');
  await password.fill('sunshine');
  await expect(strength).toHaveText('Too weak');
  await expect(page.getByText('Use at least 12 characters (4 more).')).toBeVisible();
  await password.fill('violet-anchor-harbour-93');
  await expect(strength).toHaveText(/^(Strong|Very strong)$/);

  // Long enough, but a common password: the server says why, under the field.
  await password.fill('qwertyuiop123');
  await expect(strength).toHaveText(/^(Too weak|Weak)$/);
  await page.getByRole('button', { name: 'Register' }).click();
  await expect(password).toHaveAttribute('aria-invalid', 'true');
  await expect(password).toHaveAccessibleDescription(/This is similar to a commonly used password/);
  await expect(page).toHaveURL(/\/register$/);

  await password.fill('violet-anchor-harbour-93');
  await page.getByRole('button', { name: 'Register' }).click();
  await expect(page).toHaveURL(/\/me$/);
});

test('a user changes their password on the account page; the old one stops working', async ({ pageAs, provider }) => {
  const page = await pageAs(provider);
  await page.getByRole('link', { name: /Your account/ }).click();
  await expect(page).toHaveURL(/\/account$/);
  const newPassword = `${provider.password}-river-lamp`;

  await page.getByLabel('Current password').fill('not-my-password-at-all');
  await page.getByRole('textbox', { name: 'New password', exact: true }).fill(newPassword);
  await expect(page.getByTestId('password-strength')).toHaveText(/^(Strong|Very strong)$/);
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByText('Your current password is incorrect')).toBeVisible();
  await expect(page.getByLabel('Current password')).toHaveAttribute('aria-invalid', 'true');

  await page.getByLabel('Current password').fill(provider.password);
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Password changed' })).toContainText('other sessions');

  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await expect(page).toHaveURL(/\/login/);
  await page.getByLabel('Email').fill(provider.email);
  await page.getByRole('textbox', { name: 'Password', exact: true }).fill(provider.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByText('Email or password is incorrect')).toBeVisible();
  // The form, not the API: which password it takes is what this test is about.
  await signIn(page, { email: provider.email, password: newPassword });
  await expect(queueTable(page)).toBeVisible();
});

test('an Admin makes a Provider an Admin and resets their password, with the strength meter', async ({ pageAs, provider }) => {
  const page = await pageAs('admin');
  await page.getByRole('link', { name: 'Administration' }).click();
  await page.getByRole('link', { name: 'Accounts', exact: true }).click();
  await expect(page).toHaveURL(/\/admin\/accounts$/);
  await page.getByLabel('Role').selectOption('Provider');
  await page.getByLabel('Search').fill(provider.email);
  const row = page.getByRole('table', { name: 'Accounts' }).getByRole('row').filter({ hasText: provider.email });
  await expect(row).toContainText('Provider');

  await page.getByRole('button', { name: `Actions for ${fullName(provider)}` }).click();
  await page.getByRole('menuitem', { name: 'Make Admin' }).click();
  await page
    .getByRole('dialog', { name: `Make ${fullName(provider)} an Admin?` })
    .getByRole('button', { name: 'Change role' })
    .click();
  // Filtered on Provider, the promoted account leaves the list.
  await expect(row).toHaveCount(0);
  await page.getByLabel('Role').selectOption('Admin');
  await expect(row).toContainText('Admin');

  await page.getByRole('button', { name: `Actions for ${fullName(provider)}` }).click();
  await page.getByRole('menuitem', { name: 'Reset password…' }).click();
  const reset = page.getByRole('dialog', { name: `Reset the password of ${fullName(provider)}` });
  const password = reset.getByRole('textbox', { name: 'New password', exact: true });
  await password.fill('password1234');
  await expect(reset.getByTestId('password-strength')).toHaveText(/^(Too weak|Weak)$/);
  await reset.getByRole('button', { name: 'Reset password' }).click();
  await expect(password).toHaveAttribute('aria-invalid', 'true');
  await expect(password).toHaveAccessibleDescription(/Too easy to guess/);
  const newPassword = 'lantern-orchard-velvet-58';
  await password.fill(newPassword);
  await reset.getByRole('button', { name: 'Reset password' }).click();
  await expect(reset.getByRole('status')).toContainText('Password reset');
  await reset.getByRole('button', { name: 'Done' }).click();

  const them = await pageAs({ email: provider.email, password: newPassword });
  await expect(them.getByText('Admin', { exact: true })).toBeVisible();
  await expect(them.getByRole('link', { name: 'Administration' })).toBeVisible();
});
