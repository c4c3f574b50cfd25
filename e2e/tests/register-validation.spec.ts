import { expect, queueTable, registerPatient, signIn, test, uniquePerson } from '../fixtures';

test('a too-short password is refused under its field and creates no account', async ({ page, browser, provider }) => {
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

  const clinicianContext = await browser.newContext();
  const clinician = await clinicianContext.newPage();
  await signIn(clinician, provider);
  await expect(queueTable(clinician)).toBeVisible();
  await expect(queueTable(clinician).getByText(person.lastName)).toHaveCount(0);
  await clinicianContext.close();
});

test('a second registration with the same email shows the conflict', async ({ browser }) => {
  const person = uniquePerson('Twice');
  const first = await browser.newContext();
  const firstPage = await first.newPage();
  await registerPatient(firstPage, person);
  await expect(firstPage.getByText('Your registration was received', { exact: true })).toBeVisible();
  await first.close();

  const second = await browser.newContext();
  const page = await second.newPage();
  await registerPatient(page, { ...person, firstName: 'Other' });
  await expect(page.getByRole('alert')).toContainText('An account with this email already exists');
  await expect(page).toHaveURL(/\/register$/);
  await second.close();
});
