import type { Page } from '@playwright/test';
import { expect, fullName, pageLive, queueTable, registerPatient, test, uniquePerson, type Account, type PersonDetails } from '../fixtures';

/** The dashboard narrowed to one person, so other specs' patients never push the row out of view. */
async function openDashboardFor(page: Page, person: PersonDetails): Promise<void> {
  await page.goto(`/dashboard?q=${encodeURIComponent(person.lastName)}`);
  await expect(pageLive(page)).toHaveText('Live');
}

function rowOf(page: Page, person: PersonDetails) {
  return queueTable(page).getByRole('row').filter({ hasText: person.lastName });
}

async function act(page: Page, person: PersonDetails, action: string): Promise<void> {
  await page.getByRole('button', { name: `Actions for ${fullName(person)}` }).click();
  await page.getByRole('menuitem', { name: action }).click();
}

test('a day in the clinic: triage, clinician and room, care plan, done and a returning walk-in, live everywhere', async ({
  pageAs,
  adminApi,
  provider,
  createAccount,
}) => {
  // Three people, three live pages: on a loaded 2-core machine this runs past the suite's 60 s.
  test.setTimeout(120_000);
  const colleague: Account = await createAccount('Provider');
  const room = await adminApi.admin.createRoom.mutate({ name: `Room ${uniquePerson().lastName.slice(-4)}` });

  const person = uniquePerson('Rosa');
  const [patient, nurse, doctor] = await Promise.all([pageAs('anonymous'), pageAs(provider), pageAs(colleague)]);

  await openDashboardFor(nurse, person);
  await openDashboardFor(doctor, person);

  // The patient registers; both dashboards show the row, the patient their place.
  await registerPatient(patient, person);
  const visit = patient.getByRole('status', { name: 'Your visit status' });
  await expect(visit).toContainText(/You're next|You are number \d+ in line/);
  for (const page of [nurse, doctor]) await expect(rowOf(page, person)).toContainText('Waiting');

  // Triage, seen live by the doctor and the patient.
  await act(nurse, person, 'Start triage');
  await expect(rowOf(doctor, person)).toContainText('In triage');
  await expect(visit).toContainText('A nurse is assessing you');
  await act(nurse, person, 'Set acuity…');
  const triage = nurse.getByRole('dialog', { name: `Triage ${fullName(person)}` });
  await triage.getByLabel('Acuity (ESI)').selectOption({ label: 'ESI 2 – Emergent' });
  await triage.getByLabel('Triage note').fill('Shortness of breath on exertion');
  await triage.getByRole('button', { name: 'Save triage' }).click();
  await expect(triage).toBeHidden();
  await expect(rowOf(doctor, person)).toContainText('ESI 2');
  // An ESI 1–2 patient notifies every signed-in Provider.
  await expect(doctor.getByText(`ESI 2 patient: ${fullName(person)}`).first()).toBeVisible();
  await expect(doctor.getByRole('button', { name: /^Notifications, [1-9]\d* unread$/ })).toBeVisible();

  // The doctor takes the patient into a room; the nurse and the patient see it.
  await act(doctor, person, 'Send to clinician…');
  const send = doctor.getByRole('dialog', { name: `Send ${fullName(person)} to a clinician` });
  await send.getByLabel('Clinician').selectOption({ label: fullName(colleague) });
  await send.getByLabel('Room').selectOption({ label: room.name });
  await send.getByRole('button', { name: 'Send' }).click();
  await expect(send).toBeHidden();
  await expect(rowOf(nurse, person)).toContainText('With clinician');
  await expect(rowOf(nurse, person)).toContainText(room.name);
  await expect(visit).toContainText(`With ${fullName(colleague)} in ${room.name}`);

  // The doctor drafts a care plan on the detail page; the nurse, on the same page, approves it.
  await queueTable(doctor)
    .getByRole('link', { name: fullName(person), exact: true })
    .click();
  await expect(doctor.getByRole('heading', { level: 1, name: fullName(person) })).toBeVisible();
  await queueTable(nurse)
    .getByRole('link', { name: fullName(person), exact: true })
    .click();
  await expect(nurse.getByRole('heading', { level: 1, name: fullName(person) })).toBeVisible();
  await expect(pageLive(nurse)).toHaveText('Live');
  // The nurse checks Rosa's ID at the desk: her own page may now show her care plans.
  await nurse.getByRole('button', { name: 'Confirm identity' }).click();
  await expect(nurse.getByText(`Verified by ${fullName(provider)}`)).toBeVisible();
  const title = `Breathlessness plan ${person.lastName}`;
  await doctor.getByRole('button', { name: 'Draft care plan' }).click();
  const draft = doctor.getByRole('dialog', { name: 'Draft care plan' });
  await draft.getByLabel('Title').fill(title);
  await draft.getByLabel('Goals').fill('Walk 500 m without stopping.');
  await draft.getByLabel('Instructions').fill('Inhaler twice daily; review in two weeks.');
  await draft.getByRole('button', { name: 'Save draft' }).click();
  await expect(draft).toBeHidden();
  const planOnNurse = nurse.getByRole('article', { name: title });
  await expect(planOnNurse).toContainText('Awaiting approval');
  await planOnNurse.getByRole('button', { name: /Review/ }).click();
  const review = nurse.getByRole('dialog', { name: 'Review care plan' });
  await review.getByRole('button', { name: 'Approve' }).click();
  await expect(review).toBeHidden();
  await expect(doctor.getByRole('article', { name: title })).toContainText('Active');
  await expect(patient.getByRole('region', { name: 'Your care plans' }).getByRole('heading', { name: title })).toBeVisible();
  // The journey so far, on the detail page.
  await expect(nurse.getByRole('region', { name: 'Queue journey' })).toContainText('With clinician');
  await expect(nurse.getByRole('region', { name: 'Triage history' })).toContainText('Shortness of breath on exertion');

  // Done: the row leaves both dashboards, the patient is told.
  await openDashboardFor(doctor, person);
  await openDashboardFor(nurse, person);
  await act(doctor, person, 'Mark done');
  await expect(rowOf(nurse, person)).toHaveCount(0);
  await expect(visit).toHaveText('Your visit is complete');

  // They come back as a walk-in: the duplicate warning offers the existing record, which is queued.
  await nurse.getByRole('button', { name: 'Register walk-in' }).click();
  const walkIn = nurse.getByRole('dialog', { name: 'Register walk-in' });
  await walkIn.getByLabel('First name').fill(person.firstName.toLowerCase());
  await walkIn.getByLabel('Last name').fill(person.lastName.toUpperCase());
  await walkIn.getByLabel('Date of birth').fill(person.dateOfBirth);
  await walkIn.getByRole('button', { name: 'Check and register' }).click();
  await expect(walkIn.getByText('Possible existing patients')).toBeVisible();
  await walkIn.getByRole('button', { name: `Queue ${fullName(person)}` }).click();
  await expect(walkIn).toBeHidden();
  await expect(rowOf(doctor, person)).toContainText('Waiting');
  await expect(rowOf(doctor, person)).toHaveCount(1);
});
