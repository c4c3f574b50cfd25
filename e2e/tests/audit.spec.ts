import { readFile } from 'node:fs/promises';
import { expect, fullName, queueTable, test } from '../fixtures';

test("the audit trail shows a clinician's read of a patient, by patient and by user, and exports CSV", async ({
  pageAs,
  provider,
  createAccount,
}) => {
  const patient = await createAccount('Patient');
  const clinician = await pageAs(provider);
  await clinician.goto(`/dashboard?q=${encodeURIComponent(patient.lastName)}`);
  await queueTable(clinician)
    .getByRole('link', { name: fullName(patient) })
    .click();
  await expect(clinician.getByRole('heading', { level: 1, name: fullName(patient) })).toBeVisible();
  const patientId = /\/patients\/([0-9a-f-]{36})$/.exec(clinician.url())?.[1];
  if (!patientId) throw new Error(`no patient id in ${clinician.url()}`);
  await clinician.context().close();

  const page = await pageAs('admin');
  await page.getByRole('link', { name: 'Administration' }).click();
  await page.getByRole('link', { name: 'Audit trail' }).click();
  await expect(page).toHaveURL(/\/admin\/audit$/);

  // By patient: the clinician's read of the record, newest first, linking to the patient.
  await page.getByLabel('Patient id').fill(patientId);
  await page.getByRole('button', { name: 'Search' }).click();
  const trail = page.getByRole('table', { name: 'Audit trail, newest first' });
  const read = trail
    .getByRole('row')
    .filter({ hasText: 'patients.byId' })
    .filter({ hasText: fullName(provider) });
  await expect(read.first()).toBeVisible();
  await expect(read.first()).toContainText('Provider');
  await expect(read.first()).toContainText('Allowed');
  await expect(read.first().getByRole('link', { name: `Patient ${patientId}` })).toHaveAttribute('href', `/patients/${patientId}`);

  // By user: the same read, among what that clinician did.
  await page.getByLabel('Patient id').fill('');
  await page.getByRole('combobox', { name: 'User' }).fill(provider.lastName);
  await page.getByRole('option', { name: new RegExp(provider.lastName) }).click();
  await page.getByRole('button', { name: 'Search' }).click();
  await expect(trail.getByRole('row').filter({ hasText: 'patients.byId' }).first()).toBeVisible();
  await expect(
    trail
      .getByRole('row')
      .filter({ hasNotText: fullName(provider) })
      .filter({ has: page.getByRole('cell') }),
  ).toHaveCount(0);

  // Export of the same filter: a dated file with the header and the read.
  await page.getByRole('combobox', { name: 'User' }).clear();
  await page.getByLabel('Patient id').fill(patientId);
  await page.getByRole('button', { name: 'Search' }).click();
  const downloading = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Export CSV' }).click();
  const download = await downloading;
  expect(download.suggestedFilename()).toMatch(/^phos-audit-\d{4}-\d{2}-\d{2}\.csv$/);
  const csv = await readFile(await download.path(), 'utf8');
  const [header, ...lines] = csv.trim().split(/\r?\n/);
  expect(header).toBe('id,at,userId,userName,role,action,patientIds,outcome,ip,requestId,detail');
  expect(lines.some((line) => line.includes(patientId) && line.includes('patients.byId'))).toBe(true);
});
