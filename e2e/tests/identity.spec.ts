import { apiOver, expect, fullName, pageLive, queueTable, registerPatient, test, uniquePerson, type Api } from '../fixtures';

async function entryOf(api: Api, lastName: string) {
  const { entries } = await api.queue.list.query();
  const entry = entries.find((candidate) => candidate.lastName === lastName);
  if (!entry) throw new Error(`${lastName} is not in the queue`);
  return entry;
}

test("a walk-in on a self-registered record waits for the desk to check the person's ID", async ({ pageAs, provider }) => {
  // Someone registers online in this name: the record is unverified.
  const person = uniquePerson('Wanda');
  const patient = await pageAs('anonymous');
  await registerPatient(patient, person);
  await patient.context().close();

  const page = await pageAs(provider);
  // The page's own session, as the dashboard uses it.
  const staff = apiOver(page.request);
  await page.goto(`/dashboard?q=${encodeURIComponent(person.lastName)}`);
  await expect(pageLive(page)).toHaveText('Live');
  const row = queueTable(page).getByRole('row').filter({ hasText: person.lastName });
  await expect(row).toContainText('Waiting');
  // They leave; later the real person walks in.
  const entry = await entryOf(staff, person.lastName);
  await staff.queue.transition.mutate({ entryId: entry.id, expectedVersion: entry.version, to: 'left' });
  await expect(row).toHaveCount(0);

  await page.getByRole('button', { name: 'Register walk-in' }).click();
  const walkIn = page.getByRole('dialog', { name: 'Register walk-in' });
  await walkIn.getByLabel('First name').fill(person.firstName);
  await walkIn.getByLabel('Last name').fill(person.lastName);
  await walkIn.getByLabel('Date of birth').fill(person.dateOfBirth);
  await walkIn.getByRole('button', { name: 'Check and register' }).click();
  const match = walkIn.getByRole('listitem').filter({ hasText: fullName(person) });
  await expect(match).toContainText('Identity not verified');
  const queueExisting = match.getByRole('button', { name: `Queue ${fullName(person)}` });
  await expect(queueExisting).toBeDisabled();

  await match.getByRole('button', { name: "I have checked this person's ID" }).click();
  await expect(match).not.toContainText('Identity not verified');
  await expect(queueExisting).toBeEnabled();
  await queueExisting.click();
  await expect(walkIn).toBeHidden();
  await expect(row).toContainText('Waiting');

  // The record now says who checked.
  await queueTable(page)
    .getByRole('link', { name: fullName(person) })
    .click();
  await expect(page.getByText(`Verified by ${fullName(provider)}`)).toBeVisible();
});
