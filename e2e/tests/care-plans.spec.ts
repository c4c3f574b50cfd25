import type { Page } from '@playwright/test';
import { apiOver, expect, fullName, pageLive, registerPatient, test, uniquePerson, type Api, type PersonDetails } from '../fixtures';

/** The person's queue entry, as staff see it now (its version is what a move must name). */
async function queueEntryOf(api: Api, person: PersonDetails) {
  const { entries } = await api.queue.list.query();
  const entry = entries.find((candidate) => candidate.lastName === person.lastName);
  if (!entry) throw new Error(`${person.lastName} is not in the queue`);
  return entry;
}

function carePlanCard(page: Page, title: string) {
  return page.getByRole('article', { name: title });
}

test('a care plan drafted by one clinician is approved by another, live on both pages and for the patient', async ({
  pageAs,
  provider,
  createAccount,
}) => {
  // Three people, three live pages: on a loaded 2-core machine this runs past the suite's 60 s.
  test.setTimeout(120_000);
  const second = await createAccount('Provider');
  const person = uniquePerson('Cara');
  const title = `Asthma action plan ${person.lastName}`;
  const [patient, clinicianA, clinicianB] = await Promise.all([pageAs('anonymous'), pageAs(provider), pageAs(second)]);

  await registerPatient(patient, person);
  await expect(patient).toHaveURL(/\/me$/);
  await expect(patient.getByText('Your record is ready', { exact: true })).toBeVisible();
  // Self-registered: no clinical content until the desk has checked her ID.
  await expect(patient.getByText('after the front desk has checked your ID', { exact: false })).toBeVisible();

  const { patientId } = await queueEntryOf(apiOver(clinicianA.request), person);
  await clinicianA.goto(`/patients/${patientId}`);
  await clinicianB.goto(`/patients/${patientId}`);
  for (const page of [clinicianA, clinicianB]) {
    await expect(page.getByRole('heading', { level: 1, name: `${person.firstName} ${person.lastName}` })).toBeVisible();
    await expect(pageLive(page)).toHaveText('Live');
    await expect(page.getByText('No care plans yet.')).toBeVisible();
  }

  // The desk confirms her identity; her page opens up to clinical content, pushed.
  await expect(clinicianA.getByText('Not verified — self-registered')).toBeVisible();
  await clinicianA.getByRole('button', { name: 'Confirm identity' }).click();
  await expect(clinicianA.getByText(`Verified by ${fullName(provider)}`)).toBeVisible();
  await expect(patient.getByText('You have no care plans yet', { exact: false })).toBeVisible();

  // A drafts.
  await clinicianA.getByRole('button', { name: 'Draft care plan' }).click();
  const draftDialog = clinicianA.getByRole('dialog', { name: 'Draft care plan' });
  await draftDialog.getByLabel('Title').fill(title);
  await draftDialog.getByLabel('Goals').fill('No night-time waking from asthma within 4 weeks.');
  await draftDialog.getByLabel('Instructions').fill('Inhaled steroid twice daily.\nReliever as needed.');
  await draftDialog.getByRole('button', { name: 'Save draft' }).click();
  await expect(draftDialog).toBeHidden();
  await expect(carePlanCard(clinicianA, title)).toContainText('Awaiting approval');

  // Four eyes: A may not approve their own draft.
  await carePlanCard(clinicianA, title)
    .getByRole('button', { name: /Review/ })
    .click();
  const ownReview = clinicianA.getByRole('dialog', { name: 'Review care plan' });
  await expect(ownReview).toContainText('Another clinician must approve your draft');
  await expect(ownReview.getByRole('button', { name: 'Approve' })).toHaveCount(0);
  await clinicianA.keyboard.press('Escape');
  await expect(ownReview).toBeHidden();

  // B sees the draft arrive without a reload, reviews and approves it.
  const cardOnB = carePlanCard(clinicianB, title);
  await expect(cardOnB).toContainText('Awaiting approval');
  await expect(cardOnB).toContainText('Version 1');
  await expect(cardOnB).toContainText(`Drafted by ${fullName(provider)}`);
  await cardOnB.getByRole('button', { name: /Review/ }).click();
  const review = clinicianB.getByRole('dialog', { name: 'Review care plan' });
  await expect(review).toContainText('No night-time waking from asthma within 4 weeks.');
  await expect(review).toContainText('Reliever as needed.');
  await review.getByRole('button', { name: 'Approve' }).click();
  await expect(review).toBeHidden();
  await expect(cardOnB).toContainText('Active');

  // A's page follows, signed by B.
  const cardOnA = carePlanCard(clinicianA, title);
  await expect(cardOnA).toContainText('Active');
  await expect(cardOnA).toContainText(`Signed by ${fullName(second)}`);
  await expect(cardOnA.getByRole('button', { name: /Revise/ })).toBeVisible();

  // The patient's page shows the active plan, pushed.
  const myPlans = patient.getByRole('region', { name: 'Your care plans' });
  await expect(myPlans.getByRole('heading', { name: title })).toBeVisible();
  await expect(myPlans).toContainText('No night-time waking from asthma within 4 weeks.');
  await expect(myPlans).toContainText(`Approved by ${fullName(second)}`);

  // A revises; B rejects the new version with a reason, which A sees; the patient keeps version 1.
  await cardOnA.getByRole('button', { name: /Revise/ }).click();
  const revise = clinicianA.getByRole('dialog', { name: 'Revise care plan' });
  await expect(revise.getByLabel('Title')).toHaveValue(title);
  await revise.getByLabel('Goals').fill('No night-time waking from asthma within 2 weeks.');
  await revise.getByRole('button', { name: 'Save draft' }).click();
  await expect(revise).toBeHidden();
  const draftV2OnB = clinicianB.getByRole('article').filter({ hasText: 'Version 2' });
  await expect(draftV2OnB).toContainText('Awaiting approval');
  await draftV2OnB.getByRole('button', { name: /Review/ }).click();
  const review2 = clinicianB.getByRole('dialog', { name: 'Review care plan' });
  await review2.getByRole('button', { name: 'Reject' }).click();
  await review2.getByRole('button', { name: 'Confirm rejection' }).click();
  await expect(review2.getByLabel('Reason for rejection')).toHaveAttribute('aria-invalid', 'true');
  await review2.getByLabel('Reason for rejection').fill('Two weeks is too soon to judge.');
  await review2.getByRole('button', { name: 'Confirm rejection' }).click();
  await expect(review2).toBeHidden();
  const draftV2OnA = clinicianA.getByRole('article').filter({ hasText: 'Version 2' });
  await expect(draftV2OnA).toContainText('Rejected');
  await expect(draftV2OnA).toContainText('Two weeks is too soon to judge.');
  await expect(myPlans).toContainText('within 4 weeks');
});

test("the patient's page follows the visit through triage, the clinician and the end", async ({ page, adminApi, apiAs, provider }) => {
  const room = await adminApi.admin.createRoom.mutate({ name: `Room ${uniquePerson().lastName.slice(-4)}` });
  const staff = await apiAs(provider);

  const person = uniquePerson('Milo');
  await registerPatient(page, person);
  await expect(page).toHaveURL(/\/me$/);
  await expect(page.getByText('Your registration was received', { exact: true })).toBeVisible();
  await expect(page.getByText('Your record is ready', { exact: true })).toBeVisible();
  const status = page.getByRole('status', { name: 'Your visit status' });
  // Other specs' patients may still be waiting ahead.
  await expect(status).toContainText(/You're next|You are number \d+ in line/);
  const steps = page.getByRole('list', { name: 'Your visit, step by step' });
  await expect(steps.getByRole('listitem').filter({ hasText: 'Waiting' })).toHaveAttribute('aria-current', 'step');

  let entry = await queueEntryOf(staff, person);
  await staff.queue.transition.mutate({ entryId: entry.id, expectedVersion: entry.version, to: 'in_triage' });
  await expect(status).toContainText('A nurse is assessing you');

  entry = await queueEntryOf(staff, person);
  await staff.queue.transition.mutate({
    entryId: entry.id,
    expectedVersion: entry.version,
    to: 'with_clinician',
    roomId: room.id,
  });
  await expect(status).toContainText(`With ${fullName(provider)} in ${room.name}`);
  await expect(steps.getByRole('listitem').filter({ hasText: 'With clinician' })).toHaveAttribute('aria-current', 'step');

  entry = await queueEntryOf(staff, person);
  await staff.queue.transition.mutate({ entryId: entry.id, expectedVersion: entry.version, to: 'done' });
  await expect(status).toHaveText('Your visit is complete');
  // What the patient was told at the start is still there.
  await expect(page.getByText('Your registration was received', { exact: true })).toBeVisible();
});
