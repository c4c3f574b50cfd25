import { expect, liveIndicator, queueTable, registerPatient, test, uniquePerson } from '../fixtures';

test('a new registration appears live on the clinician dashboard and opens to its record', async ({ pageAs, provider }) => {
  const clinician = await pageAs(provider);
  const patient = await pageAs('anonymous');
  const person = uniquePerson('Ada');
  const fullName = `${person.firstName} ${person.lastName}`;

  await expect(clinician).toHaveURL(/\/dashboard$/);
  await expect(liveIndicator(clinician)).toHaveText('Live');
  const table = queueTable(clinician);
  await expect(table).toBeVisible();
  await expect(table.getByRole('link', { name: fullName })).toHaveCount(0);

  await registerPatient(patient, person);
  await expect(patient).toHaveURL(/\/me$/);
  await expect(patient.getByText('Your registration was received', { exact: true })).toBeVisible();
  await expect(patient.getByText('Your record is ready', { exact: true })).toBeVisible();

  // Pushed over the subscription: the clinician's page is never reloaded before this.
  const row = table.getByRole('row').filter({ has: clinician.getByRole('link', { name: fullName }) });
  await expect(row).toBeVisible();
  await expect(row).toContainText('15 Jun 1984');
  await expect(row).toContainText('Waiting');

  await clinician.reload();
  await expect(liveIndicator(clinician)).toHaveText('Live');
  await expect(queueTable(clinician).getByRole('link', { name: fullName })).toHaveCount(1);

  await queueTable(clinician).getByRole('link', { name: fullName }).click();
  await expect(clinician).toHaveURL(/\/patients\/[0-9a-f-]{36}$/);
  await expect(clinician.getByRole('heading', { name: fullName })).toBeVisible();
  await expect(clinician.getByText('15 Jun 1984')).toBeVisible();
  await expect(clinician.getByText(person.email)).toBeVisible();
  await clinician.getByRole('link', { name: /Back to the queue/ }).click();
  await expect(queueTable(clinician)).toBeVisible();
});
