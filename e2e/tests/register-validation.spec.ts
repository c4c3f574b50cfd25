import { expect, queueTable, registerPatient, test, uniquePerson } from '../fixtures';

test('a too-short password is refused under its field and creates no account', async ({ page, pageAs, provider }) => {
  const person = { ...uniquePerson('Short'), password: 'too-short' };
  await registerPatient(page, person);

  const password = page.getByRole('textbox', { name: 'Password', exact: true });
  await expect(page.getByText('Password must be at least 12 characters')).toBeVisible();
  await expect(password).toHaveAttribute('aria-invalid', 'true');
  await expect(page).toHaveURL(/\/register$/);

  // Nothing was created: the email cannot sign in, and no queue row has the name.
  await page.goto('/login');
  await page.getByLabel('Email').fill(person.email);
  await page.getByRole('textbox', { name: 'Password', exact: true }).fill('too-short');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByText('Email or password is incorrect')).toBeVisible();

  const clinician = await pageAs(provider);
  await expect(queueTable(clinician)).toBeVisible();
  await expect(queueTable(clinician).getByText(person.lastName)).toHaveCount(0);
});

test('a second registration with the same email shows the conflict', async ({ pageAs }) => {
  const person = uniquePerson('Twice');
  const firstPage = await pageAs('anonymous');
  await registerPatient(firstPage, person);
  await expect(firstPage.getByText('Your registration was received', { exact: true })).toBeVisible();

  const page = await pageAs('anonymous');
  await registerPatient(page, { ...person, firstName: 'Other' });
  await expect(page.getByText('An account with this email already exists')).toBeVisible();
  await expect(page.getByLabel('Email')).toHaveAttribute('aria-invalid', 'true');
  await expect(page).toHaveURL(/\/register$/);
});
